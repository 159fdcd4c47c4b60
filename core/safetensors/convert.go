package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"
)

// BF16ToF32 widens a bfloat16 (the top half of a float32) to float32. It is
// exact: every bfloat16 value is a float32 value.
func BF16ToF32(u uint16) float32 { return math.Float32frombits(uint32(u) << 16) }

// F32ToBF16 rounds a float32 to the nearest bfloat16, ties to even, as
// PyTorch does. NaNs stay NaN (quiet, sign kept) instead of rounding into
// infinity; values beyond the bfloat16 range round to ±Inf.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN
		return uint16(b>>16) | 0x0040
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// F16ToF32 widens an IEEE 754 half-precision value to float32 (exact).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN: keep the payload
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: value is mant * 2^-24; normalise it for float32.
	e := uint32(113) // biased float32 exponent of 2^-14
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// F32ToF16 rounds a float32 to the nearest IEEE 754 half-precision value,
// ties to even, producing subnormals and ±Inf where the value calls for them.
// NaNs stay NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	abs := b & 0x7fffffff
	switch {
	case abs > 0x7f800000: // NaN: quiet, keep the top payload bits
		return sign | 0x7e00 | uint16(abs>>13)&0x1ff
	case abs >= 0x477ff000: // rounds to >= 65520: overflow to Inf
		return sign | 0x7c00
	case abs >= 0x38800000: // normal half (>= 2^-14)
		// Rebias the exponent, then round the 13 dropped mantissa bits;
		// a carry out of the mantissa correctly bumps the exponent.
		v := abs - 0x38000000
		return sign | uint16((v+0xfff+(v>>13)&1)>>13)
	case abs < 0x33000000: // below half the smallest subnormal (2^-25): zero
		return sign
	}
	// Subnormal half: the result is round(value / 2^-24) with the implicit
	// bit restored; shift is how far the float32 mantissa must move right.
	exp := abs >> 23
	mant := abs&0x7fffff | 0x800000
	shift := 126 - exp // exp in [102, 112] -> shift in [14, 24]
	half := uint32(1) << (shift - 1)
	q := mant >> shift
	rem := mant & (1<<shift - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++
	}
	return sign | uint16(q)
}

// hostLittleEndian reports whether the host stores integers little-endian,
// which decides whether tensor bytes can be viewed in place.
func hostLittleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// Uint16s returns the raw 16-bit elements of a BF16 or F16 tensor. On
// little-endian hosts with suitably aligned data the result aliases Data
// (no copy; read-only for memory-mapped files), otherwise it is a copy.
func (t Tensor) Uint16s() ([]uint16, error) {
	if t.DType != BF16 && t.DType != F16 {
		return nil, fmt.Errorf("safetensors: tensor %q is %s, not BF16 or F16", t.Name, t.DType)
	}
	n := len(t.Data) / 2
	if n == 0 {
		return []uint16{}, nil
	}
	if hostLittleEndian() && uintptr(unsafe.Pointer(&t.Data[0]))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&t.Data[0])), n), nil
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
	}
	return out, nil
}

// Float32s returns the elements of an F32 tensor, aliasing Data when the
// host and alignment allow (read-only for memory-mapped files).
func (t Tensor) Float32s() ([]float32, error) {
	if t.DType != F32 {
		return nil, fmt.Errorf("safetensors: tensor %q is %s, not F32", t.Name, t.DType)
	}
	n := len(t.Data) / 4
	if n == 0 {
		return []float32{}, nil
	}
	if hostLittleEndian() && uintptr(unsafe.Pointer(&t.Data[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&t.Data[0])), n), nil
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// ToFloat32 converts a BF16, F16 or F32 tensor to a new float32 slice. Use it
// for small tensors (norm weights); large matrices are best kept in their
// stored dtype and converted inside the kernels.
func (t Tensor) ToFloat32() ([]float32, error) {
	out := make([]float32, len(t.Data)/max(t.DType.Size(), 1))
	switch t.DType {
	case BF16:
		for i := range out {
			out[i] = BF16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	case F16:
		for i := range out {
			out[i] = F16ToF32(binary.LittleEndian.Uint16(t.Data[2*i:]))
		}
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	default:
		return nil, unsupported(t.DType, t.Name)
	}
	return out, nil
}
