//go:build js && wasm

package webgpu

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// jsBytes copies b into a new JavaScript Uint8Array.
func jsBytes(t testing.TB, b []byte) safejs.Value {
	t.Helper()
	ctor, err := safejs.Global().Get("Uint8Array")
	require.NoError(t, err)
	arr, err := ctor.New(len(b))
	require.NoError(t, err)
	_, err = safejs.CopyBytesToJS(arr, b)
	require.NoError(t, err)
	return arr
}

// TestWeightWriter streams weights from JavaScript arrays in chunks of
// awkward sizes (not multiples of 4, straddling the buffers of a split
// weight) and checks the result through Embed against the CPU device.
func TestWeightWriter(t *testing.T) {
	g := newGPU(t, Options{MaxWeightPartBytes: 1000})
	p := newPair(t, g)
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []struct {
		name   string
		dtype  device.DType
		vocab  int
		hidden int
		chunks []int // chunk sizes, repeated until the data ends
	}{
		{"bf16 odd chunks", device.BF16, 300, 33, []int{1, 3, 7, 1001, 2}},
		{"bf16 one chunk", device.BF16, 300, 64, []int{1 << 30}},
		{"f32 ragged", device.F32, 120, 20, []int{5, 4093}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randWeight(r, tc.dtype, tc.vocab*tc.hidden, 1)
			src := jsBytes(t, data)
			ww, err := g.NewWeightWriter("table", tc.dtype, []int{tc.vocab, tc.hidden})
			require.NoError(t, err)
			for off, k := 0, 0; off < len(data); k++ {
				n := min(tc.chunks[k%len(tc.chunks)], len(data)-off)
				chunk, err := src.Call("subarray", off, off+n)
				require.NoError(t, err)
				require.NoError(t, ww.Write(chunk))
				off += n
			}
			gw, err := ww.Close()
			require.NoError(t, err)
			require.Greater(t, gw.(*Weight).Parts(), 1, "the table must span several buffers")
			cw, err := p.cpu.UploadWeight("table", tc.dtype, []int{tc.vocab, tc.hidden}, data)
			require.NoError(t, err)

			b := seqBatch(16, [][2]int{{0, 40}})
			for i := range b.TokenIDs {
				b.TokenIDs[i] = int32(r.IntN(tc.vocab))
			}
			b.TokenIDs[0], b.TokenIDs[1] = 0, int32(tc.vocab-1)
			out := p.buffer(len(b.TokenIDs) * tc.hidden)
			p.begin(b)
			p.gpu.Embed(out.g, gw)
			p.cpu.Embed(out.c, cw)
			p.check(out, len(b.TokenIDs)*tc.hidden, 0, 0, tc.name)
		})
	}

	t.Run("UploadWeightJS", func(t *testing.T) {
		data := randBF16(r, 10*8, 1)
		w, err := g.UploadWeightJS("w", device.BF16, []int{10, 8}, jsBytes(t, data))
		require.NoError(t, err)
		require.Equal(t, []int{10, 8}, w.Shape())
	})
	t.Run("too short", func(t *testing.T) {
		ww, err := g.NewWeightWriter("w", device.BF16, []int{10, 8})
		require.NoError(t, err)
		require.NoError(t, ww.Write(jsBytes(t, make([]byte, 159))))
		_, err = ww.Close()
		require.ErrorIs(t, err, ErrBadArgument)
	})
	t.Run("too long", func(t *testing.T) {
		ww, err := g.NewWeightWriter("w", device.BF16, []int{10, 8})
		require.NoError(t, err)
		require.ErrorIs(t, ww.Write(jsBytes(t, make([]byte, 161))), ErrBadArgument)
	})
	t.Run("f16 not streamed", func(t *testing.T) {
		_, err := g.NewWeightWriter("w", device.F16, []int{4})
		require.ErrorIs(t, err, ErrUnsupported)
	})
}

