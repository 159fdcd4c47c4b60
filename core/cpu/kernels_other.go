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
