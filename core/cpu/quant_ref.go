package cpu

import (
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// The portable Go versions of the quantized kernels: activation quantizers,
// integer-path and float-path dot products of one weight row, and the
// dequantization of a row (for Embed). All float arithmetic is float32;
// explicit float32() conversions keep Go from fusing a*b+c where ggml rounds
// the product.

// f16At reads the little-endian fp16 at b[0:2] as a float32.
func f16At(b []byte) float32 { return f16ToF32(uint16(b[0]) | uint16(b[1])<<8) }

// quantizeQ8_0Act rounds 32 activations to int8 as ggml-cpu's
// quantize_row_q8_0 does on x86 and returns the block's scale (the fp16
// value, widened): d = fp16(amax/127), q = round-half-even(x·127/amax).
func quantizeQ8_0Act(q []int8, x []float32) float32 {
	var amax float32
	for _, v := range x[:qk32] {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	for i, v := range x[:qk32] {
		q[i] = satInt8(math.RoundToEven(float64(v * id)))
	}
	return f16ToF32(f32ToF16(amax / 127))
}

// satInt8 clamps a rounded value to int8 as x86's cvtps2dq and saturating
// packs do (NaN and out-of-range values give -128).
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

// quantizeQ8KAct is ggml's quantize_row_q8_K_ref for 256 activations: the
// value of largest magnitude max (first on ties), iscale = -127/max,
// q = min(127, round-half-even(iscale·x)); it fills the 16 group sums and
// returns d = 1/iscale (0 for an all-zero block).
func quantizeQ8KAct(q []int8, bs []int16, x []float32) float32 {
	var mx, amax float32
	for _, v := range x[:qkK] {
		if ax := float32(math.Abs(float64(v))); ax > amax {
			amax, mx = ax, v
		}
	}
	if amax == 0 {
		clear(q[:qkK])
		clear(bs[:16])
		return 0
	}
	iscale := -127 / mx
	for i, v := range x[:qkK] {
		q[i] = satInt8(math.RoundToEven(float64(iscale * v)))
	}
	for g := range 16 {
		var s int32
		for _, v := range q[16*g : 16*g+16] {
			s += int32(v)
		}
		bs[g] = int16(s)
	}
	return 1 / iscale
}

// f32ToF16 rounds to the nearest fp16 (ties to even), keeping subnormals and
// overflowing to inf, as ggml's GGML_FP32_TO_FP16 does.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127
	mant := b & 0x7fffff
	switch {
	case exp == 128: // inf, NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp > 15:
		return sign | 0x7c00
	case exp >= -14:
		h := uint32(exp+15)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
			h++ // may carry into the exponent, up to inf: still correct
		}
		return sign | uint16(h)
	case exp >= -25:
		m := mant | 0x800000 // implicit bit
		shift := uint(-exp - 14 + 13)
		h := m >> shift
		rest := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || rest == half && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	return sign
}

// scaleMinK4 unpacks sub-block j's 6-bit scale and min of a Q4_K block
// (ggml's get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// q6At returns value i (0..255) of a Q6_K block as stored (0..63) and its
// sub-block scale index.
func q6At(b []byte, i int) (q int32, sub int) {
	h, l := i/128, i%128
	ql, qh := b[64*h:], b[128+32*h:]
	switch l / 32 {
	case 0:
		q = int32(ql[l]&0xf | (qh[l]&3)<<4)
	case 1:
		q = int32(ql[l]&0xf | (qh[l-32]>>2&3)<<4)
	case 2:
		q = int32(ql[l-64]>>4 | (qh[l-64]>>4&3)<<4)
	default:
		q = int32(ql[l-64]>>4 | (qh[l-96]>>6&3)<<4)
	}
	return q, i / 16
}

// dequantRow widens one row of k quantized values to float32, bit-exact
// with ggml's dequantize_row_* (the products rounded as ggml's C does).
func dequantRow(t device.DType, dst []float32, src []byte) {
	switch t {
	case device.Q8_0:
		for b := range len(dst) / qk32 {
			blk := src[b*q8_0Bytes:]
			d := f16At(blk)
			for i := range qk32 {
				dst[b*qk32+i] = float32(int8(blk[2+i])) * d
			}
		}
	case device.Q4_0:
		for b := range len(dst) / qk32 {
			blk := src[b*q4_0Bytes:]
			d := f16At(blk)
			for i := range 16 {
				dst[b*qk32+i] = float32(int32(blk[2+i]&0xf)-8) * d
				dst[b*qk32+16+i] = float32(int32(blk[2+i]>>4)-8) * d
			}
		}
	case device.Q4_K:
		for b := range len(dst) / qkK {
			blk := src[b*q4_KBytes:]
			d, dmin := f16At(blk), f16At(blk[2:])
			y := dst[b*qkK:]
			for s := range 8 {
				sc, m := scaleMinK4(s, blk[4:16])
				d1, m1 := d*float32(sc), dmin*float32(m)
				qs := blk[16+32*(s/2):]
				for l := range 32 {
					v := qs[l] & 0xf
					if s%2 == 1 {
						v = qs[l] >> 4
					}
					y[32*s+l] = float32(d1*float32(v)) - m1
				}
			}
		}
	case device.Q6_K:
		for b := range len(dst) / qkK {
			blk := src[b*q6_KBytes:]
			d := f16At(blk[208:])
			for i := range qkK {
				q, sub := q6At(blk, i)
				dst[b*qkK+i] = float32(d*float32(int8(blk[192+sub]))) * float32(q-32)
			}
		}
	}
}

// intDotGo returns the integer-path dot product of a weight row of type t
// with one quantized activation row: xq its integers, xd its block scales,
// bs its group sums (Q8_K).
func intDotGo(t device.DType) func(w []byte, xq []int8, xd []float32, bs []int16) float32 {
	switch t {
	case device.Q8_0:
		return func(w []byte, xq []int8, xd []float32, _ []int16) float32 {
			var acc float32
			for b := range xd {
				blk := w[b*q8_0Bytes:]
				var s int32
				for i, v := range xq[b*qk32 : (b+1)*qk32] {
					s += int32(int8(blk[2+i])) * int32(v)
				}
				acc += float32(f16At(blk)*xd[b]) * float32(s)
			}
			return acc
		}
	case device.Q4_0:
		return func(w []byte, xq []int8, xd []float32, _ []int16) float32 {
			var acc float32
			for b := range xd {
				blk := w[b*q4_0Bytes:]
				x := xq[b*qk32:]
				var s int32
				for i := range 16 {
					s += (int32(blk[2+i]&0xf) - 8) * int32(x[i])
					s += (int32(blk[2+i]>>4) - 8) * int32(x[16+i])
				}
				acc += float32(f16At(blk)*xd[b]) * float32(s)
			}
			return acc
		}
	case device.Q4_K:
		return func(w []byte, xq []int8, xd []float32, bs []int16) float32 {
			var acc float32
			for b := range xd {
				blk := w[b*q4_KBytes:]
				x := xq[b*qkK:]
				var sumi, summ int32
				for s := range 8 {
					sc, m := scaleMinK4(s, blk[4:16])
					qs := blk[16+32*(s/2):]
					var p int32
					for l := range 32 {
						v := qs[l] & 0xf
						if s%2 == 1 {
							v = qs[l] >> 4
						}
						p += int32(v) * int32(x[32*s+l])
					}
					sumi += int32(sc) * p
					summ += int32(m) * (int32(bs[16*b+2*s]) + int32(bs[16*b+2*s+1]))
				}
				dd := xd[b] * f16At(blk)
				dm := xd[b] * f16At(blk[2:])
				acc += float32(dd*float32(sumi)) - float32(dm*float32(summ))
			}
			return acc
		}
	case device.Q6_K:
		return func(w []byte, xq []int8, xd []float32, _ []int16) float32 {
			var acc float32
			for b := range xd {
				blk := w[b*q6_KBytes:]
				x := xq[b*qkK:]
				var sumi int32
				for g := range 16 {
					var p int32
					for i := 16 * g; i < 16*g+16; i++ {
						q, _ := q6At(blk, i)
						p += (q - 32) * int32(x[i])
					}
					sumi += int32(int8(blk[192+g])) * p
				}
				acc += float32(f16At(blk[208:])*xd[b]) * float32(sumi)
			}
			return acc
		}
	}
	panic("cpu: no integer kernel for " + t.String())
}

// floatDotGo returns the float-path dot product of a weight row of type t
// with float32 activations: per block (sub-block for the K-quants), the sum
// of the stored integers times the activations, times the block's scale.
func floatDotGo(t device.DType) func(w []byte, x []float32) float32 {
	switch t {
	case device.Q8_0:
		return func(w []byte, x []float32) float32 {
			var acc float32
			for b := range len(x) / qk32 {
				blk := w[b*q8_0Bytes:]
				var s0, s1 float32
				for i := 0; i < qk32; i += 2 {
					s0 += float32(int8(blk[2+i])) * x[b*qk32+i]
					s1 += float32(int8(blk[3+i])) * x[b*qk32+i+1]
				}
				acc += f16At(blk) * (s0 + s1)
			}
			return acc
		}
	case device.Q4_0:
		return func(w []byte, x []float32) float32 {
			var acc float32
			for b := range len(x) / qk32 {
				blk := w[b*q4_0Bytes:]
				xb := x[b*qk32:]
				var s0, s1 float32
				for i := range 16 {
					s0 += float32(int32(blk[2+i]&0xf)-8) * xb[i]
					s1 += float32(int32(blk[2+i]>>4)-8) * xb[16+i]
				}
				acc += f16At(blk) * (s0 + s1)
			}
			return acc
		}
	case device.Q4_K:
		return func(w []byte, x []float32) float32 {
			var acc float32
			for b := range len(x) / qkK {
				blk := w[b*q4_KBytes:]
				d, dmin := f16At(blk), f16At(blk[2:])
				for s := range 8 {
					sc, m := scaleMinK4(s, blk[4:16])
					qs := blk[16+32*(s/2):]
					xs := x[b*qkK+32*s:]
					var p, sx float32
					for l := range 32 {
						v := qs[l] & 0xf
						if s%2 == 1 {
							v = qs[l] >> 4
						}
						p += float32(v) * xs[l]
						sx += xs[l]
					}
					acc += float32(d*float32(sc))*p - float32(dmin*float32(m))*sx
				}
			}
			return acc
		}
	case device.Q6_K:
		return func(w []byte, x []float32) float32 {
			var acc float32
			for b := range len(x) / qkK {
				blk := w[b*q6_KBytes:]
				d := f16At(blk[208:])
				for g := range 16 {
					var p float32
					for i := 16 * g; i < 16*g+16; i++ {
						q, _ := q6At(blk, i)
						p += float32(q-32) * x[b*qkK+i]
					}
					acc += float32(d*float32(int8(blk[192+g]))) * p
				}
			}
			return acc
		}
	}
	panic("cpu: no float kernel for " + t.String())
}
