//go:build !purego

#include "textflag.h"
#include "bf16_amd64.h"

// Quantized blocks to bf16 for the AMX path (quant_amx.go). Per block of
// 32: the int8 values (Q4_0: nibbles - 8) widened to int32 and converted
// to float32 (exact), multiplied by the fp16 scale widened to float32
// (exact: at most 19 significant bits), then rounded to bf16 to nearest,
// ties to even, by VCVTNE2PS2BF16. No value is a float32 denormal (the
// smallest nonzero is 2^-24), so its flushing of denormals never applies.


// The tile instructions of q80amx8 and qgamx8 (see the encodings above;
// operand tiles 4 and 5 load like 1 and 2).
#define ZEROT0 BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xC0
#define ZEROT3 BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x49; BYTE $0xD8
#define DPT0 BYTE $0xC4; BYTE $0xE2; BYTE $0x6B; BYTE $0x5E; BYTE $0xC1
#define DPT3 BYTE $0xC4; BYTE $0xE2; BYTE $0x53; BYTE $0x5E; BYTE $0xDC
#define STORET0 BYTE $0xC4; BYTE $0xE2; BYTE $0x7A; BYTE $0x4B; BYTE $0x04; BYTE $0x3B
#define STORET3 BYTE $0xC4; BYTE $0xC2; BYTE $0x7A; BYTE $0x4B; BYTE $0x1C; BYTE $0x3A

// A8TL12, A8TL45: the next Q8_0 block's weight tile (16 rows of 32 bytes,
// AX apart, at SI) and activation tile (8 rows of 64 bytes at DX) into
// tiles 1 and 2, or 4 and 5. Each also prefetches (A8PF) pfstep bytes of
// what the next tile of weight rows will read (R14), one sequential run
// that the hardware prefetcher would restart at every 4 KiB page: by the
// last block it is in cache. Into the second-level cache only (PREFETCHT2):
// the first-level one holds the tile being multiplied and the activations,
// and a next tile fetched into it too (17 KiB at k = 1024, 52 KiB at 3072)
// evicts them. Measured: a Q8_0 batch-16 decode step 8-10% faster than
// with PREFETCHT0.
#define A8PF \
	PREFETCHT2 (R14) \
	PREFETCHT2 64(R14) \
	PREFETCHT2 128(R14) \
	PREFETCHT2 192(R14) \
	PREFETCHT2 256(R14) \
	PREFETCHT2 320(R14) \
	PREFETCHT2 384(R14) \
	PREFETCHT2 448(R14) \
	PREFETCHT2 512(R14) \
	ADDQ 24(SP), R14
#define A8TL12 \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x0C; BYTE $0x06 \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x14; BYTE $0x3A \
	ADDQ $34, SI \
	ADDQ $512, DX \
	A8PF
#define A8TL45 \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x06 \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x2C; BYTE $0x3A \
	ADDQ $34, SI \
	ADDQ $512, DX \
	A8PF

// QGTL12, QGTL45: the next group's weight tile (16 rows of R13 bytes, AX
// apart, at SI) and activation tile (at DX, R9 bytes) into tiles 1 and 2,
// or 4 and 5 (the configuration gives their shapes).
#define QGTL12 \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x0C; BYTE $0x06 \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x14; BYTE $0x3A \
	ADDQ R13, SI \
	ADDQ R9, DX \
	QGPF
#define QGTL45 \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x24; BYTE $0x06 \
	BYTE $0xC4; BYTE $0xE2; BYTE $0x7B; BYTE $0x4B; BYTE $0x2C; BYTE $0x3A \
	ADDQ R13, SI \
	ADDQ R9, DX \
	QGPF

// QGPF: 320 bytes of what the next tile's rewrite will read (R14), into
// the second-level cache as A8TL12's, which then moves on by the step at
// 8(SP): spread over the groups, a burst of prefetches would wait for free
// line-fill buffers.
#define QGPF \
	PREFETCHT2 (R14) \
	PREFETCHT2 64(R14) \
	PREFETCHT2 128(R14) \
	PREFETCHT2 192(R14) \
	PREFETCHT2 256(R14) \
	ADDQ 8(SP), R14

// QGPOST(base): A8POST of the group whose sums are at base, with the
// weight scales at R11, which moves to the next group's.
#define QGPOST(base) \
	A8POST(base, R11) \
	ADDQ $64, R11

