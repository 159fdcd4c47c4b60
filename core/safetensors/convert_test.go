package safetensors

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBF16KnownValues(t *testing.T) {
	tests := []struct {
		in   uint32 // float32 bits
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1.0
		{0xc0490fdb, 0xc049}, // -pi: dropped bits 0x0fdb < half, round down
		{0x3f808000, 0x3f80}, // exactly halfway, 0x3f80 is even: stay
		{0x3f818000, 0x3f82}, // exactly halfway, 0x3f81 is odd: round up
		{0x3f808001, 0x3f81}, // just above halfway
		{0x7f7fffff, 0x7f80}, // max float32 rounds to +Inf
		{0x7f800000, 0x7f80}, // +Inf
		{0xff800000, 0xff80}, // -Inf
		{0x80000000, 0x8000}, // -0
		{0x00000001, 0x0000}, // smallest subnormal rounds to 0
		{0x7fc00000, 0x7fc0}, // quiet NaN
		{0x7f800001, 0x7fc0}, // NaN whose payload is only in the low bits must not become Inf
		{0xff800001, 0xffc0}, // and keeps its sign
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, F32ToBF16(math.Float32frombits(tc.in)), "%#08x", tc.in)
	}
	require.Equal(t, float32(1), BF16ToF32(0x3f80))
	require.Equal(t, float32(-2), BF16ToF32(0xc000))
	require.Equal(t, float32(1.0078125), BF16ToF32(0x3f81))
}

// refRound rounds x to the nearer of lo and hi (both representable, lo <=
// x <= hi), ties to the one whose encoding is even: the textbook rule,
// computed in float64 where these differences are exact.
func refRound(x, lo, hi float64, loBits, hiBits uint16) uint16 {
	dl, dh := x-lo, hi-x
	switch {
	case dl < dh:
		return loBits
	case dh < dl:
		return hiBits
	case loBits&1 == 0:
		return loBits
	}
	return hiBits
}

func TestBF16AgainstReference(t *testing.T) {
	// Every bf16 survives a round trip through float32.
	for u := 0; u <= 0xffff; u++ {
		f := BF16ToF32(uint16(u))
		if f != f {
			require.True(t, BF16ToF32(F32ToBF16(f)) != BF16ToF32(F32ToBF16(f)), "NaN %#04x", u)
			continue
		}
		require.Equal(t, uint16(u), F32ToBF16(f), "%#04x", u)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		bits := rng.Uint32()
		f := math.Float32frombits(bits)
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		// Candidates: truncation and the next bf16 away from zero.
		lo := uint16(bits >> 16)
		hi := lo + 1
		a, b := math.Abs(float64(BF16ToF32(lo))), math.Abs(float64(BF16ToF32(hi)))
		if lo&0x7f80 == 0x7f00 && hi&0x7f80 == 0x7f80 { // next is Inf: use 2^128 as the bound
			b = math.Ldexp(1, 128)
		}
		want := refRound(math.Abs(float64(f)), a, b, lo, hi)
		require.Equal(t, want, F32ToBF16(f), "%#08x", bits)
	}
}

// f16Ref decodes a half from its definition, independently of F16ToF32.
func f16Ref(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0x1f:
		if m == 0 {
			return math.Inf(int(s))
		}
		return math.NaN()
	case 0:
		return s * m * math.Ldexp(1, -24)
	}
	return s * (1 + m/1024) * math.Ldexp(1, e-15)
}

func TestF16AgainstReference(t *testing.T) {
	var finite []uint16 // non-negative finite halves, ascending by value
	for u := 0; u <= 0xffff; u++ {
		h := uint16(u)
		want := f16Ref(h)
		got := F16ToF32(h)
		if math.IsNaN(want) {
			require.True(t, got != got, "%#04x", u)
			require.True(t, F16ToF32(F32ToF16(got)) != F16ToF32(F32ToF16(got)), "NaN %#04x stays NaN", u)
			continue
		}
		require.Equal(t, want, float64(got), "%#04x", u)
		require.Equal(t, h, F32ToF16(got), "round trip %#04x", u)
		if h < 0x7c00 {
			finite = append(finite, h)
		}
	}
	sort.Slice(finite, func(i, j int) bool { return f16Ref(finite[i]) < f16Ref(finite[j]) })

	ref := func(f float32) uint16 {
		x := math.Abs(float64(f))
		var sign uint16
		if math.Signbit(float64(f)) {
			sign = 0x8000
		}
		if x >= 65520 { // halfway between 65504 and 2^16 ties to Inf (65504 is odd)
			return sign | 0x7c00
		}
		i := sort.Search(len(finite), func(i int) bool { return f16Ref(finite[i]) >= x })
		if i == len(finite) { // between 65504 and 65520: Inf acts as the next value, 2^16
			return sign | refRound(x, 65504, 65536, 0x7bff, 0x7c00)
		}
		if f16Ref(finite[i]) == x {
			return sign | finite[i]
		}
		return sign | refRound(x, f16Ref(finite[i-1]), f16Ref(finite[i]), finite[i-1], finite[i])
	}
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(f float32) {
		require.Equal(t, ref(f), F32ToF16(f), "%g (%#08x)", f, math.Float32bits(f))
	}
	for i := 0; i < 200000; i++ {
		// Concentrate on the half range, subnormals included.
		check(float32(math.Ldexp(rng.Float64()*2-1, rng.IntN(44)-26)))
	}
	for _, f := range []float32{65504, 65519.99, 65520, 1e9, 5.960464477539063e-08, 2.9802322387695312e-08, 2.98023259e-08, 6.097555e-05, 6.1035156e-05} {
		check(f)
		check(-f)
	}
}

func TestToFloat32(t *testing.T) {
	tests := []struct {
		dt   DType
		data []byte
		want []float32
	}{
		{BF16, []byte{0x80, 0x3f, 0x00, 0xc0}, []float32{1, -2}},
		{F16, []byte{0x00, 0x3c, 0x00, 0xb8, 0x01, 0x00}, []float32{1, -0.5, 5.9604645e-08}},
		{F32, []byte{0x00, 0x00, 0xc0, 0x3f}, []float32{1.5}},
	}
	for _, tc := range tests {
		got, err := Tensor{Name: "x", DType: tc.dt, Data: tc.data}.ToFloat32()
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.dt)
	}
}
