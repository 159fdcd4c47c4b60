//go:build !purego

package cpu

import (
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"golang.org/x/sys/cpu"
)

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
// weight row and Q8_K activations, prefetching the row ldw bytes on.
//
//go:noescape
func q6kx1(w *byte, nb int, x *int8, xd *float32, ldw int) float32

// q6kx1z is q6kx1 on AVX-512 (BW); bs holds the activations' Q8_K group
// sums (16 per super-block).
//
//go:noescape
func q6kx1z(w *byte, nb int, x *int8, xd *float32, bs *int16, ldw int) float32

// q6kw2z is q6kx1z for the two weight rows at w and w+ldw, each read as a
// stream prefetched pf bytes ahead.
//
//go:noescape
func q6kw2z(w *byte, ldw, nb int, x *int8, xd *float32, bs *int16, pf int, out *[2]float32)

// q4kw4z returns in out the dot products of the four Q4_K weight rows at
// w + r·ldw (nb super-blocks) with one Q8_K activation row (bs its group
// sums), each row read as a stream prefetched pf bytes ahead. It needs
// AVX-512 BW, VNNI and VBMI.
//
//go:noescape
func q4kw4z(w *byte, ldw, nb int, x *int8, xd *float32, bs *int16, pf int, out *[4]float32)

// q4kw2 is q4kw4z on AVX2 for two weight rows (w, w+ldw).
//
//go:noescape
func q4kw2(w *byte, ldw, nb int, x *int8, xd *float32, bs *int16, pf int, out *[2]float32)

// q6kx4 is q6kx1 for four activation rows (as q80x4).
//
//go:noescape
func q6kx4(w *byte, nb int, x *int8, ldx int, xd *float32, ldd int, out *[4]float32)

// q80w4z is q80w4 on AVX-512 VNNI for npair pairs of blocks, activations
// in the zact layout (see fillZact), tab = f16Table.
//
//go:noescape
func q80w4z(w *byte, ldw, npair int, za *byte, tab *float32, out *[4]float32)

// q40w4z is q80w4z for Q4_0 weights.
//
//go:noescape
func q40w4z(w *byte, ldw, npair int, za *byte, tab *float32, out *[4]float32)

// q80s8z is q80w4z for the eight weight rows at w + r·ldw bytes, meant
// for rows far apart: eight sequential streams read together (see S8Z).
//
//go:noescape
func q80s8z(w *byte, ldw, npair int, za *byte, tab *float32, out *[8]float32)

// q40s8z is q80s8z for Q4_0 weights.
//
//go:noescape
func q40s8z(w *byte, ldw, npair int, za *byte, tab *float32, out *[8]float32)

// q80x4z is q80x4 on AVX-512 VNNI: activation rows at za + m·lda bytes in
// the zact layout.
//
//go:noescape
func q80x4z(w *byte, npair int, za *byte, lda int, tab *float32, out *[4]float32)

// q40x4z is q80x4z for Q4_0 weights.
//
//go:noescape
func q40x4z(w *byte, npair int, za *byte, lda int, tab *float32, out *[4]float32)

// quantQ8Z quantizes 2·npair blocks of 32 activations at x as
// quantizeQ8_0Act does, to xq and xd, and lays them out for the VNNI
// kernels at za (see fillZact).
//
//go:noescape
func quantQ8Z(x *float32, npair int, xq *int8, xd *float32, za *byte, c int)

// quantQ8Z4 is quantQ8Z for the zquad layout (fillZquad): 4·nquad blocks.
//
//go:noescape
func quantQ8Z4(x *float32, nquad int, xq *int8, xd *float32, za *byte, c int)

// q40s8v is q40s8z for AVX512-VBMI, four blocks per step (nquad steps),
// activations in the zquad layout.
//
//go:noescape
func q40s8v(w *byte, ldw, nquad int, za *byte, out *[8]float32)

// q40w4v is q40w4z for AVX512-VBMI (as q40s8v).
//
//go:noescape
func q40w4v(w *byte, ldw, nquad int, za *byte, out *[4]float32)

// q40x4v is q40x4z for AVX512-VBMI (as q40s8v): activation rows at za +
// m·lda bytes.
//
//go:noescape
func q40x4v(w *byte, nquad int, za *byte, lda int, out *[4]float32)

// simdQuantQ8 quantizes one activation row for the VNNI kernels with
// quantQ8Z (quantQ8Z4 for the zquad layout) and reports whether it could
// (AVX-512, whole pairs or quads of blocks).
func simdQuantQ8(is isa, x []float32, xq []int8, xd []float32, za []byte, c int, layout zactLayout) bool {
	if is != isaAVX512 || len(xd) == 0 {
		return false
	}
	switch {
	case layout == zactPair && len(xd)%2 == 0:
		quantQ8Z(&x[0], len(xd)/2, &xq[0], &xd[0], &za[0], c)
	case layout == zactQuad && len(xd)%4 == 0:
		quantQ8Z4(&x[0], len(xd)/4, &xq[0], &xd[0], &za[0], c)
	default:
		return false
	}
	return true
}