// A8ZERO clears the 16 accumulators Z0-Z15 of the int8 tile kernels;
// A8SAVE stores them, one weight row's 16 sums each, at R12.
#define A8ZERO \
	VXORPS Z0, Z0, Z0 \
	VXORPS Z1, Z1, Z1 \
	VXORPS Z2, Z2, Z2 \
	VXORPS Z3, Z3, Z3 \
	VXORPS Z4, Z4, Z4 \
	VXORPS Z5, Z5, Z5 \
	VXORPS Z6, Z6, Z6 \
	VXORPS Z7, Z7, Z7 \
	VXORPS Z8, Z8, Z8 \
	VXORPS Z9, Z9, Z9 \
	VXORPS Z10, Z10, Z10 \
	VXORPS Z11, Z11, Z11 \
	VXORPS Z12, Z12, Z12 \
	VXORPS Z13, Z13, Z13 \
	VXORPS Z14, Z14, Z14 \
	VXORPS Z15, Z15, Z15
#define A8SAVE \
	VMOVUPS Z0, (R12) \
	VMOVUPS Z1, 64(R12) \
	VMOVUPS Z2, 128(R12) \
	VMOVUPS Z3, 192(R12) \
	VMOVUPS Z4, 256(R12) \
	VMOVUPS Z5, 320(R12) \
	VMOVUPS Z6, 384(R12) \
	VMOVUPS Z7, 448(R12) \
	VMOVUPS Z8, 512(R12) \
	VMOVUPS Z9, 576(R12) \
	VMOVUPS Z10, 640(R12) \
	VMOVUPS Z11, 704(R12) \
	VMOVUPS Z12, 768(R12) \
	VMOVUPS Z13, 832(R12) \
	VMOVUPS Z14, 896(R12) \
	VMOVUPS Z15, 960(R12)

// A8G(ws): the 16 weight rows' fp16 scales of the block at R9 (gathered
// with the row offsets in Z18) as float32 at ws; R9 moves to the next block.
#define A8G(ws) \
	KXNORW     K1, K1, K1 \
	VPGATHERDD (R9)(Z18*1), K1, Z19 \
	VPMOVDW    Z19, Y19 \
	VCVTPH2PS  Y19, Z19 \
	VMOVUPS    Z19, (ws) \
	ADDQ $34, R9

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

// func q80amx8(cfg *byte, w *byte, ldw, nb, nt int, b *byte, dact *float32, mts int, tmp *int32, c *float32, idx *int32, pf *byte, pfstep int)
//
// The tile configuration is loaded once per call, for nt weight tiles of
// 16 rows times mts activation tiles: LDTILECFG and TILERELEASE cost as
// much as a few blocks of products. Locals: 0(SP) the weight tile, 8(SP)
// the activation tile, 16(SP) the weight tile's first block, 24(SP) the
// prefetch step.
TEXT ·q80amx8(SB), NOSPLIT, $32-104
	MOVQ cfg+0(FP), DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x07
	MOVQ idx+80(FP), R9
	VMOVDQU32 (R9), Z18
	MOVQ c+72(FP), R12
	MOVQ w+8(FP), SI
	MOVQ SI, 16(SP)
	MOVQ $0, 0(SP)

a8wtile:
	MOVQ $0, 8(SP)

a8atile:
	MOVQ 16(SP), SI
	MOVQ nb+24(FP), CX
	MOVQ 8(SP), DX
	IMULQ CX, DX
	MOVQ DX, R8
	SHLQ $9, DX
	ADDQ b+40(FP), DX
	SHLQ $6, R8
	ADDQ dact+48(FP), R8
	MOVQ ldw+16(FP), AX
	MOVQ tmp+64(FP), BX
	LEAQ 1024(BX), R10
	LEAQ 2048(BX), R11
	LEAQ 2112(BX), R13
	LEAQ -2(SI), R9
	MOVQ pfstep+96(FP), R14
	MOVQ R14, 24(SP)
	IMULQ 0(SP), R14
	IMULQ nb+24(FP), R14
	ADDQ pf+88(FP), R14
	MOVQ $64, DI
	A8ZERO
	TESTQ CX, CX
	JZ    a8done
	// Three stages in flight: the product of block b (tile 0 for even b,
	// 3 for odd, with operand tiles 1-2 or 4-5), the store of block b-1's
	// sums (and the gather of its weight scales), and the scaling of block
	// b-2's. The tile unit works in order: a store right after its product,
	// or vector loads right after that store, would wait for the product.
	ZEROT0
	A8TL12
	DPT0
	DECQ CX
	JZ   a8only1
	ZEROT3
	A8TL45
	DPT3
	STORET0
	A8G(R11)
	DECQ CX
	JZ   a8endodd

