package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestArgmaxRows checks each row's index of its largest value, the lowest
// on ties, against a scan written out here, for batches small enough to
// run on the calling goroutine and large enough to run on the pool.
func TestArgmaxRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	d := New(Options{Threads: 2})
	defer d.Close()
	for _, c := range []struct{ rows, cols int }{{1, 1}, {1, 7}, {3, 5}, {2, 151936}, {16, 4099}, {64, 151936}} {
		x := randFloats(r, c.rows*c.cols)
		want := make([]int32, c.rows)
		for m := range c.rows {
			row := x[m*c.cols : (m+1)*c.cols]
			if c.cols > 2 {
				// A tie with a later column, and a -Inf: the first of the
				// largest wins.
				j := r.IntN(c.cols - 1)
				row[j] = 10
				row[c.cols-1] = 10
				row[(j+1)%(c.cols-1)] = float32(math.Inf(-1))
			}
			for j := range row {
				if row[j] > row[want[m]] {
					want[m] = int32(j)
				}
			}
		}
		got, err := d.ArgmaxRows(&buffer{data: x}, c.rows, c.cols)
		require.NoError(t, err)
		require.Equal(t, want, got, "%d rows of %d", c.rows, c.cols)
	}
}