// quantQ8KY is quantizeQ8KAct on AVX2 for nsb super-blocks: the int8
// values to q, the scales to d, the sums of each 16 values to bs.
//
//go:noescape
func quantQ8KY(x *float32, nsb int, q *int8, d *float32, bs *int16)

// simdQuantQ8K quantizes one activation row to Q8_K blocks with quantQ8KY
// (AVX2 and AVX-512) and reports whether it could.
func simdQuantQ8K(is isa, x []float32, xq []int8, xd []float32, bs []int16) bool {
	if is == isaGo || len(xd) == 0 {
		return false
	}
	_, _, _ = x[len(xd)*qkK-1], xq[len(xd)*qkK-1], bs[len(xd)*16-1]
	quantQ8KY(&x[0], len(xd), &xq[0], &xd[0], &bs[0])
	return true
}

// haveQ40Quad reports whether the VBMI Q4_0 kernels (q40s8v) run for rows
// of nb blocks.
func haveQ40Quad(is isa, nb int) bool {
	return is == isaAVX512 && haveVNNI() && haveAVX512VBMI() && cpu.X86.HasAVX512GFNI && nb%4 == 0
}

// f80w4z sets out[r] = Σ_b d_b·Σ_i w_ri·x_i (the float path) for the four
// Q8_0 weight rows at w + r·ldw bytes, nb blocks, float32 activations x.
//
//go:noescape
func f80w4z(w *byte, ldw, nb int, x *float32, tab *float32, out *[4]float32)

// f40w4z is f80w4z for Q4_0 weights.
//
//go:noescape
func f40w4z(w *byte, ldw, nb int, x *float32, tab *float32, out *[4]float32)

// simdFloatKernel returns the AVX-512 float-path kernel for four weight
// rows of type t, nil where there is none.
func simdFloatKernel(is isa, t device.DType) func(w []byte, ldw int, x []float32, out *[4]float32) {
	if is != isaAVX512 {
		return nil
	}
	switch t {
	case device.Q8_0:
		return func(w []byte, ldw int, x []float32, out *[4]float32) {
			f80w4z(&w[0], ldw, len(x)/qk32, &x[0], &f16Table[0], out)
		}
	case device.Q4_0:
		return func(w []byte, ldw int, x []float32, out *[4]float32) {
			f40w4z(&w[0], ldw, len(x)/qk32, &x[0], &f16Table[0], out)
		}
	}
	return nil
}

// haveVNNI reports whether the AVX-512 VNNI kernels can run.
func haveVNNI() bool { return haveAVX512() && cpu.X86.HasAVX512VNNI }

// f16Table[h] is the fp16 number with bits h as a float32: the VNNI
// kernels look weight scales up in it. It is built once and never written.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for h := range t {
		t[h] = f16ToF32(uint16(h))
	}
	return &t
}()

// q6kStreamPrefetch is how far ahead q6kw2z prefetches each of two rows
// far apart (the streams of linearQuant), in bytes.
const q6kStreamPrefetch = 1024

