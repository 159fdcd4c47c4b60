package quant

import (
	"encoding/binary"
	"fmt"
	"math"
)

// QuantizeRowQ8_0Activations quantizes a row of activations to Q8_0 blocks
// the way llama.cpp's x86 CPU backend does before its integer dot products
// with Q8_0 and Q4_0 weights (ggml-cpu arch/x86 quantize_row_q8_0, the AVX2
// path): per block of 32, amax = max|x|, d = fp16(amax/127), and
// q = round-half-even(x * (127/amax)), saturated to int8 (NaN gives -128).
// This differs from the weight quantizer QuantizeBlockQ8_0 in the
// multiplier (127/amax, not 1/(amax/127)) and the tie rule (to even, not
// away from zero). dst is in the Q8_0 block layout; len(x) must be a
// multiple of 32 and len(dst) len(x)/32*34.
func QuantizeRowQ8_0Activations(dst []byte, x []float32) error {
	if len(x)%QK8_0 != 0 {
		return fmt.Errorf("%w: %d activations (blocks of %d)", ErrRowLength, len(x), QK8_0)
	}
	if want := len(x) / QK8_0 * BlockBytesQ8_0; len(dst) != want {
		return fmt.Errorf("%w: %d bytes for %d activations, want %d", ErrSize, len(dst), len(x), want)
	}
	for b := range len(x) / QK8_0 {
		QuantizeBlockQ8_0Activations((*[BlockBytesQ8_0]byte)(dst[b*BlockBytesQ8_0:]), (*[QK8_0]float32)(x[b*QK8_0:]))
	}
	return nil
}

// QuantizeBlockQ8_0Activations is QuantizeRowQ8_0Activations for one block.
func QuantizeBlockQ8_0Activations(b *[BlockBytesQ8_0]byte, x *[QK8_0]float32) {
	var amax float32
	for _, v := range x {
		amax = cmax(amax, abs32(v))
	}
	d := amax / 127
	binary.LittleEndian.PutUint16(b[0:], F32ToF16(d))
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	for j, v := range x {
		b[2+j] = byte(satInt8(math.RoundToEven(float64(float32(v * id)))))
	}
}

// satInt8 is what x86's cvtps2dq followed by the saturating packs does to a
// float already rounded to an integer: clamp to int8, NaN and values beyond
// int32 give int32's minimum, which saturates to -128.
func satInt8(f float64) int8 {
	switch {
	case f != f || f >= 1<<31 || f < -(1<<31):
		return -128
	case f > 127:
		return 127
	case f < -128:
		return -128
	}
	return int8(f)
}

// BlockQ8K is a block of ggml's Q8_K format (block_q8_K), the activation
// format of llama.cpp's dot products with K-quant weights: 256 int8 values
// with a float32 scale, and the sums of each group of 16 values (which the
// dot products use to apply the weights' mins).
//
// Byte layout (292 bytes): d float32 | qs[256] int8 | bsums[16] int16.
type BlockQ8K struct {
	D     float32
	QS    [QKK]int8
	BSums [QKK / 16]int16
}

// QuantizeRowQ8_K is ggml's quantize_row_q8_K_ref, which llama.cpp's x86
// CPU backend uses as is: per block of 256, max is the value of largest
// magnitude (the first on ties), iscale = -127/max,
// q = min(127, nearest_int(iscale*x)), d = 1/iscale; an all-zero block has
// d = 0 and zero quants (and zero sums here; ggml leaves them unwritten).
// len(x) must be len(dst)*256.
func QuantizeRowQ8_K(dst []BlockQ8K, x []float32) error {
	if len(x)%QKK != 0 {
		return fmt.Errorf("%w: %d activations (blocks of %d)", ErrRowLength, len(x), QKK)
	}
	if len(dst) != len(x)/QKK {
		return fmt.Errorf("%w: %d Q8_K blocks for %d activations, want %d", ErrSize, len(dst), len(x), len(x)/QKK)
	}
	for i := range dst {
		quantizeBlockQ8K(&dst[i], (*[QKK]float32)(x[i*QKK:]))
	}
	return nil
}

func quantizeBlockQ8K(y *BlockQ8K, x *[QKK]float32) {
	var mx, amax float32
	for _, v := range x {
		if ax := abs32(v); ax > amax {
			amax, mx = ax, v
		}
	}
	if amax == 0 {
		*y = BlockQ8K{}
		return
	}
	iscale := -127 / mx
	for j, v := range x {
		y.QS[j] = int8(min(127, nearestInt(float32(iscale*v))))
	}
	for j := range QKK / 16 {
		var sum int32
		for _, q := range y.QS[16*j : 16*j+16] {
			sum += int32(q)
		}
		y.BSums[j] = int16(sum)
	}
	y.D = 1 / iscale
}

// AppendBytes appends the block in ggml's memory layout (little-endian).
func (y *BlockQ8K) AppendBytes(b []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(y.D))
	for _, q := range y.QS {
		b = append(b, byte(q))
	}
	for _, s := range y.BSums {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}
