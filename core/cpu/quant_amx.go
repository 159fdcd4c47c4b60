package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// Batched matmuls with quantized weights on the AMX tile units. The tile
// units multiply bf16 only, so each band task of linearAMX first widens its
// amxBand weight rows to bf16 in a scratch of its own (128 rows of k = 3072
// are 768 KiB: it stays in L2) and then runs the bf16 kernels over it. The
// dequantization gives ggml's float32 values: exact for Q8_0, Q4_0 (a
// block's integer times its fp16 scale has at most 19 significant bits)
// and Q6_K (d·sc·q, at most 24), and for Q4_K d·sc·q - dmin·m with the
// one rounding of ggml's dequantize_row_q4_K. Then the rounding to the
// nearest bf16, ties to even, changes the weights by at most 2^-9 of each
// value. The activations are split or rounded as the Precision says.

// quantAMXMinRows is the fewest activation rows for which the AMX path
// beats the integer kernels on quantized weights. Measured on two threads
// (Qwen3-0.6B decode, tokens/s, AMX over integer path): Q8_0 1.02x at 8
// rows, 1.27x at 10, 1.3x at 12; Q4_0 0.93x at 8, 1.07x at 10, 1.09x at
// 12, 1.2x at 16. Q6_K batches of up to 64 rows take the int8 tiles
// (quant_amx8.go: 1.2x this path at 16 rows, 1.46x at 64, in
// BenchmarkQuantGEMM), larger ones this path (deqQ6KBF16Z), 5.9x the
// integer kernels at 512 rows. Q4_K batches take this path from 10 rows
// too (deqQ4KBF16Z; smaller ones run the batch-1 kernel row by row).
const quantAMXMinRows = 10

// quantAMX reports whether a matmul of rows activation rows with an n×k
// weight of type t runs on the AMX path. The float path (Options.QuantFloat)
// promises float32 weights and stays on its own kernels.
func (d *Device) quantAMX(t device.DType, rows, n, k int) bool {
	if !d.amx || d.quant.floatPath || rows < quantAMXMinRows || n%32 != 0 || k%32 != 0 {
		return false
	}
	return t == device.Q8_0 || t == device.Q4_0 || (t == device.Q6_K || t == device.Q4_K) && k%qkK == 0
}

// bandDequantizer hands linearAMX's tasks bands of one quantized weight as
// bf16 rows.
type bandDequantizer struct {
	w    *weight
	k    int
	isa  isa
	free chan []uint16 // free scratches, at most one per pool thread
}

// bandDequantizer returns the Device's dequantizer, set up for w (k values
// a row).
func (d *Device) bandDequantizer(w *weight, k int) *bandDequantizer {
	b := &d.quant.bands
	if b.free == nil {
		b.free = make(chan []uint16, d.pool.threads())
	}
	b.w, b.k, b.isa = w, k, d.isa
	return b
}

// band returns weight rows [j0, j1) as bf16, row-major, in a scratch that
// the caller gives back with release. At most one scratch per pool thread
// is ever made: a task takes a free one before making one.
func (b *bandDequantizer) band(j0, j1 int) []uint16 {
	var s []uint16
	select {
	case s = <-b.free:
	default:
		// Only pool tasks call band, at most threads at once, so the
		// count of scratches stays within the channel's capacity.
	}
	s = grow(s, amxBand*b.k)
	dst := s[:(j1-j0)*b.k]
	src := b.w.q[j0*b.w.qrow : j1*b.w.qrow]
	if !simdDequantBF16(b.isa, b.w.qt, dst, src) {
		dequantBF16(b.w.qt, dst, src)
	}
	return s
}

// release gives a scratch from band back.
func (b *bandDequantizer) release(s []uint16) { b.free <- s }

// dequantBF16 widens the quantized blocks of src (of type t) to dst as bf16,
// rounding each exact float32 value to the nearest bf16, ties to even. It
// is the portable reference for the assembly of simdDequantBF16.
func dequantBF16(t device.DType, dst []uint16, src []byte) {
	values, bytes, _ := quantBlock(t)
	var f [qkK]float32
	for b := range len(src) / bytes {
		dequantRow(t, f[:values], src[b*bytes:(b+1)*bytes])
		for i, v := range f[:values] {
			dst[b*values+i] = bf16Nearest(v)
		}
	}
}