// TestErrors checks that misuse is reported as an error from the step's
// read, names the problem, and does not poison the next step.
func TestErrors(t *testing.T) {
	g := newGPU(t, Options{})
	p := newPair(t, g)
	w, err := g.UploadWeight("w", device.F32, []int{4, 4}, make([]byte, 64))
	require.NoError(t, err)
	small, err := g.NewBuffer(4)
	require.NoError(t, err)
	x, err := g.NewBuffer(64)
	require.NoError(t, err)
	cache, err := g.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 2, BlockSize: 16, KVHeads: 1, HeadDim: 4})
	require.NoError(t, err)
	for _, dt := range []device.DType{device.BF16, device.F16} {
		c, err := g.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 2, BlockSize: 16, KVHeads: 1, HeadDim: 4, DType: dt})
		require.NoError(t, err, "a %s KV cache", dt)
		require.Equal(t, dt, c.Spec().DType)
	}
	for _, dt := range []device.DType{device.Q8_0, device.DType(99)} {
		_, err := g.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 2, BlockSize: 16, KVHeads: 1, HeadDim: 4, DType: dt})
		require.ErrorIs(t, err, device.ErrKVCacheDType, "a %s KV cache", dt)
		require.ErrorIs(t, err, ErrUnsupported)
		require.ErrorContains(t, err, dt.String())
	}
	cpuBuf, err := p.cpu.NewBuffer(16)
	require.NoError(t, err)
	other, err := g.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 2, BlockSize: 16, KVHeads: 1, HeadDim: 4})
	require.NoError(t, err)
	ok := seqBatch(16, [][2]int{{0, 4}})
	badToken := seqBatch(16, [][2]int{{0, 4}})
	badToken.TokenIDs[2] = 4

	for _, tc := range []struct {
		name  string
		batch *step.Step
		run   func()
		want  string
	}{
		{"buffer of another device", ok, func() { g.Linear(x, cpuBuf, w, 1) }, "not a webgpu buffer"},
		{"buffer too small", ok, func() { g.Linear(small, x, w, 4) }, "holds 4 floats, needs 16"},
		{"cache of another step", ok, func() { g.WriteKV(other, 0, x, x, 4) }, "the step's: false"},
		{"layer beyond the cache", ok, func() { g.Attention(x, x, cache, 1, 1, 4) }, "layer 1"},
		{"token outside the vocabulary", badToken, func() { g.Embed(x, w) }, "outside the vocabulary"},
		{"rope of odd head_dim", ok, func() { g.RoPE(x, 4, 1, 3, 1e4) }, "head_dim 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, g.BeginStep(tc.batch, cache))
			tc.run()
			err := g.ReadFloats(make([]float32, 4), x)
			require.ErrorIs(t, err, ErrBadArgument)
			require.ErrorContains(t, err, tc.want)
			// The next step starts clean.
			require.NoError(t, g.BeginStep(ok, cache))
			require.NoError(t, g.ReadFloats(make([]float32, 4), x))
		})
	}

	t.Run("op before BeginStep", func(t *testing.T) {
		g2 := newGPU(t, Options{})
		x2, err := g2.NewBuffer(16)
		require.NoError(t, err)
		g2.RoPE(x2, 1, 1, 4, 1e4)
		require.ErrorIs(t, g2.ReadFloats(make([]float32, 1), x2), ErrBadArgument)
	})
	t.Run("bad step", func(t *testing.T) {
		bad := seqBatch(16, [][2]int{{0, 4}})
		bad.Positions = bad.Positions[:2]
		require.ErrorIs(t, g.BeginStep(bad, cache), step.ErrInvalid)
		// Block ids are checked against the cache once, at BeginStep.
		err := g.BeginStep(tableBatch(16, [][2]int{{0, 4}}, [][]int32{{5}}), cache)
		require.ErrorIs(t, err, step.ErrInvalid)
		require.ErrorContains(t, err, "block 5, KV cache has 2")
		err = g.BeginStep(tableBatch(16, [][2]int{{0, 20}}, [][]int32{{0, 2}}), cache)
		require.ErrorContains(t, err, "block 2, KV cache has 2")
		require.ErrorContains(t, g.BeginStep(ok, nil), "not from this webgpu device")
		cpuCache, err := p.cpu.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 2, BlockSize: 16, KVHeads: 1, HeadDim: 4})
		require.NoError(t, err)
		require.ErrorContains(t, g.BeginStep(ok, cpuCache), "not from this webgpu device")
	})
	t.Run("weight bytes", func(t *testing.T) {
		_, err := g.UploadWeight("w", device.BF16, []int{4, 4}, make([]byte, 31))
		require.ErrorIs(t, err, ErrBadArgument)
		_, err = g.UploadWeight("w", device.BF16, []int{4, 0}, nil)
		require.ErrorIs(t, err, ErrBadArgument)
	})
	t.Run("cache over the binding limit", func(t *testing.T) {
		for _, spec := range []device.KVCacheSpec{
			{Layers: 1, NumBlocks: 1 << 20, BlockSize: 16, KVHeads: 8, HeadDim: 128},
			{Layers: 1, NumBlocks: 1 << 20, BlockSize: 16, KVHeads: 8, HeadDim: 128, DType: device.BF16},
			// Products that overflow int64 are refused, not wrapped.
			{Layers: 1, NumBlocks: 1 << 62, BlockSize: 1 << 62, KVHeads: 1, HeadDim: 2, DType: device.F16},
		} {
			_, err := g.NewKVCache(spec)
			require.ErrorIs(t, err, ErrTooLarge, "%+v", spec)
		}
	})
	t.Run("argmax of nothing", func(t *testing.T) {
		_, err := g.ArgmaxRows(x, 0, 4)
		require.ErrorIs(t, err, ErrBadArgument)
	})
}

