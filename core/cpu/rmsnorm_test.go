package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/stretchr/testify/require"
)

func TestRMSNormSwiGLUAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	d := New(Options{})
	defer d.Close()
	rows, width := 5, 37
	xs := randFloats(r, rows*width)
	wv := randFloats(r, width)
	raw := make([]byte, 4*width)
	for i, v := range wv {
		b := math.Float32bits(v)
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
	}
	w, err := d.UploadWeight("norm", device.F32, []int{width}, raw)
	require.NoError(t, err)
	require.NoError(t, begin(d, oneSeqBatch(1)))
	out := &buffer{data: make([]float32, rows*width)}
	d.RMSNorm(out, &buffer{data: xs}, w, rows, 1e-6)
	for m := range rows {
		var ss float64
		for i := range width {
			ss += float64(xs[m*width+i]) * float64(xs[m*width+i])
		}
		inv := 1 / math.Sqrt(ss/float64(width)+1e-6)
		for i := range width {
			want := float64(xs[m*width+i]) * inv * float64(wv[i])
			relClose(t, want, out.data[m*width+i], math.Abs(want), 1e-6, "rmsnorm[%d][%d]", m, i)
		}
	}
	n := 10001
	g, u := randFloats(r, n), randFloats(r, n)
	g[0], g[1], g[2] = -100, 100, 0
	o := &buffer{data: make([]float32, n)}
	d.SwiGLU(o, &buffer{data: g}, &buffer{data: u}, n)
	for i := range n {
		want := float64(g[i]) / (1 + math.Exp(-float64(g[i]))) * float64(u[i])
		relClose(t, want, o.data[i], math.Abs(want), 1e-6, "swiglu[%d]", i)
	}
	a := &buffer{data: append([]float32(nil), g...)}
	d.Add(a, &buffer{data: u}, n)
	for i := range n {
		require.Equal(t, g[i]+u[i], a.data[i])
	}
	require.NoError(t, d.ReadFloats(nil, a))
}

func TestRMSNormSIMDMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ rows, width int }{{3, 16}, {64, 128}, {9, 1024}, {4, 1000}, {2, 15}} {
		t.Run(fmt.Sprintf("%dx%d", tc.rows, tc.width), func(t *testing.T) {
			xs := randFloats(r, tc.rows*tc.width)
			raw := make([]byte, 4*tc.width)
			for i, v := range randFloats(r, tc.width) {
				b := math.Float32bits(v)
				raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
			}
			var outs [][]float32
			for _, opts := range []Options{{PureGo: true}, {}} {
				d := New(opts)
				w, err := d.UploadWeight("norm", device.F32, []int{tc.width}, raw)
				require.NoError(t, err)
				require.NoError(t, begin(d, oneSeqBatch(1)))
				out := &buffer{data: make([]float32, tc.rows*tc.width)}
				d.RMSNorm(out, &buffer{data: xs}, w, tc.rows, 1e-6)
				require.NoError(t, d.ReadFloats(nil, out))
				outs = append(outs, out.data)
				d.Close()
			}
			for i := range outs[0] {
				// Only the order of the float64 sum of squares differs.
				relClose(t, float64(outs[0][i]), outs[1][i], math.Abs(float64(outs[0][i])), 1e-7, "element %d", i)
			}
		})
	}
}
