package quant_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
)

// TestF16ToF32All widens every binary16 value and compares it with
// core/safetensors' independent converter (NaNs: both NaN, same sign).
func TestF16ToF32All(t *testing.T) {
	for h := range 1 << 16 {
		got, want := quant.F16ToF32(uint16(h)), safetensors.F16ToF32(uint16(h))
		if want != want {
			require.True(t, got != got, "%#04x", h)
			require.Equal(t, math.Signbit(float64(want)), math.Signbit(float64(got)), "%#04x", h)
			continue
		}
		require.Equal(t, math.Float32bits(want), math.Float32bits(got), "%#04x", h)
	}
}

// TestF32ToF16Sweep rounds a sweep of float32 bit patterns (every 509th, and
// all patterns near binary16's subnormal, normal and overflow boundaries)
// and compares with core/safetensors' independent converter.
func TestF32ToF16Sweep(t *testing.T) {
	check := func(b uint32) {
		f := math.Float32frombits(b)
		if f != f {
			require.Equal(t, uint16(0x7e00)|uint16(b>>16)&0x8000, quant.F32ToF16(f), "%#08x", b)
			return
		}
		require.Equal(t, safetensors.F32ToF16(f), quant.F32ToF16(f), "%#08x (%g)", b, f)
	}
	for b := uint64(0); b < 1<<32; b += 509 {
		check(uint32(b))
	}
	for _, center := range []uint32{0x33000000, 0x33800000, 0x38800000, 0x477fe000, 0x477ff000, 0x47800000} {
		for d := uint32(0); d < 1<<14; d++ {
			check(center - 1<<13 + d)
			check((center - 1<<13 + d) | 1<<31)
		}
	}
}

// TestHalfHandChecked pins hand-computed roundings: ties to even, the
// subnormal range, overflow to inf.
func TestHalfHandChecked(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{1 + 0x1p-11, 0x3c00},   // tie between 1 and 1+2^-10: even (1)
		{1 + 3*0x1p-11, 0x3c02}, // tie between 1+2^-10 and 1+2^-9: even
		{65504, 0x7bff},         // largest finite
		{65519, 0x7bff},         // below the halfway point to 65536
		{65520, 0x7c00},         // halfway to 65536: ties to even, which is inf
		{1e10, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{0x1p-14, 0x0400},       // smallest normal
		{0x1p-24, 0x0001},       // smallest subnormal
		{0x1p-25, 0x0000},       // tie between 0 and 2^-24: even (0)
		{1.5 * 0x1p-25, 0x0001}, // above the tie
		{3 * 0x1p-25, 0x0002},   // tie between 1 and 2 units: even (2)
		{-5 * 0x1p-25, 0x8002},  // tie between 2 and 3 units: even (2)
		{float32(math.NaN()), 0x7e00},
	}
	for _, c := range cases {
		require.Equal(t, c.want, quant.F32ToF16(c.f), "%g", c.f)
		if c.f == c.f && c.want&0x7c00 != 0x7c00 {
			back := quant.F16ToF32(c.want)
			require.LessOrEqual(t, math.Abs(float64(back-c.f)), math.Abs(float64(c.f))*0x1p-11+0x1p-25, "%g", c.f)
		}
	}
	require.Equal(t, uint16(0x3f80), quant.F32ToBF16(1))
	require.Equal(t, uint16(0x3f80), quant.F32ToBF16(math.Float32frombits(0x3f808000))) // tie: even
	require.Equal(t, uint16(0x3f82), quant.F32ToBF16(math.Float32frombits(0x3f818000))) // tie: even
	require.Equal(t, uint16(0x3f81), quant.F32ToBF16(math.Float32frombits(0x3f808001)))
	require.Equal(t, uint16(0x7f80), quant.F32ToBF16(math.Float32frombits(0x7f7f8000))) // rounds up to inf
	require.Equal(t, uint16(0x7fc1), quant.F32ToBF16(math.Float32frombits(0x7f810000))) // signalling NaN: quiet
	require.Equal(t, float32(1.0078125), quant.BF16ToF32(0x3f81))
}