// TestDeviceLost destroys the GPU device behind the Device's back, as a
// driver reset would, and expects ErrDeviceLost from the next read.
func TestDeviceLost(t *testing.T) {
	g := newGPU(t, Options{})
	x, err := g.NewBuffer(16)
	require.NoError(t, err)
	_, err = g.gpu.Call("destroy")
	require.NoError(t, err)
	// device.lost settles asynchronously; give the event loop a turn.
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, beginScratch(g, seqBatch(16, [][2]int{{0, 1}})))
	err = g.ReadFloats(make([]float32, 4), x)
	require.ErrorIs(t, err, ErrDeviceLost)
	require.False(t, errors.Is(err, ErrBadArgument))
}

// TestNoWebGPU hides navigator.gpu, as a browser without WebGPU has none,
// and expects ErrNoWebGPU so that callers can fall back to the CPU device.
func TestNoWebGPU(t *testing.T) {
	nav, err := safejs.Global().Get("navigator")
	require.NoError(t, err)
	object, err := safejs.Global().Get("Object")
	require.NoError(t, err)
	_, err = object.Call("defineProperty", nav, "gpu", map[string]any{"value": nil, "configurable": true})
	require.NoError(t, err)
	// Deleting the own property uncovers Navigator.prototype.gpu again.
	defer nav.Delete("gpu")
	_, err = New(context.Background(), Options{})
	require.ErrorIs(t, err, ErrNoWebGPU)
}

// TestProfile times the dispatches of one submission with timestamp queries.
func TestProfile(t *testing.T) {
	g := newGPU(t, Options{Kernels: "thread"})
	if err := g.ProfileNext(); errors.Is(err, ErrUnsupported) {
		t.Skip("adapter without timestamp-query")
	}
	w, err := g.UploadWeight("w", device.BF16, []int{256, 64}, randBF16(rand.New(rand.NewPCG(1, 1)), 256*64, 1))
	require.NoError(t, err)
	x, err := g.NewBuffer(64)
	require.NoError(t, err)
	y, err := g.NewBuffer(256)
	require.NoError(t, err)
	require.NoError(t, beginScratch(g, seqBatch(16, [][2]int{{0, 1}})))
	require.NoError(t, g.ProfileNext())
	g.Linear(y, x, w, 1)
	g.Add(y, y, 256)
	require.NoError(t, g.ReadFloats(make([]float32, 4), y))
	prof := g.Profile()
	require.Len(t, prof, 2)
	require.Equal(t, "linear_bf16x8.gemv_thread.none", prof[0].Kernel)
	require.Equal(t, "add.main_self.none", prof[1].Kernel)
	require.Equal(t, [3]uint32{4, 1, 1}, prof[0].Workgroups)
	for _, p := range prof {
		require.GreaterOrEqual(t, p.Duration, time.Duration(0))
	}
	require.Positive(t, prof[0].Duration+prof[1].Duration)

	// Only the next submission is profiled.
	require.NoError(t, beginScratch(g, seqBatch(16, [][2]int{{0, 1}})))
	g.Add(y, y, 256)
	require.NoError(t, g.ReadFloats(make([]float32, 4), y))
	require.Len(t, g.Profile(), 2)
}