a8loop:
	// Even b: product into tile 0; store b-1 from tile 3; scale b-2.
	ZEROT0
	A8TL12
	DPT0
	STORET3
	A8G(R13)
	A8POST(BX, R11)
	DECQ CX
	JZ   a8endeven
	// Odd b: product into tile 3; store b-1 from tile 0; scale b-2.
	ZEROT3
	A8TL45
	DPT3
	STORET0
	A8G(R11)
	A8POST(R10, R13)
	DECQ CX
	JNZ  a8loop

a8endodd:
	// The last block (odd) is in tile 3, the one before at BX.
	STORET3
	A8G(R13)
	A8POST(BX, R11)
	A8POST(R10, R13)
	JMP a8done

a8endeven:
	// The last block (even) is in tile 0, the one before at R10.
	STORET0
	A8G(R11)
	A8POST(R10, R13)
	A8POST(BX, R11)
	JMP a8done

a8only1:
	STORET0
	A8G(R11)
	A8POST(BX, R11)

a8done:
	A8SAVE
	ADDQ $1024, R12
	INCQ 8(SP)
	MOVQ 8(SP), CX
	CMPQ CX, mts+56(FP)
	JLT  a8atile
	MOVQ ldw+16(FP), AX
	SHLQ $4, AX
	ADDQ AX, 16(SP)
	INCQ 0(SP)
	MOVQ 0(SP), CX
	CMPQ CX, nt+32(FP)
	JLT  a8wtile
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0
	VZEROUPPER
	RET

// func qgamx8(cfg *byte, w *byte, ldw, ng, gbytes int, b *byte, dact *float32, ws *float32, mts int, tmp *int32, c *float32, pf *byte, pfstep int)
//
// q80amx8 for one tile of 16 weight rows already rewritten as int8 groups
// (q40int8: groups of 32, gbytes 32; q6kint8: groups of 16, gbytes 16): ng
// groups of gbytes int8 a row, rows ldw bytes apart, with the float32
// weight scales group-major at ws (ws[g·16+i]), against mts activation
// tiles packed in groups of the same size (packAMX8), in the same three
// stages. The configuration (amx8TileConfig or amx6TileConfig) gives the
// operand tiles' shapes. Each group also prefetches pfstep bytes from pf
// on (QGPF). Locals: 0(SP) the activation tile, 8(SP) pfstep.
TEXT ·qgamx8(SB), NOSPLIT, $16-104
	MOVQ cfg+0(FP), DI
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0x07
	MOVQ c+80(FP), R12
	MOVQ $0, 0(SP)
	MOVQ pfstep+96(FP), R14
	MOVQ R14, 8(SP)

qgatile:
	MOVQ w+8(FP), SI
	MOVQ ng+24(FP), CX
	MOVQ gbytes+32(FP), R13
	MOVQ R13, R9
	SHLQ $4, R9
	MOVQ 0(SP), DX
	IMULQ CX, DX
	MOVQ DX, R8
	IMULQ R9, DX
	ADDQ b+40(FP), DX
	SHLQ $6, R8
	ADDQ dact+48(FP), R8
	MOVQ ws+56(FP), R11
	MOVQ pf+88(FP), R14
	MOVQ ldw+16(FP), AX
	MOVQ tmp+72(FP), BX
	LEAQ 1024(BX), R10
	MOVQ $64, DI
	A8ZERO
	TESTQ CX, CX
	JZ    qgdone
	ZEROT0
	QGTL12
	DPT0
	DECQ CX
	JZ   qgonly1
	ZEROT3
	QGTL45
	DPT3
	STORET0
	DECQ CX
	JZ   qgendodd

