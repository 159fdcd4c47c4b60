package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/stretchr/testify/require"
)

// nearestF16Float64 rounds v to the nearest IEEE half by binary search over
// the half values themselves, comparing distances in float64, ties to the
// even significand: an independent check of f16Nearest's bit arithmetic.
func nearestF16Float64(v float32) uint16 {
	if v != v {
		return 0x7e00
	}
	sign := uint16(0)
	a := float64(v)
	if math.Signbit(a) {
		sign, a = 0x8000, -a
	}
	// Finite non-negative halves are 0..0x7bff, increasing with their bits.
	lo, hi := uint16(0), uint16(0x7bff)
	if a >= float64(f16ToF32(hi)) {
		lo = hi
	} else {
		for hi-lo > 1 {
			mid := (lo + hi) / 2
			if float64(f16ToF32(mid)) <= a {
				lo = mid
			} else {
				hi = mid
			}
		}
	}
	hv := float64(f16ToF32(lo + 1))
	if lo == 0x7bff {
		hv = 65536 // the next value if the exponent range went on
	}
	dl, dh := a-float64(f16ToF32(lo)), hv-a
	switch {
	case dl < dh || dl == dh && lo%2 == 0:
		return sign | lo
	}
	return sign | (lo + 1) // 0x7c00, +Inf, past the largest half
}

func TestF16Nearest(t *testing.T) {
	cases := []float32{
		0, float32(math.Copysign(0, -1)), 1, -1, 65504, 65519.99, 65520, 65536, 1e10, -1e10,
		float32(math.Inf(1)), float32(math.Inf(-1)),
		6.1035156e-05, // smallest normal half, 2^-14
		6.0975552e-05, // largest subnormal half
		5.9604645e-08, // smallest subnormal, 2^-24
		2.9802322e-08, // 2^-25: a tie between 0 and 2^-24, to 0
		2.9802326e-08, // just above: to 2^-24
		8.940697e-08,  // 1.5·2^-24: a tie, to the even 2·2^-24
		1 + 1.0/2048,  // a tie between 1 and 1+2^-10, to 1
		1 + 3.0/2048,  // a tie, to the even 1+2^-9
		float32(math.SmallestNonzeroFloat32), 1e-30,
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		// Random magnitudes across the half range and beyond.
		cases = append(cases, float32(r.NormFloat64()*math.Pow(2, float64(r.IntN(50)-30))))
	}
	for _, v := range cases {
		require.Equal(t, nearestF16Float64(v), f16Nearest(v), "%v (%#x)", v, math.Float32bits(v))
	}
	nan := f16Nearest(float32(math.NaN()))
	require.True(t, f16ToF32(nan) != f16ToF32(nan), "NaN stays NaN: %#x", nan)
}

func TestWidenHalf(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := make([]uint16, 37) // a tail past the eight-wide kernels
	for i := range src {
		src[i] = uint16(r.Uint32())
		if src[i]&0x7c00 == 0x7c00 || src[i]&0x7f80 == 0x7f80 {
			src[i] &^= 0x4000 // no NaNs (NaN != NaN) nor infinities, in either format
		}
	}
	for _, dt := range []device.DType{device.BF16, device.F16} {
		for _, simd := range []bool{false, dt == device.BF16 && haveSIMD() || dt == device.F16 && haveF16C()} {
			dst := make([]float32, len(src))
			widenHalf(dst, src, dt, simd)
			for i, h := range src {
				want := bf16ToF32(h)
				if dt == device.F16 {
					want = f16ToF32(h)
				}
				require.Equal(t, want, dst[i], "%s simd %v element %d", dt, simd, i)
			}
		}
	}
}

func TestKVCacheDTypeSpec(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	spec := device.KVCacheSpec{Layers: 2, NumBlocks: 3, BlockSize: 16, KVHeads: 2, HeadDim: 8}
	for _, dt := range []device.DType{device.F32, device.BF16, device.F16} {
		spec.DType = dt
		c, err := d.NewKVCache(spec)
		require.NoError(t, err, dt.String())
		require.Equal(t, spec, c.Spec())
		kc := c.(*kvCache)
		if dt == device.F32 {
			require.Len(t, kc.k[1], 3*16*2*8)
			require.Nil(t, kc.kh)
		} else {
			require.Len(t, kc.vh[1], 3*16*2*8)
			require.Nil(t, kc.k)
		}
	}
	spec.DType = device.Q8_0
	_, err := d.NewKVCache(spec)
	require.ErrorIs(t, err, device.ErrKVCacheDType)
}

// TestHalfRounding checks WriteKV's row rounding, the AVX-512 kernels and
// the Go loop, against the independent float64 roundings, on values that
// include ties, subnormals of both formats, overflow and NaN.
func TestHalfRounding(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	src := make([]float32, 0, 1000)
	src = append(src, 0, 1, -1, 65504, 65520, -65520, 1e30, 3e38, float32(math.Inf(-1)),
		5.9604645e-08, 2.9802322e-08, 8.940697e-08, 1e-39, -1e-40, 1+1.0/2048, 1+1.0/256, 1+3.0/256,
		float32(math.NaN()))
	for len(src) < cap(src)-3 { // 997: a tail past the 16- and 32-wide kernels
		src = append(src, float32(r.NormFloat64()*math.Pow(2, float64(r.IntN(60)-40))))
	}
	for _, opts := range []Options{{}, {PureGo: true}} {
		d := New(opts)
		for _, dt := range []device.DType{device.BF16, device.F16} {
			hr := d.halfRounding(dt)
			got := make([]uint16, len(src))
			hr.round(got, src)
			for i, v := range src {
				want := nearestBF16Float64(v)
				wide, gotWide := bf16ToF32(want), bf16ToF32(got[i])
				if dt == device.F16 {
					want = nearestF16Float64(v)
					wide, gotWide = f16ToF32(want), f16ToF32(got[i])
				}
				if v != v {
					require.True(t, gotWide != gotWide, "%s simd %v: NaN gave %#x", dt, hr.simd, got[i])
					continue
				}
				require.Equal(t, want, got[i], "%s simd %v: %v (%g) gave %g", dt, hr.simd, v, wide, gotWide)
			}
		}
		d.Close()
	}
}
