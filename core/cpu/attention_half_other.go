//go:build !amd64 || purego

package cpu

// The half-precision attention kernels exist only in assembly: the
// portable build widens keys and values in Go (attention_half.go).

func haveF16C() bool { return false }

func haveAVX512BW() bool { return false }

func attnQKT2zBF16(q0, q1 *float32, kt *uint16, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT4zBF16(q0, q1, q2, q3 *float32, kt *uint16, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT8zBF16(q *[8]*float32, kt *uint16, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT8x2zBF16(q *[8]*float32, kt0, kt1 *uint16, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnPV2zBF16(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o0, o1 *float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnPV4zBF16(p *float32, pstride int, v *uint16, vstride, nk, hd int, o0, o1, o2, o3 *float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnPV8zBF16(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o *[8]*float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT2zF16(q0, q1 *float32, kt *uint16, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT4zF16(q0, q1, q2, q3 *float32, kt *uint16, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT8zF16(q *[8]*float32, kt *uint16, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnQKT8x2zF16(q *[8]*float32, kt0, kt1 *uint16, hd int, out *float32, ostride int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnPV2zF16(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o0, o1 *float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnPV4zF16(p *float32, pstride int, v *uint16, vstride, nk, hd int, o0, o1, o2, o3 *float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func attnPV8zF16(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o *[8]*float32) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func widenBF16AVX(dst *float32, src *uint16, n int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func widenF16AVX(dst *float32, src *uint16, n int) {
	panic("cpu: SIMD kernel called without SIMD support")
}

func roundF16Z(dst *uint16, src *float32, n int) {
	panic("cpu: SIMD kernel called without SIMD support")
}
