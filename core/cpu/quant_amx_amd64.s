//go:build !purego

#include "textflag.h"

// Quantized blocks to bf16 for the AMX path (quant_amx.go). Per block of
// 32: the int8 values (Q4_0: nibbles - 8) widened to int32 and converted
// to float32 (exact), multiplied by the fp16 scale widened to float32
// (exact: at most 19 significant bits), then rounded to bf16 to nearest,
// ties to even, by VCVTNE2PS2BF16. No value is a float32 denormal (the
// smallest nonzero is 2^-24), so its flushing of denormals never applies.

// CVTNE2PS2BF16_Z0_Z1_Z3 is VCVTNE2PS2BF16 zmm3, zmm1, zmm0 (Intel
// operand order), which the Go assembler does not know: Z3's 32 words are
// Z0's 16 float32s rounded to bf16, then Z1's. EVEX.512.F2.0F38.W0 72 /r.
#define CVTNE2PS2BF16_Z0_Z1_Z3 BYTE $0x62; BYTE $0xF2; BYTE $0x77; BYTE $0x48; BYTE $0x72; BYTE $0xD8

// func deqQ80BF16Z(dst *uint16, src *byte, nb int)
TEXT ·deqQ80BF16Z(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
	TESTQ CX, CX
	JZ   q80done

q80loop:
	VPBROADCASTW (SI), Y2
	VCVTPH2PS    Y2, Z2
	VPMOVSXBD    2(SI), Z0
	VPMOVSXBD    18(SI), Z1
	VCVTDQ2PS    Z0, Z0
	VCVTDQ2PS    Z1, Z1
	VMULPS       Z2, Z0, Z0
	VMULPS       Z2, Z1, Z1
	CVTNE2PS2BF16_Z0_Z1_Z3
	VMOVDQU16    Z3, (DI)
	ADDQ         $34, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          q80loop

q80done:
	VZEROUPPER
	RET

// func deqQ40BF16Z(dst *uint16, src *byte, nb int)
TEXT ·deqQ40BF16Z(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ nb+16(FP), CX
	TESTQ CX, CX
	JZ   q40done
	MOVL $15, AX
	VPBROADCASTD AX, Z15
	MOVL $8, AX
	VPBROADCASTD AX, Z14

q40loop:
	VPBROADCASTW (SI), Y2
	VCVTPH2PS    Y2, Z2
	VPMOVZXBD    2(SI), Z0
	VPSRLD       $4, Z0, Z1
	VPANDD       Z15, Z0, Z0
	VPSUBD       Z14, Z0, Z0
	VPSUBD       Z14, Z1, Z1
	VCVTDQ2PS    Z0, Z0
	VCVTDQ2PS    Z1, Z1
	VMULPS       Z2, Z0, Z0
	VMULPS       Z2, Z1, Z1
	CVTNE2PS2BF16_Z0_Z1_Z3
	VMOVDQU16    Z3, (DI)
	ADDQ         $18, SI
	ADDQ         $64, DI
	DECQ         CX
	JNZ          q40loop

q40done:
	VZEROUPPER
	RET
