//go:build !purego

package cpu

import "golang.org/x/sys/cpu"

// haveSIMD reports whether the AVX2+FMA kernels of kernels_amd64.s can run.
func haveSIMD() bool { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }

// kern3x4 computes the 3x4 block out[r*ldo+c] = Σ_k x[r*ldx+k]·w[c*ldw+k] for
// rows r < 3 of permuted activations and rows c < 4 of bf16 weights, over
// nblk blocks of 16 elements.
//
//go:noescape
func kern3x4(x *float32, ldx int, w *uint16, ldw int, nblk int, out *float32, ldo int)

// kern1x4 is kern3x4 for a single activation row.
//
//go:noescape
func kern1x4(x *float32, w *uint16, ldw int, nblk int, out *float32)

// dotF32AVX returns Σ a[i]·b[i] for n a multiple of 8.
//
//go:noescape
func dotF32AVX(a, b *float32, n int) float32

// axpyF32AVX computes y += a·x for n a multiple of 8.
//
//go:noescape
func axpyF32AVX(y, x *float32, a float32, n int)

// sumF32AVX returns Σ a[i] for n a multiple of 64, reading a as four
// interleaved streams (see kernels_amd64.s).
//
//go:noescape
func sumF32AVX(a *float32, n int) float32

// haveAVX512 reports whether the AVX-512 kernels can run.
func haveAVX512() bool { return haveSIMD() && cpu.X86.HasAVX512F }

// kern4x4z is the AVX-512 4x4 block of the bf16 matmul over nblk blocks of
// 32 elements, activations permuted by permuteBlocks: it adds
// Σ_k x[r*ldx+k]·w[c*ldw+k] to out[r*ldo+c] for r, c < 4.
//
//go:noescape
func kern4x4z(x *float32, ldx int, w *uint16, ldw int, nblk int, out *float32, ldo int)

// kern1x4z is kern4x4z for a single activation row (adds to out[0:4]).
//
//go:noescape
func kern1x4z(x *float32, w *uint16, ldw int, nblk int, out *float32)

// attnPV4z adds Σ_t p[r*pstride+t]·v[t*vstride+d] to o_r[d] for r < 4,
// t < nk, d < hd, hd a multiple of 64.
//
//go:noescape
func attnPV4z(p *float32, pstride int, v *float32, vstride, nk, hd int, o0, o1, o2, o3 *float32)

// amxBlock computes, with AMX, a 32x32 block c of outᵀ: c[t][i][j] for tile
// t = 2·(weight half) + (activation half) holds Σ_k w[(16·wh+i)·ldw+k] ·
// x[16·ah+j][k], over kblocks blocks of 32 k. b0 and b1 are the packed
// activation tiles of the two 16-row halves (see packAMX), parts (1 or 3)
// bf16 tiles per block of 32 k; cfg is the 64-byte tile configuration of
// amxConfig.
//
//go:noescape
func amxBlock(cfg *byte, w *uint16, ldw int, b0, b1 *uint16, kblocks int, c *float32, parts int)

// expSumZ sets s[i] = exp(s[i]·scale - sub) for n a multiple of 16 and
// returns the sum.
//
//go:noescape
func expSumZ(s *float32, n int, scale, sub float32) float32

// swigluZ sets out[i] = gate[i]·u[i]/(1+exp(-gate[i])) for n a multiple of 16.
//
//go:noescape
func swigluZ(out, gate, u *float32, n int)

// amxBlock1 is amxBlock for one activation tile and 64 weight rows: c[t]
// for t < 4 holds weight rows 16t..16t+15 against the 16 activation rows of
// bp.
//
//go:noescape
func amxBlock1(cfg *byte, w *uint16, ldw int, bp *uint16, kblocks int, c *float32, parts int)

// attnQKT4z writes out[r*ostride+t] = Σ_d q_r[d]·kt[d*16+t] for the four
// queries and the 16 keys of a transposed cache block, hd even.
//
//go:noescape
func attnQKT4z(q0, q1, q2, q3, kt *float32, hd int, out *float32, ostride int)

