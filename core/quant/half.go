package quant

import "math"

// F16ToF32 widens an IEEE binary16 value to float32 exactly, as ggml's
// ggml_compute_fp16_to_fp32 does (subnormals kept; inf and NaN kept).
func F16ToF32(h uint16) float32 {
	w := uint32(h) << 16
	sign := w & 0x80000000
	twoW := w + w

	const expOffset = uint32(0xE0) << 23
	const expScale = float32(0x1p-112)
	normalized := float32(math.Float32frombits((twoW>>4)+expOffset) * expScale)

	const magicMask = uint32(126) << 23
	const magicBias = float32(0.5)
	denormalized := float32(math.Float32frombits((twoW>>17)|magicMask) - magicBias)

	const denormalizedCutoff = uint32(1) << 27
	var bits uint32
	if twoW < denormalizedCutoff {
		bits = math.Float32bits(denormalized)
	} else {
		bits = math.Float32bits(normalized)
	}
	return math.Float32frombits(sign | bits)
}

// F32ToF16 rounds a float32 to IEEE binary16 as ggml's
// ggml_compute_fp32_to_fp16 does: to nearest, ties to even, subnormal
// results kept, values too large for binary16 become ±inf, NaN becomes
// the quiet NaN 0x7E00 (with the sign).
func F32ToF16(f float32) uint16 {
	const scaleToInf = float32(0x1p+112)
	const scaleToZero = float32(0x1p-110)
	base := float32(float32(abs32(f)*scaleToInf) * scaleToZero)

	w := math.Float32bits(f)
	shl1W := w + w
	sign := w & 0x80000000
	bias := shl1W & 0xFF000000
	if bias < 0x71000000 {
		bias = 0x71000000
	}
	base = math.Float32frombits((bias>>1)+0x07800000) + base
	bits := math.Float32bits(base)
	expBits := (bits >> 13) & 0x00007C00
	mantissaBits := bits & 0x00000FFF
	nonsign := expBits + mantissaBits
	if shl1W > 0xFF000000 {
		nonsign = 0x7E00
	}
	return uint16(sign>>16) | uint16(nonsign)
}

// BF16ToF32 widens a bfloat16 value to float32 exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds a float32 to bfloat16 as ggml's ggml_compute_fp32_to_bf16
// does: to nearest, ties to even; NaN stays NaN (forced quiet).
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + ((u >> 16) & 1))) >> 16)
}

// abs32 is fabsf: it clears the sign bit (NaN payloads kept).
func abs32(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }
