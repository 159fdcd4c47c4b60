package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Quantized weights (Q8_0, Q4_0, Q4_K, Q6_K) are ggml's blocks exactly as a
// GGUF file stores them, row after row, read in place. A matmul against them
// runs one of two numerics (see docs/cpu-kernels.md):
//
//   - the integer path, as llama.cpp does it: each activation row is first
//     rounded to int8 blocks with a float scale (Q8_0 blocks of 32 for Q8_0
//     and Q4_0 weights, Q8_K blocks of 256 for the K-quants), then every
//     block's dot product is an exact integer sum, scaled by the two block
//     scales and added up in float32;
//   - the float path: the activations stay float32 and each weight block's
//     integers are multiplied by them in float32, the block's scale applied
//     to the block's sum: the same as a float matmul on the dequantized
//     weights, up to float32 rounding.
//
// On a machine with AMX, batches of Q8_0 and Q4_0 (Linear picks them with
// quantAMX) instead run on the tile units with the weights dequantized to
// bf16 a band at a time (quant_amx.go).

// Block geometry of the quantized formats (ggml-common.h).
const (
	qk32      = 32  // values per Q8_0 / Q4_0 block
	qkK       = 256 // values per K-quant super-block
	q8_0Bytes = 34  // fp16 d, int8 qs[32]
	q4_0Bytes = 18  // fp16 d, uint8 qs[16]
	q4_KBytes = 144 // fp16 d, fp16 dmin, scales[12], qs[128]
	q6_KBytes = 210 // ql[128], qh[64], int8 scales[16], fp16 d
)

// quantBlock returns the values and bytes per block of a quantized dtype,
// ok false for any other dtype.
func quantBlock(t device.DType) (values, bytes int, ok bool) {
	switch t {
	case device.Q8_0:
		return qk32, q8_0Bytes, true
	case device.Q4_0:
		return qk32, q4_0Bytes, true
	case device.Q4_K:
		return qkK, q4_KBytes, true
	case device.Q6_K:
		return qkK, q6_KBytes, true
	}
	return 0, 0, false
}

// quantWeight checks a quantized matrix's shape and size and wraps its bytes
// (without copying) as a weight.
func quantWeight(name string, dtype device.DType, shape []int, data []byte) (*weight, error) {
	values, bytes, _ := quantBlock(dtype)
	if len(shape) != 2 {
		return nil, fmt.Errorf("cpu: weight %s: %v needs a matrix, got shape %v", name, dtype, shape)
	}
	if shape[1]%values != 0 {
		return nil, fmt.Errorf("cpu: weight %s: rows of %d values are not whole %v blocks of %d", name, shape[1], dtype, values)
	}
	rowBytes := shape[1] / values * bytes
	if shape[0] > len(data)/rowBytes || len(data) != shape[0]*rowBytes {
		return nil, fmt.Errorf("cpu: weight %s: %d bytes, want %d rows of %d bytes for %v %v", name, len(data), shape[0], rowBytes, dtype, shape)
	}
	return &weight{name: name, shape: append([]int(nil), shape...), qt: dtype, q: data, qrow: rowBytes}, nil
}

// quantState is the Device's scratch for quantized matmuls.
type quantState struct {
	// floatPath selects the float path for quantized weights (see above);
	// otherwise the integer path.
	floatPath bool
	act       qact
	bands     bandDequantizer // weight bands as bf16 for the AMX path (quant_amx.go)
	amx8      amx8Acts        // activations packed for the AMX int8 path (quant_amx8.go)
	tiles     sync.Pool       // *[]byte: a tile of Q4_0 or Q6_K weights rewritten as int8 groups for that path
}

// qact holds activation rows rounded to int8 blocks for the integer path:
// xq[m*k+i] are row m's integers, xd[m*nb+b] the float scale of its block b
// (nb = k/32 or k/256) and, for Q8_K, bs[m*k/16+g] the sum of each group of
// 16 integers.
type qact struct {
	xq []int8
	xd []float32
	bs []int16
	za []byte // the zact layout of the AVX-512 VNNI kernels (quant_amd64.go), if any

	key actKey    // what the fields above hold
	gen uint64    // counts the fills, so that derived layouts know theirs is current
	src []float32 // a copy of the activations they were made from
}

