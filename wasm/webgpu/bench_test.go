//go:build js && wasm

package webgpu

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// perFlush is how many copies of a kernel one benchmark iteration records
// before it submits and waits, so that the fixed cost of a submission (and
// of the JavaScript crossings) is shared.
const perFlush = 8

// benchKernel times record(), perFlush times per submission, and reports
// the time per dispatch and the effective bandwidth (bytes moved) and
// arithmetic rate (flops) of one call. Times are wall clock around submit
// and onSubmittedWorkDone.
func benchKernel(b *testing.B, d *Device, sync device.Buffer, bytes, flops float64, record func()) {
	b.Helper()
	run := func() {
		for range perFlush {
			record()
		}
		require.NoError(b, d.ReadFloats(nil, sync))
	}
	run() // compile pipelines, create bind groups
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		run()
	}
	sec := time.Since(start).Seconds() / float64(b.N*perFlush)
	b.StopTimer()
	b.ReportMetric(sec*1e6, "µs/call")
	// The GPU's own clock, where the adapter has timestamp queries: the
	// time of the kernel alone, without submission and read-back.
	if d.ProfileNext() == nil {
		run()
		var gpu time.Duration
		for _, t := range d.Profile() {
			gpu += t.Duration
		}
		if n := len(d.Profile()); n > 0 {
			b.ReportMetric(float64(gpu.Microseconds())/float64(n), "gpu-µs/call")
		}
	}
	if bytes > 0 {
		b.ReportMetric(bytes/sec/1e9, "GB/s")
	}
	if flops > 0 {
		b.ReportMetric(flops/sec/1e9, "GFLOP/s")
	}
}

