package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoPEMatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	// hd 16 takes the Go loop; 32 and 128 the AVX-512 kernel where present.
	for _, hd := range []int{16, 32, 128} {
		d := New(Options{})
		n, heads := 40, 3
		b := oneSeqBatch(n)
		for i := range b.Positions {
			b.Positions[i] = int32(i)
		}
		require.NoError(t, begin(d, b))
		xs := randFloats(r, n*heads*hd)
		x := &buffer{data: append([]float32(nil), xs...)}
		d.RoPE(x, n, heads, hd, 1e6)
		require.NoError(t, d.ReadFloats(nil, x))
		for p := range n {
			for h := range heads {
				v := xs[(p*heads+h)*hd:]
				for j := range hd / 2 {
					ang := float64(p) * math.Pow(1e6, -float64(2*j)/float64(hd))
					c, s := math.Cos(ang), math.Sin(ang)
					w1 := float64(v[j])*c - float64(v[j+hd/2])*s
					w2 := float64(v[j+hd/2])*c + float64(v[j])*s
					got := x.data[(p*heads+h)*hd:]
					relClose(t, w1, got[j], 1, 2e-5, "hd %d pos %d head %d dim %d", hd, p, h, j)
					relClose(t, w2, got[j+hd/2], 1, 2e-5, "hd %d pos %d head %d dim %d", hd, p, h, j+hd/2)
				}
			}
		}
		// The kernels round exactly as the portable loop does.
		g := New(Options{PureGo: true})
		require.NoError(t, begin(g, b))
		y := &buffer{data: append([]float32(nil), xs...)}
		g.RoPE(y, n, heads, hd, 1e6)
		require.NoError(t, g.ReadFloats(nil, y))
		require.Equal(t, y.data, x.data, "hd %d", hd)
		d.Close()
		g.Close()
	}
}
