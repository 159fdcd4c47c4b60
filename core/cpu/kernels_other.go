//go:build !amd64 || purego

package cpu

// haveSIMD is false: this build has only the portable Go kernels.
func haveSIMD() bool { return false }

func kern3x4(x *float32, ldx int, w *uint16, ldw int, nblk int, out *float32, ldo int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func kern1x4(x *float32, w *uint16, ldw int, nblk int, out *float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func dotF32AVX(a, b *float32, n int) float32 {
	panic("cpu: SIMD kernel called without SIMD support")
}

func axpyF32AVX(y, x *float32, a float32, n int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func sumF32AVX(a *float32, n int) float32 {
	panic("cpu: SIMD kernel called without SIMD support")
}

// haveAVX512 is false: this build has only the portable Go kernels.
func haveAVX512() bool { return false }

func kern4x4z(x *float32, ldx int, w *uint16, ldw int, nblk int, out *float32, ldo int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func kern1x4z(x *float32, w *uint16, ldw int, nblk int, out *float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnPV4z(p *float32, pstride int, v *float32, vstride, nk, hd int, o0, o1, o2, o3 *float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func amxBlock(cfg *byte, w *uint16, ldw int, b0, b1 *uint16, kblocks int, c *float32, parts int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func expSumZ(s *float32, n int, scale, sub float32) float32 {
	panic("cpu: SIMD kernel called without SIMD support")
}

func swigluZ(out, gate, u *float32, n int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func amxBlock1(cfg *byte, w *uint16, ldw int, bp *uint16, kblocks int, c *float32, parts int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT4z(q0, q1, q2, q3, kt *float32, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func packAMXZ(x *float32, ldx, rows int, dst *uint16, tables *uint16, parts int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func maxZ(s *float32, n int) float32 {
	panic("cpu: SIMD kernel called without SIMD support")
}

func sumSquaresZ(x *float32, n int) float64 {
	panic("cpu: SIMD kernel called without SIMD support")
}

func scaleMulZ(out, x, w *float32, n int, s float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func transposeTileZ(c *float32, ldc int, out *float32, ldo, n int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT8z(q *[8]*float32, kt *float32, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnPV8z(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o *[8]*float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func ropeZ(v, cos, sin *float32, half int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT8x2z(q *[8]*float32, kt0, kt1 *float32, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func amxScores(cfg *byte, q *uint16, k *uint16, nblk int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func amxPV(cfg *byte, p *uint16, v *uint16, nchunk int, out *float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func bf16RowsZ(dst *uint16, dstride int, src *float32, n32 int, tables *uint16) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func bf16PairsZ(dst *uint16, dstride int, a *float32, astride, boff, n int, tables *uint16) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT2z(q0, q1, kt *float32, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnPV2z(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o0, o1 *float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

// prefetchLines does nothing in this build.
func prefetchLines(p *byte, lines int) {}
