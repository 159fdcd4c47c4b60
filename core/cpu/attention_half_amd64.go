//go:build !purego

package cpu

import "golang.org/x/sys/cpu"

// The attention kernels for KV caches of 16-bit floats
// (attention_half_amd64.s). Each is its float32 namesake of
// kernels_amd64.go with keys (kt) or values (v, vblk) stored as bf16 or
// IEEE half; vstride still counts elements.

// haveF16C reports whether widenF16AVX can run.
func haveF16C() bool { return haveSIMD() && cpu.X86.HasF16C }

// haveAVX512BW reports whether bf16RowsZ (VPERMT2W) can run.
func haveAVX512BW() bool { return haveAVX512() && cpu.X86.HasAVX512BW }

//go:noescape
func attnQKT2zBF16(q0, q1 *float32, kt *uint16, hd int, out *float32, ostride int)

//go:noescape
func attnQKT4zBF16(q0, q1, q2, q3 *float32, kt *uint16, hd int, out *float32, ostride int)

//go:noescape
func attnQKT8zBF16(q *[8]*float32, kt *uint16, hd int, out *float32, ostride int)

//go:noescape
func attnQKT8x2zBF16(q *[8]*float32, kt0, kt1 *uint16, hd int, out *float32, ostride int)

//go:noescape
func attnPV2zBF16(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o0, o1 *float32)

//go:noescape
func attnPV4zBF16(p *float32, pstride int, v *uint16, vstride, nk, hd int, o0, o1, o2, o3 *float32)

//go:noescape
func attnPV8zBF16(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o *[8]*float32)

//go:noescape
func attnQKT2zF16(q0, q1 *float32, kt *uint16, hd int, out *float32, ostride int)

//go:noescape
func attnQKT4zF16(q0, q1, q2, q3 *float32, kt *uint16, hd int, out *float32, ostride int)

//go:noescape
func attnQKT8zF16(q *[8]*float32, kt *uint16, hd int, out *float32, ostride int)

//go:noescape
func attnQKT8x2zF16(q *[8]*float32, kt0, kt1 *uint16, hd int, out *float32, ostride int)

//go:noescape
func attnPV2zF16(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o0, o1 *float32)

//go:noescape
func attnPV4zF16(p *float32, pstride int, v *uint16, vstride, nk, hd int, o0, o1, o2, o3 *float32)

//go:noescape
func attnPV8zF16(p *float32, pstride int, vblk *uintptr, nblk, last, vstride, hd int, o *[8]*float32)

// widenBF16AVX sets dst[i] = src[i] widened from bf16, n a multiple of 8.
//
//go:noescape
func widenBF16AVX(dst *float32, src *uint16, n int)

// widenF16AVX sets dst[i] = src[i] widened from IEEE half, n a multiple of 8.
//
//go:noescape
func widenF16AVX(dst *float32, src *uint16, n int)

// roundF16Z sets dst[i] to src[i] rounded to the nearest IEEE half, ties
// to even, n a multiple of 16.
//
//go:noescape
func roundF16Z(dst *uint16, src *float32, n int)
