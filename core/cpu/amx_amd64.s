//go:build !purego

#include "textflag.h"

// Rounding float32 to the nearest bf16, ties to even, shared by the
// packing kernels: BF16_ROUND_CONSTS loads 0x7FFF into Z28 and 1 into Z29
// (clobbering R9); BF16_ROUND(a, b, ra, rb) leaves in ra and rb the
// float32 lanes of a and b with 0x7FFF plus their lowest kept bit added, so
// that the top halves are the rounded bf16s (NaN lanes are copied as they
// are, so that rounding cannot carry them into another value; clobbers K1,
// K2).
#define BF16_ROUND_CONSTS \
	MOVL $0x7FFF, R9; VPBROADCASTD R9, Z28; MOVL $1, R9; VPBROADCASTD R9, Z29

#define BF16_ROUND(a, b, ra, rb) \
	VPSRLD $16, a, ra; VPSRLD $16, b, rb; \
	VPANDD Z29, ra, ra; VPANDD Z29, rb, rb; \
	VPADDD Z28, ra, ra; VPADDD Z28, rb, rb; \
	VPADDD a, ra, ra; VPADDD b, rb, rb; \
	VCMPPS $3, a, a, K1; VCMPPS $3, b, b, K2; \
	VMOVDQU32 a, K1, ra; VMOVDQU32 b, K2, rb

// AMX bf16 tile kernel. The Go assembler has no AMX mnemonics, so the
// instructions are spelled as bytes (VEX encodings from the Intel SDM; in
// TDPBF16PS the A tile is ModRM.rm and the B tile VEX.vvvv):
//
//   LDTILECFG  [DI]                C4 E2 78 49 07
//   TILEZERO   tmm0..tmm3          C4 E2 7B 49 C0/C8/D0/D8
//   TILELOADD  tmm4, [SI+AX*1]     C4 E2 7B 4B 24 06
//   TILELOADD  tmm5, [BX+AX*1]     C4 E2 7B 4B 2C 03
//   TILELOADD  tmm6, [DX+DI*1]     C4 E2 7B 4B 34 3A
//   TILELOADD  tmm7, [CX+DI*1]     C4 E2 7B 4B 3C 39
//   TDPBF16PS  tmm0, tmm4, tmm6    C4 E2 4A 5C C4
//   TDPBF16PS  tmm1, tmm4, tmm7    C4 E2 42 5C CC
//   TDPBF16PS  tmm2, tmm5, tmm6    C4 E2 4A 5C D5
//   TDPBF16PS  tmm3, tmm5, tmm7    C4 E2 42 5C DD
//   TILESTORED [SI+AX*1], tmm0..3  C4 E2 7A 4B 04/0C/14/1C 06
//   TILERELEASE                    C4 E2 78 49 C0
//
// Tiles 0-3 accumulate a 32x32 block of outᵀ (weight rows x activation
// rows) in float32; tiles 4-5 are 16 weight rows x 32 bf16 each, loaded
// straight from the checkpoint with the row stride; tiles 6-7 are 16
// activation rows in the pair-interleaved layout TDPBF16PS expects, one of
// the three bf16 parts (hi, mid, lo) whose sum is the float32 activation.

// func amxBlock(cfg *byte, w *uint16, ldw int, b0, b1 *uint16, kblocks int, c *float32, parts int)
TEXT ·amxBlock(SB), NOSPLIT, $0-64
	MOVQ cfg+0(FP), DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x07
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC0
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC8
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD0
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD8
	MOVQ w+8(FP), SI
	MOVQ ldw+16(FP), AX
	SHLQ $1, AX
	MOVQ AX, BX
	SHLQ $4, BX
	ADDQ SI, BX
	MOVQ b0+24(FP), DX
	MOVQ b1+32(FP), CX
	MOVQ $64, DI
	MOVQ kblocks+40(FP), R9
	TESTQ R9, R9
	JZ   amxstore

amxloop:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x06
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x2C; BYTE $0x03
	MOVQ parts+56(FP), R10

amxsplit:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x34; BYTE $0x3A
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x3C; BYTE $0x39
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xC4
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xCC
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xD5
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xDD
	ADDQ $1024, DX
	ADDQ $1024, CX
	DECQ R10
	JNZ  amxsplit
	ADDQ $64, SI
	ADDQ $64, BX
	DECQ R9
	JNZ  amxloop

amxstore:
	MOVQ c+48(FP), SI
	MOVQ $64, AX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x04; BYTE $0x06
	ADDQ $1024, SI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x0C; BYTE $0x06
	ADDQ $1024, SI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x14; BYTE $0x06
	ADDQ $1024, SI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x1C; BYTE $0x06
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0
	RET

