package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpf(t *testing.T) {
	for x := -87.0; x <= 88.5; x += 0.0137 {
		want := math.Exp(float64(float32(x)))
		got := expf(float32(x))
		require.InDelta(t, 0, (float64(got)-want)/want, 3e-7, "exp(%v)", x)
	}
	require.Equal(t, float32(0), expf(-1000))
	require.True(t, math.IsInf(float64(expf(1000)), 1))
}

func TestVectorExp(t *testing.T) {
	if !haveAVX512() {
		t.Skip("no AVX-512")
	}
	var xs []float32
	for x := -120.0; x <= 95; x += 0.0173 {
		xs = append(xs, float32(x))
	}
	xs = xs[:len(xs)&^15]
	s := append([]float32(nil), xs...)
	sum := expSumZ(&s[0], len(s), 1, 0)
	var want float64
	for i, x := range xs {
		w := float64(float32(math.Exp(float64(x))))
		want += w
		if w == 0 || math.IsInf(w, 1) || w < 1e-37 {
			if math.IsInf(w, 1) {
				require.True(t, math.IsInf(float64(s[i]), 1), "exp(%v)", x)
			} else {
				require.Less(t, float64(s[i]), 1e-37, "exp(%v)", x)
			}
			continue
		}
		require.InDelta(t, 0, (float64(s[i])-w)/w, 3e-7, "exp(%v)", x)
	}
	require.True(t, math.IsInf(float64(sum), 1))

	g, u := make([]float32, 64), make([]float32, 64)
	for i := range g {
		g[i], u[i] = float32(i-32)*3.1, float32(i%5)-2
	}
	g[0] = -200
	out := make([]float32, 64)
	swigluZ(&out[0], &g[0], &u[0], 64)
	for i := range g {
		w := float64(g[i]) / (1 + math.Exp(-float64(g[i]))) * float64(u[i])
		require.InDelta(t, w, float64(out[i]), 1e-6*(1+math.Abs(w)), "swiglu(%v, %v)", g[i], u[i])
	}
}

func TestSumF32AVX(t *testing.T) {
	if !haveSIMD() {
		t.Skip("no AVX2")
	}
	for _, n := range []int{64, 128, 4096, 1 << 16} {
		a := make([]float32, n)
		want := 0.0
		for i := range a {
			a[i] = float32(i%7) - 2 // small integers: every partial sum exact
			want += float64(a[i])
		}
		require.Equal(t, float32(want), sumF32AVX(&a[0], n), "n=%d", n)
	}
}

func TestTransposeTileZ(t *testing.T) {
	if !haveAVX512() {
		t.Skip("no AVX-512")
	}
	const ldc, ldo = 20, 40
	var c [16 * ldc]float32
	for i := range c {
		c[i] = float32(i) + 0.5
	}
	for _, n := range []int{1, 7, 15, 16} {
		out := make([]float32, 17*ldo)
		for i := range out {
			out[i] = -1
		}
		transposeTileZ(&c[0], ldc, &out[3], ldo, n)
		for j := range 17 {
			for col := range ldo {
				want := float32(-1) // untouched outside the n rows and 16 columns
				if i := col - 3; j < n && i >= 0 && i < 16 {
					want = c[i*ldc+j]
				}
				require.Equal(t, want, out[j*ldo+col], "n=%d row %d col %d", n, j, col)
			}
		}
	}
}

func TestMaxZ(t *testing.T) {
	if !haveAVX512() {
		t.Skip("no AVX-512")
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name  string
		n     int
		set   map[int]float32
		isNaN bool
	}{
		{"random16", 16, nil, false},
		{"random512", 512, nil, false},
		{"max in last lane", 64, map[int]float32{63: 100}, false},
		{"max in first lane", 48, map[int]float32{0: 100}, false},
		{"all negative", 32, map[int]float32{5: -1e-30}, false},
		{"+inf", 32, map[int]float32{17: inf}, false},
		{"nan propagates", 64, map[int]float32{40: nan}, true},
		{"nan in first element", 16, map[int]float32{0: nan}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := randFloats(r, tc.n)
			if tc.name == "all negative" {
				for i := range s {
					s[i] = -1 - float32(math.Abs(float64(s[i])))
				}
			}
			for i, v := range tc.set {
				s[i] = v
			}
			want := s[0]
			for _, v := range s {
				want = max(want, v)
			}
			got := maxZ(&s[0], tc.n)
			if tc.isNaN {
				require.True(t, math.IsNaN(float64(got)), "got %v", got)
				return
			}
			require.Equal(t, want, got)
		})
	}
}
