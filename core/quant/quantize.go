package quant

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Quantize encodes len(src) float32 values as type t into dst, byte-exact
// with what llama-quantize writes without an importance matrix (ggml's
// ggml_quantize_chunk, i.e. quantize_row_*_ref for the block types; round to
// nearest even for F16 and BF16). len(src) must be a multiple of the block
// (ErrRowLength) and dst exactly its size (ErrSize).
func Quantize(t device.DType, dst []byte, src []float32) error {
	want, err := RowBytes(t, len(src))
	if err != nil {
		return err
	}
	if len(dst) != want {
		return fmt.Errorf("%w: %d bytes for %d %v values, want %d", ErrSize, len(dst), len(src), t, want)
	}
	switch t {
	case device.F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case device.F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
		}
	case device.BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
		}
	case device.Q8_0:
		for b := range len(src) / QK8_0 {
			QuantizeBlockQ8_0((*[BlockBytesQ8_0]byte)(dst[b*BlockBytesQ8_0:]), (*[QK8_0]float32)(src[b*QK8_0:]))
		}
	case device.Q4_0:
		for b := range len(src) / QK4_0 {
			QuantizeBlockQ4_0((*[BlockBytesQ4_0]byte)(dst[b*BlockBytesQ4_0:]), (*[QK4_0]float32)(src[b*QK4_0:]))
		}
	case device.Q4_K:
		for b := range len(src) / QKK {
			QuantizeBlockQ4_K((*[BlockBytesQ4_K]byte)(dst[b*BlockBytesQ4_K:]), (*[QKK]float32)(src[b*QKK:]))
		}
	case device.Q6_K:
		for b := range len(src) / QKK {
			QuantizeBlockQ6_K((*[BlockBytesQ6_K]byte)(dst[b*BlockBytesQ6_K:]), (*[QKK]float32)(src[b*QKK:]))
		}
	default:
		return fmt.Errorf("%w: %v", ErrDType, t)
	}
	return nil
}

// QuantizeQ8_0 is Quantize(device.Q8_0, dst, src).
func QuantizeQ8_0(dst []byte, src []float32) error { return Quantize(device.Q8_0, dst, src) }

// QuantizeQ4_0 is Quantize(device.Q4_0, dst, src).
func QuantizeQ4_0(dst []byte, src []float32) error { return Quantize(device.Q4_0, dst, src) }

// QuantizeQ4_K is Quantize(device.Q4_K, dst, src).
func QuantizeQ4_K(dst []byte, src []float32) error { return Quantize(device.Q4_K, dst, src) }

// QuantizeQ6_K is Quantize(device.Q6_K, dst, src).
func QuantizeQ6_K(dst []byte, src []float32) error { return Quantize(device.Q6_K, dst, src) }

// QuantizeBlockQ8_0 is ggml's quantize_row_q8_0_ref for one block:
// d = max|x| / 127, q[j] = roundf(x[j] / d) (halfway cases away from zero),
// d stored as fp16.
func QuantizeBlockQ8_0(b *[BlockBytesQ8_0]byte, x *[QK8_0]float32) {
	var amax float32
	for _, v := range x {
		amax = cmax(amax, abs32(v))
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(b[0:], F32ToF16(d))
	for j, v := range x {
		b[2+j] = byte(int8(roundHalfAway(v * id)))
	}
}

// QuantizeBlockQ4_0 is ggml's quantize_row_q4_0_ref for one block: max is
// the value of largest magnitude (the first on ties, sign kept),
// d = max / -8, q = min(15, trunc(x/d + 8.5)); value j goes to the low
// nibble of byte j, value j+16 to its high nibble.
func QuantizeBlockQ4_0(b *[BlockBytesQ4_0]byte, x *[QK4_0]float32) {
	var amax, mx float32
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, mx = a, v
		}
	}
	d := mx / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	binary.LittleEndian.PutUint16(b[0:], F32ToF16(d))
	for j := range QK4_0 / 2 {
		x0 := float32(x[j] * id)
		x1 := float32(x[QK4_0/2+j] * id)
		xi0 := uint8(min(15, int8(x0+8.5)))
		xi1 := uint8(min(15, int8(x1+8.5)))
		b[2+j] = xi0 | xi1<<4
	}
}

// cmax is C's MAX(a, b): a > b ? a : b (so b when either is NaN).
func cmax(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}

// roundHalfAway is (int32)roundf(f), C's round to nearest with halfway
// cases away from zero, for |f| < 2^31: adding ±0.5 (the sign of f, no branch) is exact in float64
// for any float32 in that range, and the conversion truncates toward zero.
// Outside it (and for NaN) the conversion gives what x86's cvttsd2si and
// cvttss2si give, 0x80000000.
func roundHalfAway(f float32) int32 {
	g := float64(f)
	return int32(g + math.Copysign(0.5, g))
}

// nearestInt is ggml's nearest_int: round to nearest even by adding 1.5*2^23
// and reading the mantissa bits (valid for |f| <= 4194303, as ggml asserts;
// other inputs give what the C code gives).
func nearestInt(f float32) int32 {
	val := float32(f) + 12582912
	i := int32(math.Float32bits(val))
	return (i & 0x007fffff) - 0x00400000
}
