//go:build !purego

package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// The integer-path kernels of quant_amd64.s (AVX2). Each takes nb blocks
// (Q8_0, Q4_0) or super-blocks (Q6_K) of weights; activations are int8
// (32 or 256 per block) with one float32 scale per block.

// q80w4 sets out[r] = Σ_b d_w·d_x·(w_r·x)_b for the four Q8_0 weight rows
// at w + r·ldw bytes and one activation row.
//
//go:noescape
func q80w4(w *byte, ldw, nb int, x *int8, xd *float32, out *[4]float32)

// q40w4 is q80w4 for Q4_0 weights.
//
//go:noescape
func q40w4(w *byte, ldw, nb int, x *int8, xd *float32, out *[4]float32)

// q80x4 sets out[m] = Σ_b d_w·d_x·(w·x_m)_b for one Q8_0 weight row and the
// four activation rows at x + m·ldx bytes (scales at xd + m·ldd floats).
//
//go:noescape
func q80x4(w *byte, nb int, x *int8, ldx int, xd *float32, ldd int, out *[4]float32)

// q40x4 is q80x4 for Q4_0 weights.
//
//go:noescape
func q40x4(w *byte, nb int, x *int8, ldx int, xd *float32, ldd int, out *[4]float32)

// q6kx1 returns Σ_b d_w·d_x·Σ_g sc_g·(w·x)_g over nb Q6_K super-blocks of one
// weight row and Q8_K activations.
//
//go:noescape
func q6kx1(w *byte, nb int, x *int8, xd *float32) float32

// q6kx4 is q6kx1 for four activation rows (as q80x4).
//
//go:noescape
func q6kx4(w *byte, nb int, x *int8, ldx int, xd *float32, ldd int, out *[4]float32)

// simdIntKernel returns the assembly integer-path kernels for weights of
// type t, ok false where there are none (the portable Go ones then run).
func simdIntKernel(is isa, t device.DType) (intKernel, bool) {
	if is == isaGo {
		return intKernel{}, false
	}
	switch t {
	case device.Q8_0, device.Q4_0:
		w4, x4 := q80w4, q80x4
		if t == device.Q4_0 {
			w4, x4 = q40w4, q40x4
		}
		return intKernel{
			w4: func(w []byte, ldw int, a *qact, m, k, nb int, out *[4]float32) {
				w4(&w[0], ldw, nb, &a.xq[m*k], &a.xd[m*nb], out)
			},
			x4: func(w []byte, a *qact, m, k, nb int, out *[4]float32) {
				x4(&w[0], nb, &a.xq[m*k], k, &a.xd[m*nb], nb, out)
			},
			x1: func(w []byte, a *qact, m, k, nb int) float32 {
				var o [4]float32
				w4(&w[0], 0, nb, &a.xq[m*k], &a.xd[m*nb], &o)
				return o[0]
			},
		}, true
	case device.Q6_K:
		return intKernel{
			x4: func(w []byte, a *qact, m, k, nb int, out *[4]float32) {
				q6kx4(&w[0], nb, &a.xq[m*k], k, &a.xd[m*nb], nb, out)
			},
			x1: func(w []byte, a *qact, m, k, nb int) float32 {
				return q6kx1(&w[0], nb, &a.xq[m*k], &a.xd[m*nb])
			},
		}, true
	}
	return intKernel{}, false
}
