//go:build js && wasm

package webgpu

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
)

// The prepared GPU benchmark: TestGPUBench, run by scripts/gpu-bench.sh
// (docs/webgpu.md, "The prepared GPU benchmark") with -gpubench. It prints
// one line "GPUBENCH {json}" that the script turns into its JSON and
// markdown summaries.

var (
	gbOn      = flag.Bool("gpubench", false, "run TestGPUBench, the prepared GPU benchmark (scripts/gpu-bench.sh)")
	gbWeights = flag.String("gpubench.weights", "bf16", "weight format of the GEMVs and the model: bf16, q8_0 or q4_0")
	gbKV      = flag.String("gpubench.kv", "f32", "KV cache dtype of the model: f32, bf16 or f16")
	gbLayers  = flag.Int("gpubench.layers", 28, "decoder layers of the Qwen3-0.6B shape")
	gbVocab   = flag.Int("gpubench.vocab", 151936, "vocabulary (embedding and LM head rows); smaller for a quick run")
	gbPrompt  = flag.Int("gpubench.prompt", 128, "tokens of the prefill measured")
	gbDecode  = flag.Int("gpubench.decode", 32, "decode steps measured at each batch size")
	gbReps    = flag.Int("gpubench.reps", 3, "prefills measured (the median is reported)")
	gbRotate  = flag.Int64("gpubench.rotate-bytes", 256<<20, "GEMV weights rotated through per round, in bytes: more than the GPU's last-level cache, so that each call reads memory")
	gbRounds  = flag.Int("gpubench.rounds", 3, "timed rounds of each GEMV (over the rotated weights) and attention")
	gbCtx     = flag.Int("gpubench.attn-ctx", 2048, "cached tokens of each sequence in the attention measurement")
	gbSeqs    = flag.Int("gpubench.attn-seqs", 8, "sequences decoded together in the attention measurement")
)

// gbResult is what TestGPUBench reports.
type gbResult struct {
	Adapter        string      `json:"adapter"`
	Kernels        string      `json:"kernels"` // "coop" or "thread"
	TimestampQuery bool        `json:"timestamp_query"`
	Weights        string      `json:"weights"`
	KVCacheDType   string      `json:"kv_cache_dtype"`
	Gemv           []gbGemv    `json:"gemv"`
	Attention      []gbAttn    `json:"attention"`
	Model          gbModel     `json:"model"`
	Flags          gbFlagsEcho `json:"flags"`
}

// gbFlagsEcho records the run's sizes.
type gbFlagsEcho struct {
	Layers      int   `json:"layers"`
	Vocab       int   `json:"vocab"`
	Prompt      int   `json:"prompt"`
	Decode      int   `json:"decode_steps"`
	Reps        int   `json:"prefill_reps"`
	Rounds      int   `json:"gemv_rounds"`
	RotateBytes int64 `json:"rotate_bytes"`
	AttnCtx     int   `json:"attn_ctx"`
	AttnSeqs    int   `json:"attn_seqs"`
}

// gbAttn is one decode attention over a KV cache of one dtype.
type gbAttn struct {
	KVDType string  `json:"kv_cache_dtype"`
	KVBytes int64   `json:"kv_bytes"` // keys and values one call reads
	Calls   int     `json:"calls"`
	WallUS  float64 `json:"wall_us_per_call"`
	GPUUS   float64 `json:"gpu_us_per_call,omitempty"`
	GBps    float64 `json:"kv_gb_per_s"`
	Timer   string  `json:"timer"`
}

// gbGemv is one decode matmul shape: y = x·Wᵀ for one row of x.
type gbGemv struct {
	Name        string  `json:"name"`
	Out         int     `json:"out"`
	In          int     `json:"in"`
	WeightBytes int64   `json:"weight_bytes"` // of one copy
	Copies      int     `json:"copies"`       // distinct weights rotated through
	Calls       int     `json:"calls"`        // dispatched and timed
	WallUS      float64 `json:"wall_us_per_call"`
	GPUUS       float64 `json:"gpu_us_per_call,omitempty"` // timestamp queries
	GBps        float64 `json:"weight_gb_per_s"`           // from GPU time where there is one, else wall
	Timer       string  `json:"timer"`                     // "gpu-timestamps" or "wall"
}

// gbModel is the whole model's throughput.
type gbModel struct {
	Layers          int     `json:"layers"`
	Vocab           int     `json:"vocab"`
	LoadSeconds     float64 `json:"load_seconds"`
	WeightBytes     int64   `json:"weight_bytes"` // the model's weights as uploaded
	PrefillTokens   int     `json:"prefill_tokens"`
	PrefillTokS     float64 `json:"prefill_tok_s"`
	Decode1TokS     float64 `json:"decode_b1_tok_s"`
	Decode8TokS     float64 `json:"decode_b8_tok_s"`
	DecodeSteps     int     `json:"decode_steps"`
	StepWeightBytes int64   `json:"decode_step_weight_bytes"` // read by one decode step
	Decode1GBps     float64 `json:"decode_b1_weight_gb_per_s"`
	JSCallsPerStep  int64   `json:"js_calls_per_decode_step"`
}

