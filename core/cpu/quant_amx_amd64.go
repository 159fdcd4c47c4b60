//go:build !purego

package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// deqQ80BF16Z widens nb Q8_0 blocks at src to 32·nb bf16 at dst (AVX-512
// with AVX512_BF16), bit-identical to dequantBF16.
//
//go:noescape
func deqQ80BF16Z(dst *uint16, src *byte, nb int)

// deqQ40BF16Z is deqQ80BF16Z for Q4_0 blocks.
//
//go:noescape
func deqQ40BF16Z(dst *uint16, src *byte, nb int)

// simdDequantBF16 is dequantBF16 in assembly where there is a kernel for t
// (Q8_0, Q4_0 on AVX-512); it reports false, doing nothing, otherwise. The
// AVX-512 machines here that reach it have AMX, and so AVX512_BF16.
func simdDequantBF16(is isa, t device.DType, dst []uint16, src []byte) bool {
	if is != isaAVX512 || len(src) == 0 {
		return false
	}
	switch t {
	case device.Q8_0:
		nb := len(src) / q8_0Bytes
		_ = dst[nb*qk32-1]
		deqQ80BF16Z(&dst[0], &src[0], nb)
	case device.Q4_0:
		nb := len(src) / q4_0Bytes
		_ = dst[nb*qk32-1]
		deqQ40BF16Z(&dst[0], &src[0], nb)
	default:
		return false
	}
	return true
}

// q80amx8 computes, on the AMX int8 unit, c[i*16+m] = Σ_b d_w(i, b) ·
// dact[b*16+m] · Σ_t w_i[b][t]·x_m[b][t] for 16 Q8_0 weight rows (w points
// at the integers of the first row's first block, rows ldw bytes apart,
// idx[i] = i·ldw) and 16 activation rows packed by packAMX8 (b: nb tiles
// of 8x64 bytes, dact: nb·16 block scales), over nb blocks. The weight
// scales d_w are read from the blocks. tmp is amx8Scratch int32s of
// scratch.
//
//go:noescape
func q80amx8(cfg *byte, w *byte, ldw, nb int, b *byte, dact *float32, tmp *int32, c *float32, idx *int32)