// BenchmarkKernels times each kernel at Qwen3-0.6B's shapes (hidden 1024,
// 16 query and 8 KV heads of 128, intermediate 3072, vocabulary 151936).
func BenchmarkKernels(b *testing.B) {
	d := newGPU(b, Options{})
	r := rand.New(rand.NewPCG(1, 1))
	const H, I, hd, nh, nkv, V = 1024, 3072, 128, 16, 8, 151936
	buf := func(n int) device.Buffer {
		x, err := d.NewBuffer(n)
		require.NoError(b, err)
		return x
	}
	weight := func(out, in int) device.Weight {
		w, err := d.UploadWeight("w", device.BF16, []int{out, in}, randBF16(r, out*in, 0.02))
		require.NoError(b, err)
		return w
	}
	up := weight(I, H)
	// A 16384-row slice of the 151936-row LM head: the whole one (311 MB)
	// takes seconds per call on SwiftShader.
	const headRows = 16384
	head := weight(headRows, H)
	norm, err := d.UploadWeight("norm", device.BF16, []int{H}, randBF16(r, H, 1))
	require.NoError(b, err)
	const maxRows = 64
	x, y, big := buf(maxRows*H), buf(maxRows*I), buf(2*V)

	// Both decode kernels, whatever the adapter's default.
	auto := d.threadKernels
	for _, thr := range []bool{false, true} {
		d.threadKernels = thr
		require.NoError(b, beginScratch(d, seqBatch(16, [][2]int{{0, 1}})))
		b.Run(fmt.Sprintf("linear-gemv-thread=%v-1x%dx%d", thr, H, I), func(b *testing.B) {
			benchKernel(b, d, y, float64(I*H*2), float64(2*H*I), func() { d.Linear(y, x, up, 1) })
		})
	}
	// 2-byte loads (linear.wgsl) against 16-byte loads (linear_bf16x8.wgsl).
	for _, noVec := range []bool{true, false} {
		d.noVec, d.threadKernels = noVec, true
		require.NoError(b, beginScratch(d, seqBatch(16, [][2]int{{0, 1}})))
		b.Run(fmt.Sprintf("linear-gemv-thread-16byte=%v-1x%dx%d", !noVec, H, I), func(b *testing.B) {
			benchKernel(b, d, y, float64(I*H*2), float64(2*H*I), func() { d.Linear(y, x, up, 1) })
		})
	}
	d.noVec = false
	for _, thr := range []bool{false, true} {
		d.threadKernels = thr
		require.NoError(b, beginScratch(d, seqBatch(16, [][2]int{{0, maxRows}})))
		b.Run(fmt.Sprintf("linear-prefill-thread=%v-%dx%dx%d", thr, maxRows, H, I), func(b *testing.B) {
			benchKernel(b, d, y, float64(I*H*2+maxRows*(H+I)*4), float64(2*maxRows*H*I), func() { d.Linear(y, x, up, maxRows) })
		})
	}
	d.threadKernels = auto
	for _, rows := range []int{1, 4, maxRows} {
		require.NoError(b, beginScratch(d, seqBatch(16, [][2]int{{0, rows}})))
		kind := "gemv"
		if rows > shaders.GemvRows {
			kind = "gemm"
		}
		b.Run(fmt.Sprintf("linear-%s-%dx%dx%d", kind, rows, H, I), func(b *testing.B) {
			benchKernel(b, d, y, float64(I*H*2+rows*(H+I)*4), float64(2*rows*H*I), func() { d.Linear(y, x, up, rows) })
		})
	}
	require.NoError(b, beginScratch(d, seqBatch(16, [][2]int{{0, 1}})))
	b.Run(fmt.Sprintf("linear-gemv-lmhead-1x%dx%d", H, headRows), func(b *testing.B) {
		benchKernel(b, d, big, float64(headRows*H*2), float64(2*H*headRows), func() { d.Linear(big, x, head, 1) })
	})
	b.Run("argmax-2x151936", func(b *testing.B) {
		benchKernel(b, d, big, float64(2*V*4), 0, func() {
			_, err := d.ArgmaxRows(big, 2, V)
			require.NoError(b, err)
		})
	})
	require.NoError(b, beginScratch(d, seqBatch(16, [][2]int{{0, maxRows}})))
	for _, thr := range []bool{false, true} {
		d.threadKernels = thr
		b.Run(fmt.Sprintf("rmsnorm-thread=%v-%dx%d", thr, maxRows, H), func(b *testing.B) {
			benchKernel(b, d, x, float64(2*maxRows*H*4), 0, func() { d.RMSNorm(x, x, norm, maxRows, 1e-6) })
		})
	}
	d.threadKernels = auto
	b.Run(fmt.Sprintf("swiglu-%dx%d", maxRows, I), func(b *testing.B) {
		u := buf(maxRows * I)
		benchKernel(b, d, y, float64(3*maxRows*I*4), 0, func() { d.SwiGLU(y, y, u, maxRows*I) })
	})
	b.Run(fmt.Sprintf("rope-%dx%dx%d", maxRows, nh, hd), func(b *testing.B) {
		q := buf(maxRows * nh * hd)
		benchKernel(b, d, q, float64(2*maxRows*nh*hd*4), 0, func() { d.RoPE(q, maxRows, nh, hd, 1e6) })
	})

	// Attention: a decode batch of 4 sequences with 512 cached tokens each.
	const ctx, seqs = 512, 4
	cache, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: seqs * ctx / 16, BlockSize: 16, KVHeads: nkv, HeadDim: hd})
	require.NoError(b, err)
	var spans [][2]int
	for range seqs {
		spans = append(spans, [2]int{ctx - 1, 1})
	}
	require.NoError(b, d.BeginStep(seqBatch(16, spans), cache))
	q, att := buf(seqs*nh*hd), buf(seqs*nh*hd)
	for _, thr := range []bool{false, true} {
		d.threadKernels = thr
		b.Run(fmt.Sprintf("attention-decode-thread=%v-%dx%d", thr, seqs, ctx), func(b *testing.B) {
			kv := float64(seqs * ctx * nkv * hd * 4 * 2)
			benchKernel(b, d, att, kv, float64(seqs*nh*ctx*hd*4), func() { d.Attention(att, q, cache, 0, nh, seqs) })
		})
	}
	d.threadKernels = auto
}

var benchLayers = flag.Int("layers", 2, "decoder layers of the Qwen3-0.6B shape in BenchmarkModel")

