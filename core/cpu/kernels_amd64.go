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

// sumF32AVX returns Σ a[i] for n a multiple of 64.
//
//go:noescape
func sumF32AVX(a *float32, n int) float32

// haveAVX512 reports whether the AVX-512 kernels can run.
func haveAVX512() bool { return haveSIMD() && cpu.X86.HasAVX512F }

// kern4x4z is the AVX-512 4x4 block of the bf16 matmul over nblk blocks of
// 32 elements, activations permuted by permute32.
//
//go:noescape
func kern4x4z(x *float32, ldx int, w *uint16, ldw int, nblk int, out *float32, ldo int)

// kern1x4z is kern4x4z for a single activation row.
//
//go:noescape
func kern1x4z(x *float32, w *uint16, ldw int, nblk int, out *float32)
