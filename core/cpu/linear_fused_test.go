package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// TestLinearFusedEqualsLinear checks that LinearFused gives exactly what a
// Linear call per weight gives, on every ISA path, for weights it fuses
// (one quantized type, on the integer path or the int8 tiles), weights it
// does not (mixed types, bf16 weights) and row counts on either side of the
// AMX paths' threshold.
func TestLinearFusedEqualsLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := []struct {
		name  string
		types []device.DType
		ns    []int
		k     int
		fuse  bool // one loop (below the AMX threshold, integer path)
	}{
		{"q8_0 qkv", []device.DType{device.Q8_0, device.Q8_0, device.Q8_0}, []int{301, 67, 67}, 96, true},
		{"q4_0 gate-up", []device.DType{device.Q4_0, device.Q4_0}, []int{130, 130}, 1024, true},
		{"q6_k", []device.DType{device.Q6_K, device.Q6_K}, []int{45, 9}, 512, true},
		{"q4_k", []device.DType{device.Q4_K, device.Q4_K, device.Q4_K}, []int{33, 17, 17}, 256, true},
		{"mixed", []device.DType{device.Q4_K, device.Q4_K, device.Q6_K}, []int{33, 17, 17}, 256, false},
		{"bf16", []device.DType{device.BF16, device.BF16}, []int{40, 24}, 64, false},
		// Whole tiles of 16 weight rows: batches of 10-64 rows fuse on
		// the int8 tiles where the CPU has them.
		{"q8_0 qkv tiles", []device.DType{device.Q8_0, device.Q8_0, device.Q8_0}, []int{128, 64, 64}, 96, true},
		{"q4_0 gate-up tiles", []device.DType{device.Q4_0, device.Q4_0}, []int{96, 96}, 1024, true},
	}
	for _, opts := range append(modes(t), Options{QuantFloat: true}) {
		d := New(opts)
		tilesFused := 0 // cases fused on the int8 tiles
		for _, c := range cases {
			for _, rows := range []int{1, 3, 12, 16, 33} {
				ws := make([]device.Weight, len(c.types))
				for i, dt := range c.types {
					raw := randBF16(r, c.ns[i]*c.k)
					if dt.Quantized() {
						raw = randQuantRows(r, dt, c.ns[i], c.k)
					}
					w, err := d.UploadWeight("w", dt, []int{c.ns[i], c.k}, raw)
					require.NoError(t, err)
					ws[i] = w
				}
				require.NoError(t, begin(d, oneSeqBatch(1)))
				// One loop on the integer path, or on the int8 tiles for
				// all of them.
				wantFuse := c.fuse && !opts.QuantFloat
				for i, n := range c.ns {
					amx8 := d.quantAMX8(c.types[i], rows, n, c.k)
					wantFuse = wantFuse && !(d.quantAMX(c.types[i], rows, n, c.k) && !amx8) && amx8 == d.quantAMX8(c.types[0], rows, c.ns[0], c.k)
				}
				require.Equal(t, wantFuse, d.fusable(ws, rows), "%s %s rows=%d: one loop", d.Name(), c.name, rows)
				if wantFuse && d.quantAMX8(c.types[0], rows, c.ns[0], c.k) {
					tilesFused++
				}
				x := &buffer{data: randFloats(r, rows*c.k)}
				fused, single := make([]device.Buffer, len(ws)), make([]*buffer, len(ws))
				for i, n := range c.ns {
					fused[i] = &buffer{data: make([]float32, rows*n)}
					single[i] = &buffer{data: make([]float32, rows*n)}
				}
				require.NoError(t, begin(d, oneSeqBatch(1)))
				for i, w := range ws {
					d.Linear(single[i], x, w, rows)
				}
				d.LinearFused(fused, x, ws, rows)
				require.NoError(t, d.ReadFloats(nil, x))
				for i := range ws {
					require.Equal(t, single[i].data, fused[i].(*buffer).data, "%s %s rows=%d: weight %d", d.Name(), c.name, rows, i)
				}
			}
		}
		if d.amx8 && !opts.QuantFloat {
			require.Equal(t, 6, tilesFused, "%s: the tile cases of 12, 16 and 33 rows fuse on the int8 tiles", d.Name())
		}
		d.Close()
	}
}

// TestLinearFusedErrors checks that mismatched arguments fail the step with
// an error naming the problem.
func TestLinearFusedErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	d := New(Options{})
	defer d.Close()
	w1, err := d.UploadWeight("a", device.Q8_0, []int{8, 64}, randQuantRows(r, device.Q8_0, 8, 64))
	require.NoError(t, err)
	w2, err := d.UploadWeight("b", device.Q8_0, []int{8, 32}, randQuantRows(r, device.Q8_0, 8, 32))
	require.NoError(t, err)
	x := &buffer{data: randFloats(r, 64)}
	out := []device.Buffer{&buffer{data: make([]float32, 8)}, &buffer{data: make([]float32, 8)}}

	require.NoError(t, begin(d, oneSeqBatch(1)))
	d.LinearFused(out, x, []device.Weight{w1, w2}, 1)
	require.ErrorContains(t, d.ReadFloats(nil, x), "weight b has 32 inputs, a 64")

	require.NoError(t, begin(d, oneSeqBatch(1)))
	d.LinearFused(out[:1], x, []device.Weight{w1, w1}, 1)
	require.ErrorContains(t, d.ReadFloats(nil, x), "1 outputs for 2 weights")
}