// func amxBlock1(cfg *byte, w *uint16, ldw int, bp *uint16, kblocks int, c *float32, parts int)
//
// The one-activation-tile variant, for 16 or fewer rows (small decode
// batches): tiles 0-3 accumulate 64 weight rows x 16 activation rows, tile
// 4 holds 16 weight rows at a time and tiles 5-7 the three activation parts
// (parts 3), tiles 5-6 two (parts 2, amx1two), or tile 5 the single bf16
// copy (parts 1, amx1one).
//   TILELOADD tmm5/6/7, [DX+DI*1]  C4 E2 7B 4B 2C/34/3C 3A
//   TILELOADD tmm4, [CX+AX*1]      C4 E2 7B 4B 24 01
//   TDPBF16PS tmmC, tmm4, tmmB     C4 E2 (52|4A|42 for B=5|6|7) 5C (C4|CC|D4|DC for C=0..3)
TEXT ·amxBlock1(SB), NOSPLIT, $0-56
	MOVQ cfg+0(FP), DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x07
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC0
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC8
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD0
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD8
	MOVQ w+8(FP), SI
	MOVQ ldw+16(FP), AX
	SHLQ $1, AX
	MOVQ AX, R11
	SHLQ $4, R11
	MOVQ bp+24(FP), DX
	MOVQ $64, DI
	MOVQ kblocks+32(FP), R9
	TESTQ R9, R9
	JZ   amx1store
	CMPQ parts+48(FP), $1
	JEQ  amx1one
	CMPQ parts+48(FP), $2
	JEQ  amx1two

amx1loop:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x2C; BYTE $0x3A
	ADDQ $1024, DX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x34; BYTE $0x3A
	ADDQ $1024, DX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x3C; BYTE $0x3A
	ADDQ $1024, DX
	MOVQ SI, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xC4
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xC4
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xC4
	ADDQ R11, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xCC
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xCC
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xCC
	ADDQ R11, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xD4
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xD4
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xD4
	ADDQ R11, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xDC
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xDC
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xDC
	ADDQ $64, SI
	DECQ R9
	JNZ  amx1loop
	JMP  amx1store

amx1two:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x2C; BYTE $0x3A
	ADDQ $1024, DX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x34; BYTE $0x3A
	ADDQ $1024, DX
	MOVQ SI, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xC4
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xC4
	ADDQ R11, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xCC
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xCC
	ADDQ R11, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xD4
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xD4
	ADDQ R11, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xDC
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4A; BYTE $0x5C; BYTE $0xDC
	ADDQ $64, SI
	DECQ R9
	JNZ  amx1two
	JMP  amx1store

amx1one:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x2C; BYTE $0x3A
	ADDQ $1024, DX
	MOVQ SI, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xC4
	ADDQ R11, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xCC
	ADDQ R11, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xD4
	ADDQ R11, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x01
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xDC
	ADDQ $64, SI
	DECQ R9
	JNZ  amx1one
amx1store:
	MOVQ c+40(FP), SI
	MOVQ $64, AX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x04; BYTE $0x06
	ADDQ $1024, SI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x0C; BYTE $0x06
	ADDQ $1024, SI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x14; BYTE $0x06
	ADDQ $1024, SI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x1C; BYTE $0x06
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0
	RET

