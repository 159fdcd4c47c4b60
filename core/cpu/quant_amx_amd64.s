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

// AMX int8 for batches of Q8_0 weights (quant_amx8.go). TDPBSSD multiplies
// a 16x32 int8 tile A by a 32x16 int8 tile B (stored as 8 rows of 16
// groups of 4) into 16x16 int32 sums: here A is one Q8_0 block of 16
// weight rows, read in place with the row stride, and B one block of 16
// activation rows rounded to int8. Each block's sums are exact; they leave
// the tile unit (TILESTORED), become float32 and are scaled by the
// activation rows' block scales (a vector) and the weight row's (a
// broadcast) into sixteen accumulators, one per weight row: llama.cpp's
// integer numerics, one block at a time. Two sum tiles (0 and 3) and two
// scratch buffers (BX, R10) alternate, so that the tile unit computes block
// b while the vector units scale block b-1.
//
//   LDTILECFG   [DI]              C4 E2 78 49 07
//   TILEZERO    tmm0 / tmm3       C4 E2 7B 49 C0 / D8
//   TILELOADD   tmm1, [SI+AX*1]   C4 E2 7B 4B 0C 06
//   TILELOADD   tmm2, [DX+DI*1]   C4 E2 7B 4B 14 3A
//   TDPBSSD     tmm0/3, tmm1, tmm2 C4 E2 6B 5E C1 / D9
//   TILESTORED  [BX+DI*1], tmm0   C4 E2 7A 4B 04 3B
//   TILESTORED  [R10+DI*1], tmm3  C4 C2 7A 4B 1C 3A
//   TILERELEASE                   C4 E2 78 49 C0

// A8ROW(i, base, ws, acc): acc += float32(sums row i at base) · dact ·
// ws[i].
#define A8ROW(i, base, ws, acc) \
	VCVTDQ2PS        (i*64)(base), Z16 \
	VMULPS           Z17, Z16, Z16 \
	VFMADD231PS.BCST (i*4)(ws), Z16, acc

// A8POST(base, ws): the sixteen rows of one block's sums at base into
// Z0-Z15, with that block's scales (R8: the activation rows', ws: the
// weight rows').
#define A8POST(base, ws) \
	VMOVUPS (R8), Z17 \
	A8ROW(0, base, ws, Z0) \
	A8ROW(1, base, ws, Z1) \
	A8ROW(2, base, ws, Z2) \
	A8ROW(3, base, ws, Z3) \
	A8ROW(4, base, ws, Z4) \
	A8ROW(5, base, ws, Z5) \
	A8ROW(6, base, ws, Z6) \
	A8ROW(7, base, ws, Z7) \
	A8ROW(8, base, ws, Z8) \
	A8ROW(9, base, ws, Z9) \
	A8ROW(10, base, ws, Z10) \
	A8ROW(11, base, ws, Z11) \
	A8ROW(12, base, ws, Z12) \
	A8ROW(13, base, ws, Z13) \
	A8ROW(14, base, ws, Z14) \
	A8ROW(15, base, ws, Z15) \
	ADDQ $64, R8

// A8LOAD(ws): the next block's weight and activation tiles (1, 2), and
// its 16 weight rows' fp16 scales (at R9 + idx[i]) as float32 at ws.
#define A8LOAD(ws) \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x0C; BYTE $0x06 \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x14; BYTE $0x3A \
	KXNORW     K1, K1, K1 \
	VPGATHERDD (R9)(Z18*1), K1, Z19 \
	VPMOVDW    Z19, Y19 \
	VCVTPH2PS  Y19, Z19 \
	VMOVUPS    Z19, (ws) \
	ADDQ $34, SI \
	ADDQ $34, R9 \
	ADDQ $512, DX

// func q80amx8(cfg *byte, w *byte, ldw, nb int, b *byte, dact *float32, tmp *int32, c *float32, idx *int32)
TEXT ·q80amx8(SB), NOSPLIT, $0-72
	MOVQ cfg+0(FP), DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x07
	MOVQ w+8(FP), SI
	MOVQ ldw+16(FP), AX
	MOVQ nb+24(FP), CX
	MOVQ b+32(FP), DX
	MOVQ dact+40(FP), R8
	MOVQ tmp+48(FP), BX
	LEAQ 1024(BX), R10
	LEAQ 2048(BX), R11
	LEAQ 2112(BX), R13
	MOVQ idx+64(FP), R9
	VMOVDQU32 (R9), Z18
	LEAQ -2(SI), R9
	MOVQ $64, DI
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	VXORPS Z8, Z8, Z8
	VXORPS Z9, Z9, Z9
	VXORPS Z10, Z10, Z10
	VXORPS Z11, Z11, Z11
	VXORPS Z12, Z12, Z12
	VXORPS Z13, Z13, Z13
	VXORPS Z14, Z14, Z14
	VXORPS Z15, Z15, Z15
	TESTQ CX, CX
	JZ    a8done
	// Block 0 into tile 0, stored at BX, scales at R11.
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC0
	A8LOAD(R11)
	BYTE $0xC4; BYTE $0xE2; BYTE $0x6B; BYTE $0x5E; BYTE $0xC1
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x04; BYTE $0x3B
	DECQ CX
	JZ   a8tail0

a8loop:
	// Block b into tile 3 (sums at R10, scales at R13) while block b-1
	// (BX, R11) is scaled.
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD8
	A8LOAD(R13)
	BYTE $0xC4; BYTE $0xE2; BYTE $0x6B; BYTE $0x5E; BYTE $0xD9
	A8POST(BX, R11)
	BYTE $0xC4; BYTE $0xC2; BYTE $0x7A; BYTE $0x4B; BYTE $0x1C; BYTE $0x3A
	DECQ CX
	JZ   a8tail1
	// Block b+1 into tile 0 (BX, R11) while block b (R10, R13) is scaled.
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC0
	A8LOAD(R11)
	BYTE $0xC4; BYTE $0xE2; BYTE $0x6B; BYTE $0x5E; BYTE $0xC1
	A8POST(R10, R13)
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x04; BYTE $0x3B
	DECQ CX
	JNZ  a8loop

a8tail0:
	A8POST(BX, R11)
	JMP a8done

a8tail1:
	A8POST(R10, R13)

a8done:
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0
	MOVQ c+56(FP), BX
	VMOVUPS Z0, (BX)
	VMOVUPS Z1, 64(BX)
	VMOVUPS Z2, 128(BX)
	VMOVUPS Z3, 192(BX)
	VMOVUPS Z4, 256(BX)
	VMOVUPS Z5, 320(BX)
	VMOVUPS Z6, 384(BX)
	VMOVUPS Z7, 448(BX)
	VMOVUPS Z8, 512(BX)
	VMOVUPS Z9, 576(BX)
	VMOVUPS Z10, 640(BX)
	VMOVUPS Z11, 704(BX)
	VMOVUPS Z12, 768(BX)
	VMOVUPS Z13, 832(BX)
	VMOVUPS Z14, 896(BX)
	VMOVUPS Z15, 960(BX)
	VZEROUPPER
	RET
