//go:build !purego

package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// deqQ80BF16Z widens nb Q8_0 blocks at src to 32·nb bf16 at dst (AVX-512
// with AVX512_BF16), bit-identical to dequantBF16.
//
//go:noescape
func deqQ80BF16Z(dst *uint16, src *byte, nb int)

// deqQ6KBF16Z is deqQ80BF16Z for nsb Q6_K super-blocks (256·nsb bf16).
//
//go:noescape
func deqQ6KBF16Z(dst *uint16, src *byte, nsb int)

// deqQ4KBF16Z is deqQ80BF16Z for nsb Q4_K super-blocks (256·nsb bf16).
//
//go:noescape
func deqQ4KBF16Z(dst *uint16, src *byte, nsb int)

// deqQ40BF16Z is deqQ80BF16Z for Q4_0 blocks.
//
//go:noescape
func deqQ40BF16Z(dst *uint16, src *byte, nb int)

// simdDequantBF16 is dequantBF16 in assembly where there is a kernel for t
// (Q8_0, Q4_0, Q4_K, Q6_K on AVX-512); it reports false, doing nothing, otherwise. The
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
	case device.Q6_K:
		nsb := len(src) / q6_KBytes
		_ = dst[nsb*qkK-1]
		deqQ6KBF16Z(&dst[0], &src[0], nsb)
	case device.Q4_K:
		nsb := len(src) / q4_KBytes
		_ = dst[nsb*qkK-1]
		deqQ4KBF16Z(&dst[0], &src[0], nsb)
	default:
		return false
	}
	return true
}

// q80amx8 computes, on the AMX int8 unit, for nt tiles of 16 Q8_0 weight
// rows and mts tiles of 16 activation rows, c[((jt·mts+mt)·16+i)·16+m] =
// Σ_b d_w(i, b) · dact[(mt·nb+b)·16+m] · Σ_t w_i[b][t]·x_m[b][t]: w points
// at the integers of the first row's first block, rows ldw bytes apart
// (idx[i] = i·ldw), and the activations are packed by packAMX8 (b: nb
// tiles of 8x64 bytes per activation tile, dact: nb·16 block scales per
// activation tile). The weight scales d_w are read from the blocks. tmp is
// amx8Scratch int32s of scratch. While it multiplies weight tile jt it
// prefetches nb·pfstep bytes from pf + jt·nb·pfstep: what the next tile
// will read.
//
//go:noescape
func q80amx8(cfg *byte, w *byte, ldw, nb, nt int, b *byte, dact *float32, mts int, tmp *int32, c *float32, idx *int32, pf *byte, pfstep int)

// qgamx8 is q80amx8 for one tile of 16 weight rows rewritten as int8
// groups of gbytes values (q40int8: 32, q6kint8: 16): w holds ng groups a
// row, rows ldw bytes apart, ws the float32 group scales group-major, and
// the mts activation tiles are packed in groups of the same size
// (packAMX8): c[(mt·16+i)·16+m] = Σ_g ws[g·16+i] · dact[(mt·ng+g)·16+m] ·
// Σ_t w_i[g][t]·x_m[g][t]. cfg must give tiles 1, 2, 4 and 5 the group's
// shapes (amx8TileConfig for 32, amx6TileConfig for 16). Each group also
// prefetches pfstep bytes of what comes next, from pf on.
//
//go:noescape
func qgamx8(cfg *byte, w *byte, ldw, ng, gbytes int, b *byte, dact *float32, ws *float32, mts int, tmp *int32, c *float32, pf *byte, pfstep int)

// q40int8 rewrites 16 contiguous rows of nb Q4_0 blocks as int8 values
// less 8 (dst, row i at i·nb·32) and the blocks' scales as float32,
// block-major (dsc[b·16+i]), exact, for qgamx8.
//
//go:noescape
func q40int8(dst *byte, dsc *float32, src *byte, nb int)

// q40int8v is q40int8 for nb a multiple of 4 on AVX512-VBMI (its byte
// permutes), with the index vectors of newQ40Tables.
//
//go:noescape
func q40int8v(dst *byte, dsc *float32, src *byte, nb int, tab *q40Tables)

// q4kminZ takes Q4_K's mins' term off qgamx8's sums c for one tile of 16
// weight rows and mts tiles of activation rows: c[(mt·16+i)·16+m] -= Σ_g
// mins[g·16+i]·s[(mt·ng+g)·16+m].
//
//go:noescape
func q4kminZ(c, mins, s *float32, ng, mts int)
