package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPackAMXFast compares the AVX-512 activation packing with the Go one,
// including a partial last tile, and checks that the three parts add up to
// the activations exactly, and the two to their top 16 significant bits.
func TestPackAMXFast(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	if !d.amx {
		t.Skip("no AMX")
	}
	r := rand.New(rand.NewPCG(13, 14))
	rows, k := 37, 96
	x := randFloats(r, rows*k)
	x[5] = 1e-30
	x[6] = -3.75
	x[7] = float32(math.NaN())
	x[8] = float32(math.Inf(-1))
	x[9] = math.MaxFloat32 // rounds up to +Inf in bf16
	x[10] = 1 + 1.0/256    // a tie: to even, 1
	x[11] = 1 + 3.0/256    // a tie: to even, 1 + 4/256
	kbs := k / 32
	for _, parts := range []int{3, 2, 1} {
		for mt := range (rows + 15) / 16 {
			want := make([]uint16, kbs*parts*512)
			got := make([]uint16, kbs*parts*512)
			for i := range got {
				got[i] = 0xdead
			}
			packAMX(want, x, rows, k, mt, parts)
			d.packAMXFast(got, x, rows, k, mt, parts)
			require.Equal(t, want, got, "%d parts, m-tile %d", parts, mt)
			for ml := range 16 {
				m := mt*16 + ml
				if m >= rows {
					continue
				}
				for kk := range k {
					at := (kk/32*parts)*512 + (kk%32/2)*32 + ml*2 + kk%2
					xv := x[m*k+kk]
					if parts == 1 {
						require.Equal(t, nearestBF16Float64(xv), got[at], "row %d k %d (%g)", m, kk, xv)
						continue
					}
					if xv != xv || math.IsInf(float64(xv), 0) {
						continue // the split is for finite activations
					}
					if parts == 2 {
						hi := math.Float32frombits(math.Float32bits(xv) &^ 0xffff)
						want := hi + math.Float32frombits(math.Float32bits(xv-hi)&^0xffff)
						require.Equal(t, want, bf16ToF32(got[at])+bf16ToF32(got[at+512]), "row %d k %d", m, kk)
						if xv != 0 {
							require.LessOrEqual(t, math.Abs(float64(want-xv)), 0x1p-15*math.Abs(float64(xv)), "row %d k %d", m, kk)
						}
						continue
					}
					sum := bf16ToF32(got[at]) + bf16ToF32(got[at+512]) + bf16ToF32(got[at+1024])
					require.Equal(t, xv, sum, "row %d k %d", m, kk)
				}
			}
		}
	}
}