// simdIntKernel returns the assembly integer-path kernels for weights of
// type t, ok false where there are none (the portable Go ones then run).
func simdIntKernel(is isa, t device.DType, nb int) (intKernel, bool) {
	if is == isaGo {
		return intKernel{}, false
	}
	switch t {
	case device.Q8_0, device.Q4_0:
		if t == device.Q4_0 && haveQ40Quad(is, nb) {
			lda := zactQuad.rowBytes(nb)
			return intKernel{
				streams: 8,
				sk: func(w []byte, ldw int, a *qact, m, k, nb int, out []float32) {
					q40s8v(&w[0], ldw, nb/4, &a.za[m*lda], (*[8]float32)(out))
				},
				w4: func(w []byte, ldw int, a *qact, m, k, nb int, out *[4]float32) {
					q40w4v(&w[0], ldw, nb/4, &a.za[m*lda], out)
				},
				x4: func(w []byte, a *qact, m, k, nb int, out *[4]float32) {
					q40x4v(&w[0], nb/4, &a.za[m*lda], lda, out)
				},
				x1: func(w []byte, a *qact, m, k, nb int) float32 {
					var o [4]float32
					q40w4v(&w[0], 0, nb/4, &a.za[m*lda], &o)
					return o[0]
				},
				zact: zactQuad,
			}, true
		}
		if is == isaAVX512 && haveVNNI() && nb%2 == 0 {
			w4, x4, s8 := q80w4z, q80x4z, q80s8z
			if t == device.Q4_0 {
				w4, x4, s8 = q40w4z, q40x4z, q40s8z
			}
			lda := zactPair.rowBytes(nb)
			return intKernel{
				streams: 8,
				sk: func(w []byte, ldw int, a *qact, m, k, nb int, out []float32) {
					s8(&w[0], ldw, nb/2, &a.za[m*lda], &f16Table[0], (*[8]float32)(out))
				},
				w4: func(w []byte, ldw int, a *qact, m, k, nb int, out *[4]float32) {
					w4(&w[0], ldw, nb/2, &a.za[m*lda], &f16Table[0], out)
				},
				x4: func(w []byte, a *qact, m, k, nb int, out *[4]float32) {
					x4(&w[0], nb/2, &a.za[m*lda], lda, &f16Table[0], out)
				},
				x1: func(w []byte, a *qact, m, k, nb int) float32 {
					var o [4]float32
					w4(&w[0], 0, nb/2, &a.za[m*lda], &f16Table[0], &o)
					return o[0]
				},
				zact: zactPair,
			}, true
		}
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
	case device.Q4_K:
		if is == isaAVX512 && haveVNNI() && haveAVX512VBMI() {
			// Batches of 2-9 rows run w4 row by row (the band stays in
			// L2); from 10 rows they take the AMX paths where the CPU has
			// AMX (quantAMX8, then quantAMX).
			return intKernel{
				streams: 4,
				sk: func(w []byte, ldw int, a *qact, m, k, nb int, out []float32) {
					q4kw4z(&w[0], ldw, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], q6kStreamPrefetch, (*[4]float32)(out))
				},
				w4: func(w []byte, ldw int, a *qact, m, k, nb int, out *[4]float32) {
					q4kw4z(&w[0], ldw, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], 4*ldw, out)
				},
				x1: func(w []byte, a *qact, m, k, nb int) float32 {
					var o [4]float32
					q4kw4z(&w[0], 0, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], len(w), &o)
					return o[0]
				},
			}, true
		}
		// AVX2: two rows at a time.
		return intKernel{
			streams: 2,
			sk: func(w []byte, ldw int, a *qact, m, k, nb int, out []float32) {
				q4kw2(&w[0], ldw, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], q6kStreamPrefetch, (*[2]float32)(out))
			},
			w4: func(w []byte, ldw int, a *qact, m, k, nb int, out *[4]float32) {
				q4kw2(&w[0], ldw, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], 2*ldw, (*[2]float32)(out[0:2]))
				q4kw2(&w[2*ldw], ldw, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], 2*ldw, (*[2]float32)(out[2:4]))
			},
			x1: func(w []byte, a *qact, m, k, nb int) float32 {
				var o [2]float32
				q4kw2(&w[0], 0, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], len(w), &o)
				return o[0]
			},
		}, true
	case device.Q6_K:
		if is == isaAVX512 && cpu.X86.HasAVX512BW {
			return intKernel{
				x4: func(w []byte, a *qact, m, k, nb int, out *[4]float32) {
					q6kx4(&w[0], nb, &a.xq[m*k], k, &a.xd[m*nb], nb, out)
				},
				x1: func(w []byte, a *qact, m, k, nb int) float32 {
					return q6kx1z(&w[0], nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], len(w))
				},
				w4: func(w []byte, ldw int, a *qact, m, k, nb int, out *[4]float32) {
					q6kw2z(&w[0], ldw, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], 2*ldw, (*[2]float32)(out[0:2]))
					q6kw2z(&w[2*ldw], ldw, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], 2*ldw, (*[2]float32)(out[2:4]))
				},
				streams: 2,
				sk: func(w []byte, ldw int, a *qact, m, k, nb int, out []float32) {
					q6kw2z(&w[0], ldw, nb, &a.xq[m*k], &a.xd[m*nb], &a.bs[m*k/16], q6kStreamPrefetch, (*[2]float32)(out))
				},
			}, true
		}
		return intKernel{
			x4: func(w []byte, a *qact, m, k, nb int, out *[4]float32) {
				q6kx4(&w[0], nb, &a.xq[m*k], k, &a.xd[m*nb], nb, out)
			},
			x1: func(w []byte, a *qact, m, k, nb int) float32 {
				return q6kx1(&w[0], nb, &a.xq[m*k], &a.xd[m*nb], len(w))
			},
		}, true
	}
	return intKernel{}, false
}

// q4kint8 rewrites 16 rows of nsb Q4_K super-blocks (src, rows ldw bytes
// apart) as int8 values q (dst, row i at i·nsb·256) and, row-major (row i
// at i·nsb·8), each sub-block's d·sc (dsc) and dmin·m (dmn) as float32, for
// qgamx8 in groups of 32 and q4kminZ. It needs AVX-512 BW.
//
//go:noescape
func q4kint8(dst *byte, dsc, dmn *float32, src *byte, nsb, ldw int)

// q6kint8 rewrites 16 rows of nsb Q6_K super-blocks (src, rows ldw bytes
// apart) as int8 values less 32 (dst, row i at i·nsb·256) and the float32
// scale d·sc of every group of 16 (dsc, row-major: dsc[i·nsb·16+g]), exact,
// for qgamx8 once the scales are transposed to group-major. It needs
// AVX-512.
//
//go:noescape
func q6kint8(dst *byte, dsc *float32, src *byte, nsb, ldw int)
