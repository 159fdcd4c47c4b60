//go:build js && wasm

package webgpu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// layerRecorder sets up a small decoder layer on d, in a decode step of 4
// sequences, and returns a function that records the layer's 18
// operations, as the model calls them, without running them.
func layerRecorder(t testing.TB, d *Device) (record func(), dispatches int) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 1))
	const H, I, hd, nh, nkv, rows = 64, 128, 16, 4, 2, 4
	buf := func(n int) device.Buffer {
		x, err := d.NewBuffer(n)
		require.NoError(t, err)
		return x
	}
	weight := func(shape ...int) device.Weight {
		n := 1
		for _, s := range shape {
			n *= s
		}
		w, err := d.UploadWeight("w", device.BF16, shape, randBF16(r, n, 0.1))
		require.NoError(t, err)
		return w
	}
	wq, wk, wv, wo := weight(nh*hd, H), weight(nkv*hd, H), weight(nkv*hd, H), weight(H, nh*hd)
	wg, wu, wd := weight(I, H), weight(I, H), weight(H, I)
	norm, qn, kn := weight(H), weight(hd), weight(hd)
	x, h := buf(rows*H), buf(rows*H)
	q, k, v, att := buf(rows*nh*hd), buf(rows*nkv*hd), buf(rows*nkv*hd), buf(rows*nh*hd)
	g, u := buf(rows*I), buf(rows*I)
	cache, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 4 * 4, BlockSize: 16, KVHeads: nkv, HeadDim: hd})
	require.NoError(t, err)
	var spans [][2]int
	for range rows {
		spans = append(spans, [2]int{40, 1})
	}
	require.NoError(t, d.BeginStep(seqBatch(16, spans), cache))
	record = func() {
		d.RMSNorm(h, x, norm, rows, 1e-6)
		d.Linear(q, h, wq, rows)
		d.Linear(k, h, wk, rows)
		d.Linear(v, h, wv, rows)
		d.RMSNorm(q, q, qn, rows*nh, 1e-6)
		d.RMSNorm(k, k, kn, rows*nkv, 1e-6)
		d.RoPE(q, rows, nh, hd, 1e6)
		d.RoPE(k, rows, nkv, hd, 1e6)
		d.WriteKV(cache, 0, k, v, rows)
		d.Attention(att, q, cache, 0, nh, rows)
		d.Linear(h, att, wo, rows)
		d.Add(x, h, rows*H)
		d.RMSNorm(h, x, norm, rows, 1e-6)
		d.Linear(g, h, wg, rows)
		d.Linear(u, h, wu, rows)
		d.SwiGLU(g, g, u, rows*I)
		d.Linear(h, g, wd, rows)
		d.Add(x, h, rows*H)
	}
	// Run it once: pipelines are compiled and bind groups made on first use.
	record()
	require.NoError(t, d.ReadFloats(make([]float32, 1), x))
	return record, 18
}

// TestRecordAllocs checks that recording a layer's dispatches allocates
// nothing once pipelines exist: the recorder's cost per dispatch is a few
// map lookups and an append.
func TestRecordAllocs(t *testing.T) {
	d := newGPU(t, Options{})
	record, _ := layerRecorder(t, d)
	allocs := testing.AllocsPerRun(20, func() {
		record()
		d.rec.reset()
	})
	require.Zero(t, allocs)
	require.NoError(t, d.rec.err)
}

// BenchmarkRecord measures the Go side of a dispatch: recording a decoder
// layer's 18 operations, without running them.
func BenchmarkRecord(b *testing.B) {
	d := newGPU(b, Options{})
	record, n := layerRecorder(b, d)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		record()
		d.rec.reset()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/dispatch")
}