// func packAMXZ(x *float32, ldx, rows int, dst *uint16, tables *uint16)
//
// The first half of packAMX for one block of 32 k and rows (<= 16)
// activation rows, with AVX-512: each row is split into hi, mid and lo by
// masking and subtracting, and VPERMT2W gathers the top halves of element
// pairs into 16 dwords, stored as row m of part p's 16x16 dword matrix at
// dst[(p*16+m)*32]. Transposing each matrix (transposeTileZ) gives the
// tiles. tables holds the 32 word indices 1, 3, ..., 63.
TEXT ·packAMXZ(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ ldx+8(FP), AX
	SHLQ $2, AX
	MOVQ rows+16(FP), CX
	MOVQ dst+24(FP), DI
	MOVQ tables+32(FP), R8
	VMOVDQU16 (R8), Z30
	MOVL $0xFFFF0000, R9
	VPBROADCASTD R9, Z31
	TESTQ CX, CX
	JZ   packdone
	CMPQ parts+40(FP), $1
	JEQ  packone

packloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VPANDD Z31, Z0, Z2
	VPANDD Z31, Z1, Z3
	VSUBPS Z2, Z0, Z4
	VSUBPS Z3, Z1, Z5
	VPANDD Z31, Z4, Z6
	VPANDD Z31, Z5, Z7
	VSUBPS Z6, Z4, Z8
	VSUBPS Z7, Z5, Z9
	VPERMT2W Z3, Z30, Z2
	VPERMT2W Z7, Z30, Z6
	VPERMT2W Z9, Z30, Z8
	VMOVDQU32 Z2, (DI)
	VMOVDQU32 Z6, 1024(DI)
	VMOVDQU32 Z8, 2048(DI)
	ADDQ AX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  packloop

	JMP  packdone

// One part: each float32 rounded to the nearest bf16, ties to even (add
// 0x7FFF plus the lowest kept bit, then truncate), NaNs passed through by
// truncation so that rounding cannot carry them into another value.
packone:
	BF16_ROUND_CONSTS

packoneloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	BF16_ROUND(Z0, Z1, Z2, Z3)
	VPERMT2W Z3, Z30, Z2
	VMOVDQU32 Z2, (DI)
	ADDQ AX, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  packoneloop

packdone:
	VZEROUPPER
	RET

// Attention on the tile units, for prefill chunks with bf16 activations
// (PrecisionBF16): sixteen queries against packed bf16 keys and values.

// func amxScores(cfg *byte, q *uint16, k *uint16, nblk int, out *float32, ostride int)
//
// For each of nblk key blocks, the 16x16 float32 scores of 16 queries
// against its 16 keys, stored at out + 16·block with row stride ostride
// floats. q holds four A tiles (16 queries x 32 dims of bf16, dims 0-31,
// 32-63, ...); each block of k four B tiles (pairs of dims x 16 keys). The
// query tiles stay in tmm4-7; tmm1-3 take the key tiles in turn.
TEXT ·amxScores(SB), NOSPLIT, $0-48
	MOVQ cfg+0(FP), DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x07 // LDTILECFG [DI]
	MOVQ q+8(FP), SI
	MOVQ $64, CX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x0e // TILELOADD tmm4, [SI+CX]
	ADDQ $1024, SI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x2c; BYTE $0x0e // TILELOADD tmm5, [SI+CX]
	ADDQ $1024, SI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x34; BYTE $0x0e // TILELOADD tmm6, [SI+CX]
	ADDQ $1024, SI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x3c; BYTE $0x0e // TILELOADD tmm7, [SI+CX]
	MOVQ k+16(FP), SI
	MOVQ nblk+24(FP), R9
	MOVQ out+32(FP), DI
	MOVQ ostride+40(FP), AX
	SHLQ $2, AX
	TESTQ R9, R9
	JZ   scdone

scloop:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xc0 // TILEZERO tmm0
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x0c; BYTE $0x0e // TILELOADD tmm1, [SI+CX]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x72; BYTE $0x5C; BYTE $0xc4 // TDPBF16PS tmm0, tmm4, tmm1
	LEAQ 1024(SI), BX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x14; BYTE $0x0b // TILELOADD tmm2, [BX+CX]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x6a; BYTE $0x5C; BYTE $0xc5 // TDPBF16PS tmm0, tmm5, tmm2
	LEAQ 2048(SI), BX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x1c; BYTE $0x0b // TILELOADD tmm3, [BX+CX]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x62; BYTE $0x5C; BYTE $0xc6 // TDPBF16PS tmm0, tmm6, tmm3
	LEAQ 3072(SI), BX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x0c; BYTE $0x0b // TILELOADD tmm1, [BX+CX]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x72; BYTE $0x5C; BYTE $0xc7 // TDPBF16PS tmm0, tmm7, tmm1
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x04; BYTE $0x07 // TILESTORED [DI+AX], tmm0
	ADDQ $4096, SI
	ADDQ $64, DI
	DECQ R9
	JNZ  scloop

scdone:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0 // TILERELEASE
	RET

// func amxPV(cfg *byte, p *uint16, v *uint16, nchunk int, out *float32)
//
// out[r][d] = Σ_t p[r][t]·v[t][d] for 16 rows r and 128 dims d (row stride
// 128 floats), over nchunk chunks of 32 keys: p holds one A tile per chunk
// (16 rows x 32 keys), v eight B tiles per chunk (pairs of keys x 16 dims,
// dims 0-15, 16-31, ...). Two passes of 64 dims, four accumulators each.
TEXT ·amxPV(SB), NOSPLIT, $0-40
	MOVQ cfg+0(FP), DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x07 // LDTILECFG [DI]
	MOVQ $64, CX
	MOVQ $512, AX
	XORQ R10, R10

pvhalf:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xc0 // TILEZERO tmm0
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xc8 // TILEZERO tmm1
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xd0 // TILEZERO tmm2
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xd8 // TILEZERO tmm3
	MOVQ p+8(FP), SI
	MOVQ v+16(FP), BX
	MOVQ R10, DX
	SHLQ $12, DX
	ADDQ DX, BX
	MOVQ nchunk+24(FP), R9
	TESTQ R9, R9
	JZ   pvstoreh

pvloop:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x0e // TILELOADD tmm4, [SI+CX]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x2c; BYTE $0x0b // TILELOADD tmm5, [BX+CX]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xc4 // TDPBF16PS tmm0, tmm4, tmm5
	LEAQ 1024(BX), DX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x34; BYTE $0x0a // TILELOADD tmm6, [DX+CX]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x4a; BYTE $0x5C; BYTE $0xcc // TDPBF16PS tmm1, tmm4, tmm6
	LEAQ 2048(BX), DX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x3c; BYTE $0x0a // TILELOADD tmm7, [DX+CX]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x42; BYTE $0x5C; BYTE $0xd4 // TDPBF16PS tmm2, tmm4, tmm7
	LEAQ 3072(BX), DX
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x2c; BYTE $0x0a // TILELOADD tmm5, [DX+CX]
	BYTE $0xC4; BYTE $0xE2; BYTE $0x52; BYTE $0x5C; BYTE $0xdc // TDPBF16PS tmm3, tmm4, tmm5
	ADDQ $1024, SI
	ADDQ $8192, BX
	DECQ R9
	JNZ  pvloop

pvstoreh:
	MOVQ out+32(FP), DI
	MOVQ R10, DX
	SHLQ $8, DX
	ADDQ DX, DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x04; BYTE $0x07 // TILESTORED [DI+AX], tmm0
	ADDQ $64, DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x0c; BYTE $0x07 // TILESTORED [DI+AX], tmm1
	ADDQ $64, DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x14; BYTE $0x07 // TILESTORED [DI+AX], tmm2
	ADDQ $64, DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x1c; BYTE $0x07 // TILESTORED [DI+AX], tmm3
	INCQ R10
	CMPQ R10, $2
	JLT  pvhalf
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0 // TILERELEASE
	RET

// func bf16RowsZ(dst *uint16, dstride int, src *float32, n32 int, tables *uint16)
//
// Rounds n32 runs of 32 float32s, src[32i:32i+32], to the nearest bf16
// (ties to even, NaNs by truncation, as packAMXZ's one-part mode) and
// stores run i at dst[i*dstride:] (dstride in uint16s). tables is
// amxPackTables' word indices.
TEXT ·bf16RowsZ(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dstride+8(FP), AX
	SHLQ $1, AX
	MOVQ src+16(FP), SI
	MOVQ n32+24(FP), CX
	MOVQ tables+32(FP), R8
	VMOVDQU16 (R8), Z30
	BF16_ROUND_CONSTS
	TESTQ CX, CX
	JZ   bfrdone

bfrloop:
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	BF16_ROUND(Z0, Z1, Z2, Z3)
	VPERMT2W Z3, Z30, Z2
	VMOVDQU32 Z2, (DI)
	ADDQ $128, SI
	ADDQ AX, DI
	DECQ CX
	JNZ  bfrloop

bfrdone:
	VZEROUPPER
	RET

// func bf16PairsZ(dst *uint16, dstride int, a *float32, astride, boff, n int, tables *uint16)
//
// For i < n, with A = a[i*astride:] and B = A[boff:], writes the 16 pairs
// (A[k], B[k]) rounded to bf16 (as bf16RowsZ) to dst[i*dstride:], A's
// element first: the pair-interleaved rows of the B tiles of attention.
// tables[32:64] holds the word indices that interleave two registers'
// top halves.
TEXT ·bf16PairsZ(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ dstride+8(FP), AX
	SHLQ $1, AX
	MOVQ a+16(FP), SI
	MOVQ astride+24(FP), BX
	SHLQ $2, BX
	MOVQ boff+32(FP), DX
	SHLQ $2, DX
	MOVQ n+40(FP), CX
	MOVQ tables+48(FP), R8
	VMOVDQU16 64(R8), Z30
	BF16_ROUND_CONSTS
	TESTQ CX, CX
	JZ   bfpdone

bfploop:
	VMOVUPS (SI), Z0
	VMOVUPS (SI)(DX*1), Z1
	BF16_ROUND(Z0, Z1, Z2, Z3)
	VPERMT2W Z3, Z30, Z2
	VMOVDQU32 Z2, (DI)
	ADDQ BX, SI
	ADDQ AX, DI
	DECQ CX
	JNZ  bfploop

bfpdone:
	VZEROUPPER
	RET