// actKey identifies what a qact holds: the activations' shape, the block
// format (32 or 256), the zact layout and its constant c.
type actKey struct {
	rows, k, blk, zc int
	layout           zactLayout
}

// zactLayout is how quantizeActs lays the quantized activations out for
// the AVX-512 VNNI kernels (quant_amd64.s), besides xq and xd.
type zactLayout uint8

const (
	zactNone zactLayout = iota
	// zactPair: per two blocks, zactPairBytes (fillZact).
	zactPair
	// zactQuad: per four blocks, zactQuadBytes (fillZquad), for the
	// AVX512-VBMI Q4_0 kernels.
	zactQuad
)

// rowBytes is the size of one activation row of nb blocks in layout l.
func (l zactLayout) rowBytes(nb int) int {
	switch l {
	case zactPair:
		return nb / 2 * zactPairBytes
	case zactQuad:
		return nb / 4 * zactQuadBytes
	}
	return 0
}

// quantizeActs fills a with x's rows quantized for weights of type t (and
// the zact layout of the VNNI kernels, when one is asked for). Consecutive
// matmuls of one input (q, k and v; gate and up) quantize it once: a keeps
// a copy of the input it holds and compares.
func (d *Device) quantizeActs(a *qact, x []float32, rows, k int, t device.DType, layout zactLayout) {
	blk, zc := qk32, 0
	if t == device.Q4_K || t == device.Q6_K {
		blk = qkK
	}
	switch {
	case layout == zactQuad:
		zc = 2 // Q4_0's q = w + 8: 8·Σx over four lanes
	case layout == zactPair && t == device.Q4_0:
		zc = 1 // 8·Σx over eight lanes
	case layout == zactPair:
		zc = 16 // Q8_0 weights + 128: 128·Σx over eight lanes
	}
	key := actKey{rows, k, blk, zc, layout}
	if a.key == key && slices.Equal(a.src, x) {
		return
	}
	a.key = actKey{} // invalid until filled
	nb := k / blk
	per := layout.rowBytes(nb)
	a.xq = grow(a.xq, rows*k)
	a.xd = grow(a.xd, rows*nb)
	a.bs = grow(a.bs, rows*k/16)
	a.za = grow(a.za, rows*per)
	d.rowsParallel(rows, k, func(m int) {
		xr, qr, za := x[m*k:(m+1)*k], a.xq[m*k:(m+1)*k], a.za[m*per:(m+1)*per]
		if layout != zactNone && simdQuantQ8(d.isa, xr, qr, a.xd[m*nb:(m+1)*nb], za, zc, layout) {
			return
		}
		if blk == qkK && simdQuantQ8K(d.isa, xr, qr, a.xd[m*nb:(m+1)*nb], a.bs[m*k/16:(m+1)*k/16]) {
			return
		}
		for b := range nb {
			if blk == qk32 {
				a.xd[m*nb+b] = quantizeQ8_0Act(qr[b*qk32:(b+1)*qk32], xr[b*qk32:(b+1)*qk32])
			} else {
				a.xd[m*nb+b] = quantizeQ8KAct(qr[b*qkK:(b+1)*qkK], a.bs[m*k/16+b*16:][:16], xr[b*qkK:(b+1)*qkK])
			}
		}
		switch layout {
		case zactPair:
			fillZact(za, qr, a.xd[m*nb:(m+1)*nb], int32(zc))
		case zactQuad:
			fillZquad(za, qr, a.xd[m*nb:(m+1)*nb], int32(zc))
		}
	})
	a.src = append(a.src[:0], x[:rows*k]...)
	a.key = key
	a.gen++
}

// zactPairBytes is the size of one block pair of one activation row in the
// zact layout of the VNNI kernels: the 64 int8 values, 16 int32 lanes
// -c·Σx (each block's sum in its eight lanes; c = 16 for Q8_0 weights,
// 1 for Q4_0, see quant_amd64.s), and 16 float32 block scales.
const zactPairBytes = 192

// zactQuadBytes is the size of four blocks of one activation row in the zquad
// layout of the VBMI Q4_0 kernels: values 0-15 of each block, values
// 16-31 of each block, 16 int32 lanes -c·Σx (c = 2, each block's sum in
// its four lanes) and 16 float32 block scales (four lanes each).
const zactQuadBytes = 256