// tensorFunc serves RandomTensors' output to qwen3.LoadFrom.
func tensorFunc(tensors map[string][]byte, shapes map[string][]int) qwen3.TensorFunc {
	return func(n string) (safetensors.Tensor, error) {
		data, ok := tensors[n]
		if !ok {
			return safetensors.Tensor{}, safetensors.ErrTensorNotFound
		}
		return safetensors.Tensor{Name: n, DType: safetensors.BF16, Shape: shapes[n], Data: data}, nil
	}
}

// BenchmarkModel reports prefill and decode tokens/s of the Qwen3-0.6B
// architecture with random weights and the JS crossings per decode step.
// SwiftShader runs on the CPU, so the default keeps 2 of the 28 layers,
// 2 sequences of 32-token prompts and 4 decode steps (set -layers 28 for the
// full model on a real GPU).
func BenchmarkModel(b *testing.B) {
	cfg := qwen3.Qwen3_0_6B
	cfg.NumHiddenLayers = *benchLayers
	d := newGPU(b, Options{})
	tensors, shapes := qwen3.RandomTensors(cfg)
	m, err := qwen3.LoadFrom(cfg, tensorFunc(tensors, shapes), d, qwen3.Options{})
	require.NoError(b, err)
	const prompt, decodes, seqs = 32, 4, 2
	require.NoError(b, m.NewKVCache(seqs*(prompt+decodes+b.N*decodes)/16+seqs*2, 16))
	b.Logf("model: Qwen3-0.6B shape, %d of 28 layers, random bf16 weights, %s", cfg.NumHiddenLayers, d.Name())

	var prefillSec, decodeSec float64
	var prefillToks, decodeToks int
	var crossings int64
	for it := range b.N {
		// Sequences of this iteration use fresh blocks.
		base := it * seqs * ((prompt + decodes + 15) / 16)
		lens := make([]int, seqs)
		for s := range seqs {
			start := time.Now()
			bt := blockBatch(base+s*((prompt+decodes+15)/16), []int{0}, []int{prompt})
			_, err := m.ForwardArgmax(bt)
			require.NoError(b, err)
			prefillSec += time.Since(start).Seconds()
			prefillToks += prompt
			lens[s] = prompt
		}
		for range decodes {
			var firsts, counts []int
			var starts []int
			for s := range seqs {
				firsts = append(firsts, base+s*((prompt+decodes+15)/16))
				starts = append(starts, lens[s])
				counts = append(counts, 1)
				lens[s]++
			}
			bt := multiBatch(firsts, starts, counts)
			before := d.Stats().Crossings
			start := time.Now()
			_, err := m.ForwardArgmax(bt)
			require.NoError(b, err)
			decodeSec += time.Since(start).Seconds()
			crossings = d.Stats().Crossings - before
			decodeToks += seqs
		}
	}
	b.ReportMetric(float64(prefillToks)/prefillSec, "prefill-tok/s")
	b.ReportMetric(float64(decodeToks)/decodeSec, "decode-tok/s")
	b.ReportMetric(float64(crossings), "js-calls/decode-step")
	b.ReportMetric(float64(d.Stats().Dispatches)/float64(d.Stats().Submits), "dispatches/submit")
}

// blockBatch is one sequence whose blocks are first, first+1, ...
func blockBatch(first int, starts, counts []int) *step.Step {
	return multiBatch([]int{first}, starts, counts)
}

// multiBatch lays out sequences s with blocks firsts[s], firsts[s]+1, ...,
// computing tokens [starts[s], starts[s]+counts[s]).
func multiBatch(firsts, starts, counts []int) *step.Step {
	spans := make([][2]int, len(firsts))
	tables := make([][]int32, len(firsts))
	for s := range firsts {
		spans[s] = [2]int{starts[s], counts[s]}
		for k := 0; k*16 < starts[s]+counts[s]; k++ {
			tables[s] = append(tables[s], int32(firsts[s]+k))
		}
	}
	return tableBatch(16, spans, tables)
}
