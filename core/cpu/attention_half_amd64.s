//go:build !purego

#include "textflag.h"

// Attention kernels for KV caches of 16-bit floats: the template
// attention_half_amd64.h instantiated for bf16 and for IEEE half. A bf16 is
// the top half of a float32, so widening is a zero-extension to 32 bits
// and a 16-bit left shift (VPMOVZXWD, VPSLLD); a half is converted exactly
// by VCVTPH2PS. Either way the cache is read at 2 bytes an element.

#define LOADH(m, z) VPMOVZXWD m, z; VPSLLD $16, z, z
#define QKT2 ·attnQKT2zBF16
#define QKT4 ·attnQKT4zBF16
#define QKT8 ·attnQKT8zBF16
#define QKT8X2 ·attnQKT8x2zBF16
#define PV2 ·attnPV2zBF16
#define PV4 ·attnPV4zBF16
#define PV8 ·attnPV8zBF16
#include "attention_half_amd64.h"
#undef LOADH
#undef QKT2
#undef QKT4
#undef QKT8
#undef QKT8X2
#undef PV2
#undef PV4
#undef PV8

#define LOADH(m, z) VCVTPH2PS m, z
#define QKT2 ·attnQKT2zF16
#define QKT4 ·attnQKT4zF16
#define QKT8 ·attnQKT8zF16
#define QKT8X2 ·attnQKT8x2zF16
#define PV2 ·attnPV2zF16
#define PV4 ·attnPV4zF16
#define PV8 ·attnPV8zF16
#include "attention_half_amd64.h"

// func widenBF16AVX(dst *float32, src *uint16, n int)
//
// dst[i] = float32(src[i]) for bf16 src, n a multiple of 8 (AVX2).
TEXT ·widenBF16AVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   wbdone

wbloop:
	VPMOVZXWD (SI), Y0
	VPSLLD $16, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  wbloop

wbdone:
	VZEROUPPER
	RET

// func widenF16AVX(dst *float32, src *uint16, n int)
//
// dst[i] = float32(src[i]) for IEEE half src, n a multiple of 8 (F16C,
// which every AVX2 processor has).
TEXT ·widenF16AVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   wfdone

wfloop:
	VCVTPH2PS (SI), Y0
	VMOVUPS Y0, (DI)
	ADDQ $16, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  wfloop

wfdone:
	VZEROUPPER
	RET

// func roundF16Z(dst *uint16, src *float32, n int)
//
// dst[i] = src[i] rounded to the nearest IEEE half, ties to even (VCVTPS2PH
// with rounding control 0: overflow to ±Inf, subnormals kept, as
// f16Nearest), n a multiple of 16 (AVX-512F).
TEXT ·roundF16Z(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	JZ   rfdone

rfloop:
	VMOVUPS (SI), Z0
	VCVTPS2PH $0, Z0, Y1
	VMOVDQU Y1, (DI)
	ADDQ $64, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  rfloop

rfdone:
	VZEROUPPER
	RET