// gbDType parses a weight or cache format name.
func gbDType(s string) (device.DType, error) {
	for _, dt := range []device.DType{device.F32, device.BF16, device.F16, device.Q8_0, device.Q4_0} {
		if dt.String() == s {
			return dt, nil
		}
	}
	return 0, fmt.Errorf("unknown format %q", s)
}

// TestGPUBench measures, on whatever adapter the runtime offers: each
// decode GEMV's achieved weight bandwidth at Qwen3-0.6B's shapes, and the
// Qwen3-0.6B-shaped model's prefill and batch-1 and batch-8 decode
// throughput with random weights in the chosen format.
func TestGPUBench(t *testing.T) {
	if !*gbOn {
		t.Skip("the prepared GPU benchmark runs with -gpubench (scripts/gpu-bench.sh)")
	}
	wdt, err := gbDType(*gbWeights)
	require.NoError(t, err)
	require.Contains(t, []device.DType{device.BF16, device.Q8_0, device.Q4_0}, wdt, "-gpubench.weights")
	kdt, err := gbDType(*gbKV)
	require.NoError(t, err)
	d := newGPU(t, Options{})
	res := gbResult{
		Adapter: d.Name(), Kernels: map[bool]string{true: "thread", false: "coop"}[d.threadKernels],
		TimestampQuery: d.timestamps, Weights: wdt.String(), KVCacheDType: kdt.String(),
		Flags: gbFlagsEcho{*gbLayers, *gbVocab, *gbPrompt, *gbDecode, *gbReps, *gbRounds, *gbRotate, *gbCtx, *gbSeqs},
	}
	t.Logf("adapter %q, %s kernels, timestamp-query %v", res.Adapter, res.Kernels, res.TimestampQuery)

	cfg := qwen3.Qwen3_0_6B
	cfg.NumHiddenLayers, cfg.VocabSize = *gbLayers, *gbVocab
	if cfg.VocabSize != qwen3.Qwen3_0_6B.VocabSize {
		// A smaller vocabulary for a quick run: special ids inside it.
		cfg.BOSTokenID, cfg.EOSTokenIDs = 0, []int{cfg.VocabSize - 1}
	}
	H, I := cfg.HiddenSize, cfg.IntermediateSize
	for _, sh := range []struct {
		name    string
		out, in int
	}{
		{"mlp.gate_up", I, H},
		{"mlp.down", H, I},
		{"attn.q", cfg.NumAttentionHeads * cfg.HeadDim, H},
		{"lm_head", cfg.VocabSize, H},
	} {
		g := gbGemvRun(t, d, wdt, sh.name, sh.out, sh.in)
		t.Logf("gemv %s %dx%d %s: %.1f µs wall, %.1f µs GPU, %.1f GB/s of weights (%s)", g.Name, g.Out, g.In, wdt, g.WallUS, g.GPUUS, g.GBps, g.Timer)
		res.Gemv = append(res.Gemv, g)
	}

	for _, dt := range []device.DType{device.F32, device.BF16, device.F16} {
		a := gbAttnRun(t, d, cfg, dt)
		t.Logf("attention %d x %d cached, %s cache: %.1f µs wall, %.1f µs GPU, %.2f GB/s of K and V (%s)", *gbSeqs, *gbCtx, dt, a.WallUS, a.GPUUS, a.GBps, a.Timer)
		res.Attention = append(res.Attention, a)
	}

	res.Model = gbModelRun(t, d, cfg, wdt, kdt)
	b, err := json.Marshal(res)
	require.NoError(t, err)
	fmt.Printf("GPUBENCH %s\n", b)
}

// gbWeightBytes returns out x in random weights in format dt.
func gbWeightBytes(t *testing.T, r *rand.Rand, dt device.DType, out, in int) []byte {
	if dt == device.BF16 {
		return randBF16(r, out*in, 0.02)
	}
	n, err := quant.Bytes(dt, out, in)
	require.NoError(t, err)
	b := make([]byte, n)
	require.NoError(t, quant.Quantize(dt, b, randFloats(r, out*in, 0.02)))
	return b
}

