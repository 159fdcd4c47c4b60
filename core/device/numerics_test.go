package device

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The expected values are computed independently in float64 and compared
// at float32 rounding.
func TestRoPETables(t *testing.T) {
	inv := RoPEInvFreq(8, 10000)
	require.Len(t, inv, 4)
	for j, f := range inv {
		require.InEpsilon(t, math.Pow(10000, -float64(2*j)/8), float64(f), 1e-6, "inv_freq[%d]", j)
	}
	require.Equal(t, float32(1), inv[0])
	cos, sin := RoPECosSin(nil, nil, inv, 3)
	cos, sin = RoPECosSin(cos, sin, inv, 700)
	require.Len(t, cos, 8)
	for i, pos := range []int{3, 700} {
		for j := range 4 {
			a := float64(pos) * math.Pow(10000, -float64(2*j)/8)
			require.InDelta(t, math.Cos(a), float64(cos[4*i+j]), 2e-7*max(1, a)+1e-7, "cos pos %d pair %d", pos, j)
			require.InDelta(t, math.Sin(a), float64(sin[4*i+j]), 2e-7*max(1, a)+1e-7, "sin pos %d pair %d", pos, j)
		}
	}
}

func TestAttentionScale(t *testing.T) {
	require.Equal(t, float32(0.125), AttentionScale(64))
	require.Equal(t, float32(1/math.Sqrt(128)), AttentionScale(128))
}
