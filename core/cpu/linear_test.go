package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/stretchr/testify/require"
)

func TestLinearBF16MatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := []struct{ rows, n, k int }{
		{1, 4, 16}, {1, 7, 33}, {2, 13, 48}, {3, 8, 64}, {4, 12, 100}, {5, 17, 15},
		{7, 9, 160}, {1, 1, 1}, {50, 21, 96}, {97, 70, 80}, {1, 300, 1024}, {8, 8, 64}, {9, 20, 47}, {6, 5, 31}, {32, 32, 32}, {33, 64, 96}, {70, 160, 64}, {64, 288, 1024}, {8, 64, 32}, {16, 128, 64}, {9, 96, 64}, {40, 192, 96}, {17, 32, 64},
		// Many 16-row tiles: AMX tile pairs and an odd last tile.
		{128, 96, 64}, {161, 288, 96}, {300, 64, 128},
	}
	for _, opts := range modes(t) {
		d := New(opts)
		for _, s := range shapes {
			raw := randBF16(r, s.n*s.k)
			w, err := d.UploadWeight("w", device.BF16, []int{s.n, s.k}, raw)
			require.NoError(t, err)
			xs := randFloats(r, s.rows*s.k)
			x := &buffer{data: append([]float32(nil), xs...)}
			out := &buffer{data: make([]float32, s.rows*s.n)}
			require.NoError(t, begin(d, oneSeqBatch(1)))
			d.Linear(out, x, w, s.rows)
			require.NoError(t, d.ReadFloats(nil, out))
			wf := w.(*weight).bf
			for m := range s.rows {
				for j := range s.n {
					var want, scale float64
					for i := range s.k {
						p := float64(xs[m*s.k+i]) * float64(bf16ToF32(wf[j*s.k+i]))
						want += p
						scale += math.Abs(p)
					}
					relClose(t, want, out.data[m*s.n+j], scale, 1e-6, "%s %+v out[%d][%d]", d.Name(), s, m, j)
				}
			}
			require.Equal(t, xs, x.data, "Linear must not modify its input")
		}
		d.Close()
	}
}

func TestLinearF32AndF16(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, opts := range modes(t) {
		d := New(opts)
		n, k, rows := 11, 37, 3
		vals := randFloats(r, n*k)
		raw32 := make([]byte, 4*n*k)
		raw16 := make([]byte, 2*n*k)
		for i, v := range vals {
			b := math.Float32bits(v)
			raw32[4*i], raw32[4*i+1], raw32[4*i+2], raw32[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
			h := uint16(0x3c00 + i%1000) // exact f16 values in [1, 2)
			raw16[2*i], raw16[2*i+1] = byte(h), byte(h>>8)
		}
		xs := randFloats(r, rows*k)
		for _, c := range []struct {
			dt   device.DType
			raw  []byte
			elem func(i int) float64
		}{
			{device.F32, raw32, func(i int) float64 { return float64(vals[i]) }},
			{device.F16, raw16, func(i int) float64 { return 1 + float64(i%1000)/1024 }},
		} {
			w, err := d.UploadWeight("w", c.dt, []int{n, k}, c.raw)
			require.NoError(t, err)
			out := &buffer{data: make([]float32, rows*n)}
			require.NoError(t, begin(d, oneSeqBatch(1)))
			d.Linear(out, &buffer{data: xs}, w, rows)
			require.NoError(t, d.ReadFloats(nil, out))
			for m := range rows {
				for j := range n {
					var want, scale float64
					for i := range k {
						p := float64(xs[m*k+i]) * c.elem(j*k+i)
						want += p
						scale += math.Abs(p)
					}
					relClose(t, want, out.data[m*n+j], scale, 1e-6, "dtype %d out[%d][%d]", c.dt, m, j)
				}
			}
		}
		d.Close()
	}
}

// TestLinearSeesChangedInput runs Linear twice on the same buffer with an
// Add in between: the second result must use the new contents (the AMX
// path reuses its packing of an unchanged input).
func TestLinearSeesChangedInput(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, opts := range modes(t) {
		d := New(opts)
		rows, n, k := 40, 64, 64
		w, err := d.UploadWeight("w", device.BF16, []int{n, k}, randBF16(r, n*k))
		require.NoError(t, err)
		x := &buffer{data: randFloats(r, rows*k)}
		y := &buffer{data: randFloats(r, rows*k)}
		out1 := &buffer{data: make([]float32, rows*n)}
		out2 := &buffer{data: make([]float32, rows*n)}
		require.NoError(t, begin(d, oneSeqBatch(1)))
		d.Linear(out1, x, w, rows)
		d.Linear(out2, x, w, rows)
		require.Equal(t, out1.data, out2.data)
		d.Add(x, y, rows*k)
		d.Linear(out2, x, w, rows)
		require.NoError(t, d.ReadFloats(nil, out2))
		sum := &buffer{data: make([]float32, rows*n)}
		d.Linear(sum, y, w, rows)
		for i := range out2.data {
			relClose(t, float64(out1.data[i])+float64(sum.data[i]), out2.data[i], 10, 1e-5, "%s out[%d]", d.Name(), i)
		}
		d.Close()
	}
}

func TestLinearBF16Precision(t *testing.T) {
	if !haveAVX512() || !enableAMX() {
		t.Skip("no AMX")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, s := range []struct{ rows, n, k int }{{12, 64, 96}, {33, 96, 128}, {161, 288, 96}} {
		for _, threads := range []int{1, 2} {
			d := New(Options{Precision: PrecisionBF16, Threads: threads})
			require.Contains(t, d.Name(), "bf16")
			raw := randBF16(r, s.n*s.k)
			w, err := d.UploadWeight("w", device.BF16, []int{s.n, s.k}, raw)
			require.NoError(t, err)
			xs := randFloats(r, s.rows*s.k)
			out := &buffer{data: make([]float32, s.rows*s.n)}
			require.NoError(t, begin(d, oneSeqBatch(1)))
			d.Linear(out, &buffer{data: xs}, w, s.rows)
			require.NoError(t, d.ReadFloats(nil, out))
			wf := w.(*weight).bf
			var worst float64
			for m := range s.rows {
				for j := range s.n {
					// What the mode computes: activations rounded to bf16,
					// exact products, float32 accumulation.
					var want, exact, scale float64
					for i := range s.k {
						wv := float64(bf16ToF32(wf[j*s.k+i]))
						want += float64(bf16ToF32(nearestBF16Float64(xs[m*s.k+i]))) * wv
						exact += float64(xs[m*s.k+i]) * wv
						scale += math.Abs(float64(xs[m*s.k+i]) * wv)
					}
					relClose(t, want, out.data[m*s.n+j], scale, 1e-6, "%+v out[%d][%d]", s, m, j)
					worst = max(worst, math.Abs(exact-float64(out.data[m*s.n+j]))/scale)
				}
			}
			// Against the exact product the error is bf16's: under 2^-9 of
			// the magnitudes summed, but well above float32's.
			require.Less(t, worst, 1.0/512, "%+v", s)
			require.Greater(t, worst, 1e-5, "%+v: no sign of bf16 rounding", s)
			d.Close()
		}
	}
}