// gbGemvRun times one-row Linear calls over enough distinct copies of an
// out x in weight that they do not fit the GPU's last-level cache (H200:
// 60 MB of L2), so every call reads its weight from memory.
func gbGemvRun(t *testing.T, d *Device, dt device.DType, name string, out, in int) gbGemv {
	r := rand.New(rand.NewPCG(uint64(out), uint64(in)))
	data := gbWeightBytes(t, r, dt, out, in)
	copies := max(1, int((*gbRotate+int64(len(data))-1)/int64(len(data))))
	ws := make([]device.Weight, copies)
	for i := range ws {
		w, err := d.UploadWeight(name, dt, []int{out, in}, data)
		require.NoError(t, err)
		ws[i] = w
	}
	defer func() { // the buffers only; the device forgets their bind groups
		for _, w := range ws {
			for _, p := range w.(*Weight).parts {
				d.destroy(p.buf)
			}
		}
	}()
	x, err := d.NewBuffer(in)
	require.NoError(t, err)
	y, err := d.NewBuffer(out)
	require.NoError(t, err)
	// At most 1000 dispatches a submission: a profiled one holds two
	// timestamps per dispatch, and query sets hold 4096.
	perSubmit := min(copies, 1000)
	begin := func() { require.NoError(t, beginScratch(d, seqBatch(16, [][2]int{{0, 1}}))) }
	round := func(profile bool) (wall, gpu time.Duration, calls int) {
		for start := 0; start < copies; start += perSubmit {
			part := ws[start:min(copies, start+perSubmit)]
			w, g := gbSubmit(t, d, profile, begin, y, func() {
				for _, w := range part {
					d.Linear(y, x, w, 1)
				}
			})
			wall, gpu, calls = wall+w, gpu+g, calls+len(part)
		}
		return wall, gpu, calls
	}
	g := gbGemv{Name: name, Out: out, In: in, WeightBytes: int64(len(data)), Copies: copies}
	var sec float64
	g.Calls, g.WallUS, g.GPUUS, sec, g.Timer = gbTimeRounds(d, round)
	g.GBps = float64(len(data)) / sec / 1e9
	return g
}

// gbAttnRun times decode attention of gbSeqs sequences with gbCtx cached
// tokens each, at Qwen3-0.6B's heads, over a cache of dtype dt: the bytes
// of keys and values it reads halve with a 16-bit cache.
func gbAttnRun(t *testing.T, d *Device, cfg qwen3.Config, dt device.DType) gbAttn {
	seqs, ctx := *gbSeqs, *gbCtx
	spec := device.KVCacheSpec{Layers: 1, NumBlocks: seqs * ((ctx + 15) / 16), BlockSize: 16, KVHeads: cfg.NumKeyValueHeads, HeadDim: cfg.HeadDim, DType: dt}
	cache, err := d.NewKVCache(spec)
	require.NoError(t, err)
	defer func() {
		c := cache.(*KVCache)
		for l := range c.k {
			d.destroy(c.k[l])
			d.destroy(c.v[l])
		}
	}()
	width := cfg.NumAttentionHeads * cfg.HeadDim
	q, err := d.NewBuffer(seqs * width)
	require.NoError(t, err)
	out, err := d.NewBuffer(seqs * width)
	require.NoError(t, err)
	var spans [][2]int
	for range seqs {
		spans = append(spans, [2]int{ctx - 1, 1})
	}
	b := seqBatch(16, spans)
	const perSubmit = 16
	begin := func() { require.NoError(t, d.BeginStep(b, cache)) }
	round := func(profile bool) (wall, gpu time.Duration, calls int) {
		wall, gpu = gbSubmit(t, d, profile, begin, out, func() {
			for range perSubmit {
				d.Attention(out, q, cache, 0, cfg.NumAttentionHeads, seqs)
			}
		})
		return wall, gpu, perSubmit
	}
	a := gbAttn{KVDType: dt.String(), KVBytes: int64(seqs) * int64(ctx) * int64(spec.SlotFloats()) * 2 * spec.ElementBytes()}
	var sec float64
	a.Calls, a.WallUS, a.GPUUS, sec, a.Timer = gbTimeRounds(d, round)
	a.GBps = float64(a.KVBytes) / sec / 1e9
	return a
}

// gbSubmit starts a step (begin), records the dispatches of record, reads
// sync back and returns the wall time of it all and, when profile is set
// (the adapter has timestamp queries), the GPU time of the dispatches.
func gbSubmit(t *testing.T, d *Device, profile bool, begin func(), sync device.Buffer, record func()) (wall, gpu time.Duration) {
	begin()
	if profile {
		require.NoError(t, d.ProfileNext())
	}
	t0 := time.Now()
	record()
	require.NoError(t, d.ReadFloats(nil, sync))
	wall = time.Since(t0)
	if profile {
		for _, p := range d.Profile() {
			gpu += p.Duration
		}
	}
	return wall, gpu
}

