package cpu

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
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

// TestLinearArgmax checks that the lm_head fused with the argmax, a slice
// of the vocabulary at a time, gives exactly ArgmaxRows of Linear's
// output, for every weight type and path (batches of 1 to 64 rows), with
// slices far smaller than the default so that there are many.
func TestLinearArgmax(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, opts := range modes(t) {
		d := New(opts)
		d.argmaxChunk = 3000
		for _, dt := range []device.DType{device.F32, device.BF16, device.Q8_0, device.Q4_0, device.Q6_K} {
			const n, k = 1024, 256
			var raw []byte
			switch dt {
			case device.F32:
				raw = make([]byte, 4*n*k)
				for i, v := range randFloats(r, n*k) {
					binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
				}
			case device.BF16:
				raw = randBF16(r, n*k)
			default:
				raw = randQuantRows(r, dt, n, k)
			}
			w, err := d.UploadWeight("lm_head", dt, []int{n, k}, raw)
			require.NoError(t, err)
			for _, rows := range []int{1, 3, 12, 16, 33, 64} {
				x := &buffer{data: randFloats(r, rows*k)}
				out := &buffer{data: make([]float32, rows*n)}
				require.NoError(t, begin(d, oneSeqBatch(1)))
				d.Linear(out, x, w, rows)
				want, err := d.ArgmaxRows(out, rows, n)
				require.NoError(t, err)
				got, err := d.LinearArgmax(x, w, rows)
				require.NoError(t, err)
				require.Equal(t, want, got, "%s %v rows=%d", d.Name(), dt, rows)
			}
		}
		d.Close()
	}
}

// TestArgmaxScan checks LinearArgmax's scan of a slice, with and without
// AVX-512, against the plain one: ties (the first wins, within a slice and
// against the best of earlier slices), NaNs (never chosen), ±0 and -Inf.
func TestArgmaxScan(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	neg0 := float32(math.Copysign(0, -1))
	r := rand.New(rand.NewPCG(11, 12))
	rows := [][]float32{
		{1, 2, 3, 3, 2},
		append(make([]float32, 17), 5, 5),
		{nan, 1, 2, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{neg0, 0, neg0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{-inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -inf, -3},
		randFloats(r, 1000),
	}
	for ri, row := range rows {
		for _, prev := range []struct {
			i int
			v float32
		}{{-1, float32(math.Inf(-1))}, {-1, 0}, {-1, 3}, {-1, 7}} {
			wantI, wantV := prev.i, prev.v
			for j, x := range row {
				if x > wantV {
					wantI, wantV = 100+j, x
				}
			}
			for _, simd := range []bool{false, haveAVX512()} {
				i, v := argmaxScan(row, 100, prev.i, prev.v, simd)
				require.Equal(t, wantI, i, "row %d after %v, simd %v", ri, prev.v, simd)
				require.Equal(t, math.Float32bits(wantV), math.Float32bits(v), "row %d after %v, simd %v", ri, prev.v, simd)
			}
		}
	}
}