// fillZact lays out quantized activation row m (k values, nb blocks) for
// the VNNI kernels at za (the AVX-512 quantizer quantQ8Z writes the same
// layout directly).
func fillZact(za []byte, xq []int8, xd []float32, c int32) {
	for p := range len(xd) / 2 {
		dst := za[p*zactPairBytes : (p+1)*zactPairBytes]
		for i, v := range xq[64*p : 64*p+64] {
			dst[i] = byte(v)
		}
		for h := range 2 {
			s := blockSum(xq[64*p+32*h : 64*p+32*h+32])
			for l := range 8 {
				binary.LittleEndian.PutUint32(dst[64+32*h+4*l:], uint32(-c*s))
				binary.LittleEndian.PutUint32(dst[128+32*h+4*l:], math.Float32bits(xd[2*p+h]))
			}
		}
	}
}

// fillZquad is fillZact for the zquad layout (quantQ8Z4 writes it on
// AVX-512).
func fillZquad(za []byte, xq []int8, xd []float32, c int32) {
	for g := range len(xd) / 4 {
		dst := za[g*zactQuadBytes : (g+1)*zactQuadBytes]
		for h := range 4 {
			blk := xq[128*g+32*h : 128*g+32*h+32]
			for i, v := range blk {
				dst[64*(i/16)+16*h+i%16] = byte(v)
			}
			s := blockSum(blk)
			for l := range 4 {
				binary.LittleEndian.PutUint32(dst[128+16*h+4*l:], uint32(-c*s))
				binary.LittleEndian.PutUint32(dst[192+16*h+4*l:], math.Float32bits(xd[4*g+h]))
			}
		}
	}
}

// blockSum is the sum of a block's int8 values.
func blockSum(q []int8) int32 {
	var s int32
	for _, v := range q {
		s += int32(v)
	}
	return s
}

// grow returns s resliced to n elements, reallocated if too small.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// linearQuant is Linear for a quantized weight: out[m*n+j] = x_m · w_j.
func (d *Device) linearQuant(out, x []float32, w *weight, rows, n, k int) {
	band := quantBand(rows, n, d.pool.threads())
	tasks := (n + band - 1) / band
	if d.quant.floatPath {
		dot, w4 := floatDotGo(w.qt), simdFloatKernel(d.isa, w.qt)
		d.pool.run(tasks, func(t int) {
			j0, j1 := t*band, min(n, (t+1)*band)
			j := j0
			if w4 != nil {
				var o [4]float32
				for ; j+4 <= j1; j += 4 {
					for m := range rows {
						w4(w.q[j*w.qrow:(j+4)*w.qrow], w.qrow, x[m*k:(m+1)*k], &o)
						out[m*n+j], out[m*n+j+1], out[m*n+j+2], out[m*n+j+3] = o[0], o[1], o[2], o[3]
					}
				}
			}
			for ; j < j1; j++ {
				wr := w.q[j*w.qrow : (j+1)*w.qrow]
				for m := range rows {
					out[m*n+j] = dot(wr, x[m*k:(m+1)*k])
				}
			}
		})
		return
	}
	a := &d.quant.act
	nb := quantActBlocks(w.qt, k)
	kern := d.intKernels(w.qt, nb)
	d.quantizeActs(a, x, rows, k, w.qt, kern.zact)
	d.pool.run(tasks, func(t int) {
		j0, j1 := t*band, min(n, (t+1)*band)
		quantRows(out, w, a, kern, rows, n, k, nb, j0, j1)
	})
}

// linearQuantFused is linearQuant's integer path for several weights of
// one type sharing the input x (LinearFused): one parallel loop over the
// bands of all of them.
func (d *Device) linearQuantFused(outs [][]float32, x []float32, ws []*weight, rows, k int) {
	a, t := &d.quant.act, ws[0].qt
	nb := quantActBlocks(t, k)
	kern := d.intKernels(t, nb)
	d.quantizeActs(a, x, rows, k, t, kern.zact)
	var bands, counts [maxFused]int
	for i, w := range ws {
		n := w.shape[0]
		bands[i] = quantBand(rows, n, d.pool.threads())
		counts[i] = (n + bands[i] - 1) / bands[i]
	}
	d.runFused(counts[:len(ws)], func(i, t int) {
		w, n := ws[i], ws[i].shape[0]
		j0 := t * bands[i]
		quantRows(outs[i], w, a, kern, rows, n, k, nb, j0, min(n, j0+bands[i]))
	})
}