// gbTimeRounds runs round once to compile and bind, then gbRounds times, each
// followed by a profiled run where the adapter has timestamp queries. It
// returns the calls timed, the wall and GPU microseconds per call, the
// seconds per call to rate them by (GPU time where there is one) and which
// timer that is.
func gbTimeRounds(d *Device, round func(profile bool) (wall, gpu time.Duration, calls int)) (calls int, wallUS, gpuUS, sec float64, timer string) {
	round(false)
	var wall, gpu time.Duration
	for range *gbRounds {
		w, _, n := round(false)
		wall += w
		calls += n
		if d.timestamps {
			_, g, _ := round(true)
			gpu += g
		}
	}
	wallUS = float64(wall.Nanoseconds()) / 1e3 / float64(calls)
	sec, timer = wall.Seconds()/float64(calls), "wall"
	if d.timestamps && gpu > 0 {
		gpuUS = float64(gpu.Nanoseconds()) / 1e3 / float64(calls)
		sec, timer = gpu.Seconds()/float64(calls), "gpu-timestamps"
	}
	return calls, wallUS, gpuUS, sec, timer
}

// gbModelRun loads the Qwen3-0.6B shape cfg with random weights in format
// wdt and times a prefill, then decode steps of 1 and of 8 sequences.
func gbModelRun(t *testing.T, d *Device, cfg qwen3.Config, wdt, kdt device.DType) gbModel {
	res := gbModel{Layers: cfg.NumHiddenLayers, Vocab: cfg.VocabSize, PrefillTokens: *gbPrompt, DecodeSteps: *gbDecode}
	start := time.Now()
	tensors, shapes := qwen3.RandomTensors(cfg)
	opts := qwen3.Options{MaxTokens: *gbPrompt, KVCacheDType: kdt}
	if wdt != device.BF16 {
		opts.Quantize = wdt
	}
	m, err := qwen3.LoadFrom(cfg, tensorFunc(tensors, shapes), d, opts)
	require.NoError(t, err)
	defer m.Close()
	res.LoadSeconds = time.Since(start).Seconds()
	res.WeightBytes = m.WeightBytes()

	// Sequences get fresh blocks: each prefill run one sequence, then the
	// decode runs 1 and 8 sequences of a short prompt.
	const bs = 16
	perSeq := (*gbPrompt + *gbDecode + 2 + bs - 1) / bs
	require.NoError(t, m.NewKVCache((*gbReps+1+1+8)*perSeq, bs))
	next := 0
	newSeq := func() int { next += perSeq; return next - perSeq }

	var prefill []float64
	for i := range *gbReps + 1 {
		first := newSeq()
		t0 := time.Now()
		_, err := m.ForwardArgmax(blockBatch(first, []int{0}, []int{*gbPrompt}))
		require.NoError(t, err)
		if i > 0 { // the first compiles the pipelines
			prefill = append(prefill, time.Since(t0).Seconds())
		}
	}
	res.PrefillTokS = float64(*gbPrompt) / gbMedian(prefill)

	decode := func(seqs int) (tokS, gbps float64, calls int64, weightBytes int64) {
		firsts := make([]int, seqs)
		lens := make([]int, seqs)
		const prompt = 8
		for s := range firsts {
			firsts[s] = newSeq()
			_, err := m.ForwardArgmax(blockBatch(firsts[s], []int{0}, []int{prompt}))
			require.NoError(t, err)
			lens[s] = prompt
		}
		var times []float64
		for i := range *gbDecode + 1 {
			counts := slices.Repeat([]int{1}, seqs)
			b := multiBatch(firsts, slices.Clone(lens), counts)
			st := d.Stats()
			t0 := time.Now()
			_, err := m.ForwardArgmax(b)
			require.NoError(t, err)
			if i > 0 {
				times = append(times, time.Since(t0).Seconds())
			}
			after := d.Stats()
			calls, weightBytes = after.Crossings-st.Crossings, after.WeightBytes-st.WeightBytes
			for s := range lens {
				lens[s]++
			}
		}
		sec := gbMedian(times)
		return float64(seqs) / sec, float64(weightBytes) / sec / 1e9, calls, weightBytes
	}
	res.Decode1TokS, res.Decode1GBps, res.JSCallsPerStep, res.StepWeightBytes = decode(1)
	res.Decode8TokS, _, _, _ = decode(8)
	t.Logf("model (%d layers, %s weights, %s cache): prefill %.1f tok/s, decode b1 %.1f tok/s (%.1f GB/s of weights), b8 %.1f tok/s",
		cfg.NumHiddenLayers, wdt, kdt, res.PrefillTokS, res.Decode1TokS, res.Decode1GBps, res.Decode8TokS)
	return res
}

// gbMedian is the median of xs (not empty); xs is reordered.
func gbMedian(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