qgloop:
	// Even g: product into tile 0; store g-1 from tile 3; scale g-2.
	ZEROT0
	QGTL12
	DPT0
	STORET3
	QGPOST(BX)
	DECQ CX
	JZ   qgendeven
	// Odd g: product into tile 3; store g-1 from tile 0; scale g-2.
	ZEROT3
	QGTL45
	DPT3
	STORET0
	QGPOST(R10)
	DECQ CX
	JNZ  qgloop

qgendodd:
	STORET3
	QGPOST(BX)
	QGPOST(R10)
	JMP qgdone

qgendeven:
	STORET0
	QGPOST(R10)
	QGPOST(BX)
	JMP qgdone

qgonly1:
	STORET0
	QGPOST(BX)

qgdone:
	A8SAVE
	ADDQ $1024, R12
	INCQ 0(SP)
	MOVQ 0(SP), CX
	CMPQ CX, mts+64(FP)
	JLT  qgatile
	BYTE $0xC4; BYTE $0xE2; BYTE $0x78; BYTE $0x49; BYTE $0xC0
	VZEROUPPER
	RET

// func q40int8(dst *byte, dsc *float32, src *byte, nb int)
//
// 16 rows of nb Q4_0 blocks (src, rows contiguous) as int8 values (dst:
// row i at i·nb·32, the nibbles less 8: byte j's low nibble is weight j,
// its high nibble weight j+16) and the blocks' scales as float32,
// block-major (dsc[b·16+i]), for qgamx8. Each iteration prefetches 1 KiB
// ahead: the tile is one sequential run, and the hardware prefetcher stops
// at every 4 KiB page.
TEXT ·q40int8(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ dsc+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ nb+24(FP), R8
	MOVL $0x0F0F0F0F, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x08080808, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVQ $16, BX
	TESTQ R8, R8
	JZ    q4idone

q4irow:
	MOVQ DX, R11
	MOVQ R8, CX

q4iblk:
	PREFETCHT0  1024(SI)
	MOVWLZX     (SI), AX
	VMOVD       AX, X1
	VCVTPH2PS   X1, X1
	VMOVSS      X1, (R11)
	VMOVDQU     2(SI), X0
	VPSRLW      $4, X0, X1
	VPAND       X15, X0, X0
	VPAND       X15, X1, X1
	VINSERTI128 $1, X1, Y0, Y0
	VPSUBB      Y14, Y0, Y0
	VMOVDQU     Y0, (DI)
	ADDQ        $18, SI
	ADDQ        $32, DI
	ADDQ        $64, R11
	DECQ        CX
	JNZ         q4iblk
	ADDQ        $4, DX
	DECQ        BX
	JNZ         q4irow

q4idone:
	VZEROUPPER
	RET

// func q40int8v(dst *byte, dsc *float32, src *byte, nb int, tab *q40Tables)
//
// q40int8 four blocks at a time (nb a multiple of 4) with AVX512-VBMI
// byte permutes: the 72 bytes of four blocks gather into one register of
// 64 nibble pairs (VPERMI2B), which split into low and high nibbles, and
// qword permutes put each block's 16 low values before its 16 high ones.
// A third of q40int8's instructions per block.
TEXT ·q40int8v(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ dsc+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ nb+24(FP), R8
	MOVQ tab+32(FP), AX
	VMOVDQU64 (AX), Z20    // the nibble bytes of four blocks
	VMOVDQU64 64(AX), Z21  // blocks 0 and 1: low, high qword pairs
	VMOVDQU64 128(AX), Z22 // blocks 2 and 3
	VMOVDQU64 192(AX), Z23 // the four scales' bytes
	MOVL $0x0F0F0F0F, AX
	VPBROADCASTD AX, Z15
	MOVL $0x08080808, AX
	VPBROADCASTD AX, Z14
	MOVQ $0xFF, AX
	KMOVQ AX, K2
	SHRQ $2, R8
	MOVQ $16, BX
	TESTQ R8, R8
	JZ    q4vdone

q4vrow:
	MOVQ DX, R11
	MOVQ R8, CX

q4vblk:
	PREFETCHT0 1024(SI)
	VMOVDQU8   (SI), Z0
	VMOVDQU8.Z 64(SI), K2, Z1 // the last 8 bytes only: no read past them
	VMOVDQA64  Z20, Z2
	VPERMI2B   Z1, Z0, Z2
	VPSRLW     $4, Z2, Z3
	VPANDD     Z15, Z2, Z2
	VPANDD     Z15, Z3, Z3
	VMOVDQA64  Z21, Z4
	VPERMI2Q   Z3, Z2, Z4
	VMOVDQA64  Z22, Z5
	VPERMI2Q   Z3, Z2, Z5
	VPSUBB     Z14, Z4, Z4
	VPSUBB     Z14, Z5, Z5
	VMOVDQU8   Z4, (DI)
	VMOVDQU8   Z5, 64(DI)
	VPERMB     Z0, Z23, Z6
	VCVTPH2PS  X6, X6
	VMOVSS     X6, (R11)
	VEXTRACTPS $1, X6, 64(R11)
	VEXTRACTPS $2, X6, 128(R11)
	VEXTRACTPS $3, X6, 192(R11)
	ADDQ       $72, SI
	ADDQ       $128, DI
	ADDQ       $256, R11
	DECQ       CX
	JNZ        q4vblk
	ADDQ       $4, DX
	DECQ       BX
	JNZ        q4vrow

q4vdone:
	VZEROUPPER
	RET

// Q4KMSUB(zr, off): c[off/4 : off/4+16] at DI -= zr.
#define Q4KMSUB(zr, off) \
	VMOVUPS off(DI), Z16 \
	VSUBPS  zr, Z16, Z16 \
	VMOVUPS Z16, off(DI)

// func q4kminZ(c, mins, s *float32, ng, mts int)
//
// Takes Q4_K's mins' term off qgamx8's sums for one tile of 16 weight rows
// and mts tiles of 16 activation rows: c[(mt·16+i)·16+m] -= Σ_g
// mins[g·16+i]·s[(mt·ng+g)·16+m], where mins (group-major) are the rows'
// dmin·m and s the activations' d_x·Σx over each group of 32. Z_i
// accumulates weight row i's 16 activation rows.
TEXT ·q4kminZ(SB), NOSPLIT, $0-40
	MOVQ c+0(FP), DI
	MOVQ mins+8(FP), R8
	MOVQ s+16(FP), SI
	MOVQ ng+24(FP), R9
	MOVQ mts+32(FP), BX
	TESTQ BX, BX
	JZ    q4mdone

q4mtile:
	A8ZERO
	MOVQ R8, DX
	MOVQ R9, CX

q4mgrp:
	VMOVUPS          (SI), Z16
	VFMADD231PS.BCST (DX), Z16, Z0
	VFMADD231PS.BCST 4(DX), Z16, Z1
	VFMADD231PS.BCST 8(DX), Z16, Z2
	VFMADD231PS.BCST 12(DX), Z16, Z3
	VFMADD231PS.BCST 16(DX), Z16, Z4
	VFMADD231PS.BCST 20(DX), Z16, Z5
	VFMADD231PS.BCST 24(DX), Z16, Z6
	VFMADD231PS.BCST 28(DX), Z16, Z7
	VFMADD231PS.BCST 32(DX), Z16, Z8
	VFMADD231PS.BCST 36(DX), Z16, Z9
	VFMADD231PS.BCST 40(DX), Z16, Z10
	VFMADD231PS.BCST 44(DX), Z16, Z11
	VFMADD231PS.BCST 48(DX), Z16, Z12
	VFMADD231PS.BCST 52(DX), Z16, Z13
	VFMADD231PS.BCST 56(DX), Z16, Z14
	VFMADD231PS.BCST 60(DX), Z16, Z15
	ADDQ             $64, SI
	ADDQ             $64, DX
	DECQ             CX
	JNZ              q4mgrp
	Q4KMSUB(Z0, 0)
	Q4KMSUB(Z1, 64)
	Q4KMSUB(Z2, 128)
	Q4KMSUB(Z3, 192)
	Q4KMSUB(Z4, 256)
	Q4KMSUB(Z5, 320)
	Q4KMSUB(Z6, 384)
	Q4KMSUB(Z7, 448)
	Q4KMSUB(Z8, 512)
	Q4KMSUB(Z9, 576)
	Q4KMSUB(Z10, 640)
	Q4KMSUB(Z11, 704)
	Q4KMSUB(Z12, 768)
	Q4KMSUB(Z13, 832)
	Q4KMSUB(Z14, 896)
	Q4KMSUB(Z15, 960)
	ADDQ $1024, DI
	DECQ BX
	JNZ  q4mtile

q4mdone:
	VZEROUPPER
	RET