// packAMXZ splits rows <= 16 activation rows of one block of 32 k into
// parts (3: exact hi, mid, lo; 2: hi and mid, lo written too; 1: rounded
// to nearest) bf16 parts and stores them as 16x16 matrices of bf16 pairs,
// row m of part p at dst[(p*16+m)*32] (see amx_amd64.s); rows past rows
// are left as they are.
//
//go:noescape
func packAMXZ(x *float32, ldx, rows int, dst *uint16, tables *uint16, parts int)

// maxZ returns the largest of s[0:n] for n a positive multiple of 16, NaN
// if any of them is NaN (as the max builtin would).
//
//go:noescape
func maxZ(s *float32, n int) float32

// sumSquaresZ returns Σ x[i]² accumulated in float64, n a positive multiple
// of 16.
//
//go:noescape
func sumSquaresZ(x *float32, n int) float64

// scaleMulZ sets out[i] = x[i]·s·w[i] (rounded after each product) for n a
// multiple of 16.
//
//go:noescape
func scaleMulZ(out, x, w *float32, n int, s float32)

// transposeTileZ writes out[j*ldo+i] = c[i*ldc+j] for j < n, i < 16, with
// 1 <= n <= 16: n rows of the transpose of a 16x16 tile.
//
//go:noescape
func transposeTileZ(c *float32, ldc int, out *float32, ldo, n int)

// attnQKT8z is attnQKT4z for eight queries.
//
//go:noescape
func attnQKT8z(q *[8]*float32, kt *float32, hd int, out *float32, ostride int)

// attnPV8z adds o[r][d] += Σ_t p[r*pstride+t]·v(t)[d] for eight rows r,
// hd a multiple of 32, where key t is row t%16 (stride vstride) of the
// block at vblk[t/16]: nblk blocks, the last holding last keys.
//
//go:noescape
func attnPV8z(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o *[8]*float32)

// ropeZ rotates one head of 2·half elements in place (see RoPE), half a
// multiple of 16.
//
//go:noescape
func ropeZ(v, cos, sin *float32, half int)

// attnQKT8x2z is attnQKT8z for two key blocks: scores against kt1 go to
// out[r*ostride+16+t].
//
//go:noescape
func attnQKT8x2z(q *[8]*float32, kt0, kt1 *float32, hd int, out *float32, ostride int)

// amxScores scores 16 queries against nblk blocks of 16 keys on the tile
// units: q is four bf16 A tiles (the queries' 128 dims), each block of k
// four B tiles; block b's 16x16 scores go to out[r*ostride+16b+t].
//
//go:noescape
func amxScores(cfg *byte, q *uint16, k *uint16, nblk int, out *float32, ostride int)

// amxPV sets out[r*128+d] = Σ_t p[r][t]·v[t][d] for 16 rows and 128 dims
// on the tile units, over nchunk chunks of 32 keys: one bf16 A tile of p
// and eight B tiles of v per chunk.
//
//go:noescape
func amxPV(cfg *byte, p *uint16, v *uint16, nchunk int, out *float32)

// bf16RowsZ rounds src[32i:32i+32] to bf16 into dst[i*dstride:] for i <
// n32 (see packAMXZ's one-part mode).
//
//go:noescape
func bf16RowsZ(dst *uint16, dstride int, src *float32, n32 int, tables *uint16)

// bf16PairsZ writes, for i < n, the bf16 pairs (A[k], B[k]), k < 16, of A
// = a[i*astride:] and B = A[boff:] to dst[i*dstride:] (see amx_amd64.s).
//
//go:noescape
func bf16PairsZ(dst *uint16, dstride int, a *float32, astride, boff, n int, tables *uint16)

// attnQKT2z is attnQKT4z for two queries, hd a multiple of 4.
//
//go:noescape
func attnQKT2z(q0, q1, kt *float32, hd int, out *float32, ostride int)

// attnPV2z is attnPV8z for two rows o0 and o1, hd a multiple of 64.
//
//go:noescape
func attnPV2z(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o0, o1 *float32)

// prefetchLines fetches lines cache lines from p into the caches.
//
//go:noescape
func prefetchLines(p *byte, lines int)