// quantBand is the number of output features (weight rows) one task of
// linearQuant computes.
func quantBand(rows, n, threads int) int {
	band := bandSize(n, threads)
	if rows == 1 {
		band = max(band, (n/(4*threads))&^3)
	}
	return band
}

// quantActBlocks is the number of activation blocks of a row of k values
// for weights of type t: Q8_0 blocks of 32, or Q8_K blocks of 256 for the
// K-quants.
func quantActBlocks(t device.DType, k int) int {
	if t == device.Q4_K || t == device.Q6_K {
		return k / qkK
	}
	return k / qk32
}

// quantRows computes the output features j0 <= j < j1 of all rows on the
// integer path (the activations already in a).
func quantRows(out []float32, w *weight, a *qact, kern intKernel, rows, n, k, nb, j0, j1 int) {
	var o [4]float32
	m := 0
	if kern.x4 != nil {
		for ; m+4 <= rows; m += 4 {
			for j := j0; j < j1; j++ {
				kern.x4(w.q[j*w.qrow:(j+1)*w.qrow], a, m, k, nb, &o)
				out[m*n+j], out[(m+1)*n+j], out[(m+2)*n+j], out[(m+3)*n+j] = o[0], o[1], o[2], o[3]
			}
		}
	}
	for ; m < rows; m++ {
		j := j0
		if kern.sk != nil {
			// The band's rows in kern.streams streams: row j0+i+s·l of
			// stream s.
			var ok [8]float32
			o := ok[:kern.streams]
			l := (j1 - j0) / kern.streams
			for i := range l {
				kern.sk(w.q[(j0+i)*w.qrow:], l*w.qrow, a, m, k, nb, o)
				for s, v := range o {
					out[m*n+j0+i+s*l] = v
				}
			}
			j = j0 + kern.streams*l
		}
		if kern.w4 != nil {
			for ; j+4 <= j1; j += 4 {
				kern.w4(w.q[j*w.qrow:(j+4)*w.qrow], w.qrow, a, m, k, nb, &o)
				copy(out[m*n+j:m*n+j+4], o[:])
			}
		}
		for ; j < j1; j++ {
			out[m*n+j] = kern.x1(w.q[j*w.qrow:(j+1)*w.qrow], a, m, k, nb)
		}
	}
}

// intKernel computes integer-path dot products: x1 of one weight row with
// activation row m, x4 of one weight row with rows m..m+3, w4 of four
// weight rows (ldw bytes apart) with row m. x4 and w4 are nil where there
// is no such kernel.
type intKernel struct {
	x1 func(w []byte, a *qact, m, k, nb int) float32
	x4 func(w []byte, a *qact, m, k, nb int, out *[4]float32)
	w4 func(w []byte, ldw int, a *qact, m, k, nb int, out *[4]float32)
	// sk is w4 for streams (at most 8) weight rows ldw bytes apart, meant
	// for rows far apart: that many sequential streams read at once, which
	// keeps more reads in flight than adjacent rows (nil where there is
	// none). out has streams elements.
	sk      func(w []byte, ldw int, a *qact, m, k, nb int, out []float32)
	streams int
	// zact is the layout of the activations the kernels read (zactNone:
	// xq and xd).
	zact zactLayout
}

// intKernels picks the integer-path kernels for weights of type t.
func (d *Device) intKernels(t device.DType, nb int) intKernel {
	if k, ok := simdIntKernel(d.isa, t, nb); ok {
		return k
	}
	dot := intDotGo(t)
	return intKernel{x1: func(w []byte, a *qact, m, k, nb int) float32 {
		return dot(w, a.xq[m*k:(m+1)*k], a.xd[m*nb:(m+1)*nb], a.bs[m*k/16:(m+1)*k/16])
	}}
}
