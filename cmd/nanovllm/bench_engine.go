package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
)

const benchModes = `Usage: nanovllm bench [model] [flags]     the model's kernels: decode tokens/s at fixed
                                          batch sizes, prefill tokens/s, memory bandwidth
       nanovllm bench engine [flags]      the whole engine, like nano-vllm's bench.py:
                                          many requests at once, tokens/s, TTFT, TPOT
       nanovllm bench spec [flags]        speculative decoding against plain decoding,
                                          with an oracle proposer of chosen acceptance

Run 'nanovllm bench engine -h', 'nanovllm bench spec -h' or 'nanovllm bench model -h' for each mode's flags.
`

// runBenchCommand implements "nanovllm bench": the mode named by the first
// argument, the model-level benchmark when there is none (its flags and
// JSON keys predate the engine mode and scripts rely on them).
func runBenchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "engine":
			return runBenchEngine(ctx, args[1:], stdout, stderr)
		case "spec":
			return runBenchSpec(ctx, args[1:], stdout, stderr)
		case "model":
			return runBench(ctx, args[1:], stdout, stderr)
		case "-h", "-help", "--help":
			fmt.Fprint(stderr, benchModes)
			return flag.ErrHelp
		}
	}
	return runBench(ctx, args, stdout, stderr)
}

const benchEngineUsage = `Usage: nanovllm bench engine [flags]

Measures the engine end to end, in the shape of nano-vllm's bench.py:
--num-requests requests with random prompt and output lengths (drawn with
--seed), all submitted at once and run with continuous batching, each with
ignore_eos so it generates exactly its output length. An untimed warm-up
request runs first. Reported:
  total_tokens_per_s    (prompt + output tokens) / wall time
  output_tokens_per_s   output tokens / wall time (bench.py's "Throughput")
  ttft_ms, tpot_ms      time to first token (queueing + prefill) and time per
                        output token after the first, over the requests:
                        mean, p50, p90, p99
  prefix_cache_hit_rate prompt tokens the prefix cache supplied / all prompt
                        tokens
--shared-prefix N starts every prompt with the same N tokens (then its own
random ones), so requests admitted after the first find them in the prefix
cache. Works on random:qwen3-0.6b with no download.

Flags:
`

// benchEngineResult is the --json output of "bench engine".
type benchEngineResult struct {
	Mode    string `json:"mode"`
	Model   string `json:"model"`
	Device  string `json:"device"`
	Threads int    `json:"threads"`
	// KVCacheDType is --kv-cache-dtype: f32, bf16 or f16.
	KVCacheDType string `json:"kv_cache_dtype"`
	// WeightType is the type of the 2-D weights on the device: the
	// checkpoint's (bf16, q8_0, ...) or --quantize's.
	WeightType string `json:"weight_type"`

	NumRequests        int     `json:"num_requests"`
	Seed               uint64  `json:"seed"`
	InputLenRange      [2]int  `json:"input_len_range"`
	OutputLenRange     [2]int  `json:"output_len_range"`
	SharedPrefixTokens int     `json:"shared_prefix_tokens"`
	Temperature        float64 `json:"temperature"`
	KVCacheBlocks      int     `json:"kv_cache_blocks"`
	MaxNumSeqs         int     `json:"max_num_seqs"`

	PromptTokens     int     `json:"prompt_tokens"`
	OutputTokens     int     `json:"output_tokens"`
	ElapsedS         float64 `json:"elapsed_s"`
	TotalTokensPerS  float64 `json:"total_tokens_per_s"`
	OutputTokensPerS float64 `json:"output_tokens_per_s"`

	TTFTMs latencyStats `json:"ttft_ms"`
	TPOTMs latencyStats `json:"tpot_ms"`

	CachedPromptTokens int     `json:"cached_prompt_tokens"`
	PrefixCacheHitRate float64 `json:"prefix_cache_hit_rate"`
	Preemptions        int64   `json:"preemptions"`
	// CPUShare is the process's CPU time over the run's wall time times
	// the thread count: below 1 when other work shared the cores (Linux
	// only; 0 elsewhere).
	CPUShare float64 `json:"cpu_share"`
	Note     string  `json:"note"`
}

// latencyStats summarises one latency over the requests, in milliseconds.
type latencyStats struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
}

// benchSpec is what one engine benchmark runs.
type benchSpec struct {
	numRequests               int
	minInput, maxInput        int
	minOutput, maxOutput      int
	sharedPrefix              int
	seed                      uint64
	temperature               float64
	vocab                     int
	warmup                    bool
	warmupInput, warmupOutput int
}

// runBenchEngine implements "nanovllm bench engine".
func runBenchEngine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchEngineUsage)
		fs.PrintDefaults()
	}
	var ef engineFlags
	ef.register(fs, "random:qwen3-0.6b", 1024)
	numRequests := fs.Int("num-requests", 32, "number of requests, all submitted at once")
	minInput := fs.Int("min-input-len", 16, "shortest random prompt, in tokens (not counting --shared-prefix)")
	maxInput := fs.Int("max-input-len", 256, "longest random prompt, in tokens (not counting --shared-prefix)")
	minOutput := fs.Int("min-output-len", 16, "fewest tokens a request generates")
	maxOutput := fs.Int("max-output-len", 256, "most tokens a request generates")
	shared := fs.Int("shared-prefix", 0, "tokens at the start of every prompt that are the same for all requests")
	seed := fs.Uint64("seed", 0, "seed for the lengths, the prompt tokens and the sampling")
	temperature := fs.Float64("temperature", 0.6, "sampling temperature (bench.py's 0.6); 0 is greedy")
	warmup := fs.Bool("warmup", true, "run one short untimed request first")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	if err := parseCommandFlags(fs, args, stderr); err != nil {
		return err
	}
	spec := benchSpec{numRequests: *numRequests, minInput: *minInput, maxInput: *maxInput,
		minOutput: *minOutput, maxOutput: *maxOutput, sharedPrefix: *shared, seed: *seed,
		temperature: *temperature, warmup: *warmup, warmupInput: 16, warmupOutput: 4}
	switch {
	case spec.numRequests < 1:
		return fmt.Errorf("--num-requests %d: want at least 1", spec.numRequests)
	case spec.minInput < 1 || spec.maxInput < spec.minInput:
		return fmt.Errorf("--min-input-len %d / --max-input-len %d: want 1 <= min <= max", spec.minInput, spec.maxInput)
	case spec.minOutput < 1 || spec.maxOutput < spec.minOutput:
		return fmt.Errorf("--min-output-len %d / --max-output-len %d: want 1 <= min <= max", spec.minOutput, spec.maxOutput)
	case spec.sharedPrefix < 0:
		return fmt.Errorf("--shared-prefix %d is negative", spec.sharedPrefix)
	case math.IsNaN(spec.temperature) || spec.temperature < 0:
		return fmt.Errorf("--temperature %v: want a number >= 0", spec.temperature)
	}
	if longest := spec.sharedPrefix + spec.maxInput + spec.maxOutput; longest > ef.maxModelLen {
		return fmt.Errorf("--shared-prefix + --max-input-len + --max-output-len = %d exceeds --max-model-len %d", longest, ef.maxModelLen)
	}

	lm, err := ef.load(ctx, stderr)
	if err != nil {
		return err
	}
	defer lm.Close()
	if n := lm.model.Config().MaxPositionEmbeddings; spec.sharedPrefix+spec.maxInput+spec.maxOutput > n {
		return fmt.Errorf("--shared-prefix + --max-input-len + --max-output-len = %d exceeds the model's max_position_embeddings %d",
			spec.sharedPrefix+spec.maxInput+spec.maxOutput, n)
	}
	spec.vocab = lm.model.Config().VocabSize
	e, err := lm.newEngine(ef.engineConfig(0))
	if err != nil {
		return err
	}
	threads := ef.threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "engine bench: %s on %s, %d requests, prompts %d-%d tokens (+%d shared), outputs %d-%d, temperature %g\n",
			ef.model, lm.dev.Name(), spec.numRequests, spec.minInput, spec.maxInput, spec.sharedPrefix,
			spec.minOutput, spec.maxOutput, spec.temperature)
	}
	res, err := benchEngine(ctx, e, spec, threads)
	if err != nil {
		return err
	}
	res.Model, res.Device, res.Threads, res.MaxNumSeqs = ef.model, lm.dev.Name(), threads, ef.maxNumSeqs
	res.KVCacheDType = ef.kvDType.DType().String()
	res.WeightType = weightType(lm.path, ef.quantize.DType())
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "%d prompt + %d output tokens in %.2f s (KV cache %d blocks of %d tokens, %d preemptions)\n",
		res.PromptTokens, res.OutputTokens, res.ElapsedS, res.KVCacheBlocks, blockSize, res.Preemptions)
	fmt.Fprintf(stdout, "throughput: %.2f tokens/s total, %.2f output tokens/s\n", res.TotalTokensPerS, res.OutputTokensPerS)
	for _, l := range []struct {
		name string
		s    latencyStats
	}{{"TTFT", res.TTFTMs}, {"TPOT", res.TPOTMs}} {
		fmt.Fprintf(stdout, "%s ms: mean %.1f, p50 %.1f, p90 %.1f, p99 %.1f\n", l.name, l.s.Mean, l.s.P50, l.s.P90, l.s.P99)
	}
	fmt.Fprintf(stdout, "prefix cache: %d of %d prompt tokens (%.1f%%)\n",
		res.CachedPromptTokens, res.PromptTokens, 100*res.PrefixCacheHitRate)
	if res.CPUShare > 0 {
		fmt.Fprintf(stdout, "CPU share: %.0f%% of %d threads' wall time (lower means other work shared the cores)\n", 100*res.CPUShare, threads)
	}
	return nil
}

// benchRequests draws the requests of spec: lengths uniform in their
// ranges, prompt ids uniform below min(vocab, 10000) as in bench.py, the
// shared prefix first. The warm-up request comes from its own stream so
// that it shares no prefix with them.
func benchRequests(spec benchSpec) (warm engine.Request, reqs []engine.Request) {
	idRange := min(spec.vocab, 10000)
	rng := rand.New(rand.NewPCG(spec.seed, 0x6e616e6f766c6c6d))
	draw := func(r *rand.Rand, n int) []int32 {
		ids := make([]int32, n)
		for i := range ids {
			ids[i] = int32(r.IntN(idRange))
		}
		return ids
	}
	prefix := draw(rng, spec.sharedPrefix)
	params := func(maxTokens int, seed uint64) sampler.Params {
		p := sampler.Params{Temperature: float32(spec.temperature), MaxTokens: maxTokens, IgnoreEOS: true}
		if p.Temperature > 0 {
			p.Seed = &seed
		}
		return p
	}
	reqs = make([]engine.Request, spec.numRequests)
	for i := range reqs {
		in := spec.minInput + rng.IntN(spec.maxInput-spec.minInput+1)
		out := spec.minOutput + rng.IntN(spec.maxOutput-spec.minOutput+1)
		reqs[i] = engine.Request{PromptIDs: append(slices.Clone(prefix), draw(rng, in)...), Params: params(out, spec.seed+uint64(i))}
	}
	wrng := rand.New(rand.NewPCG(spec.seed, 0x7761726d7570))
	warm = engine.Request{PromptIDs: draw(wrng, spec.warmupInput), Params: params(spec.warmupOutput, spec.seed)}
	return warm, reqs
}

// benchEngine runs spec on e and measures it.
func benchEngine(ctx context.Context, e *engine.Engine, spec benchSpec, threads int) (benchEngineResult, error) {
	warm, reqs := benchRequests(spec)
	if spec.warmup {
		if _, err := e.Generate(ctx, []engine.Request{warm}); err != nil {
			return benchEngineResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	pre := e.Stats().Preemptions
	start, cpu0 := time.Now(), procCPUSeconds()
	results, err := e.Generate(ctx, reqs)
	elapsed, cpuUsed := time.Since(start), procCPUSeconds()-cpu0
	if err != nil {
		return benchEngineResult{}, err
	}
	res := benchEngineResult{
		Mode: "engine", NumRequests: spec.numRequests, Seed: spec.seed,
		InputLenRange: [2]int{spec.minInput, spec.maxInput}, OutputLenRange: [2]int{spec.minOutput, spec.maxOutput},
		SharedPrefixTokens: spec.sharedPrefix, Temperature: spec.temperature, KVCacheBlocks: e.NumBlocks(),
		ElapsedS: round(elapsed.Seconds(), 6), Preemptions: e.Stats().Preemptions - pre,
		Note: "wall-clock time; on a machine shared with other work the rates are lower than the hardware allows",
	}
	ttft := make([]float64, 0, len(results))
	tpot := make([]float64, 0, len(results))
	for i, r := range results {
		if r.Err != nil {
			return benchEngineResult{}, fmt.Errorf("request %d: %w", i, r.Err)
		}
		m := r.Metrics
		res.PromptTokens += m.PromptTokens
		res.OutputTokens += m.GeneratedTokens
		res.CachedPromptTokens += m.CachedTokens
		ttft = append(ttft, float64(m.TimeToFirstToken())/float64(time.Millisecond))
		if m.GeneratedTokens > 1 {
			tpot = append(tpot, float64(m.TimePerOutputToken())/float64(time.Millisecond))
		}
	}
	if s := elapsed.Seconds(); s > 0 {
		res.TotalTokensPerS = round(float64(res.PromptTokens+res.OutputTokens)/s, 2)
		res.OutputTokensPerS = round(float64(res.OutputTokens)/s, 2)
	}
	if threads > 0 && elapsed > 0 {
		res.CPUShare = round(cpuUsed/(elapsed.Seconds()*float64(threads)), 3)
	}
	if res.PromptTokens > 0 {
		res.PrefixCacheHitRate = round(float64(res.CachedPromptTokens)/float64(res.PromptTokens), 4)
	}
	res.TTFTMs, res.TPOTMs = summarize(ttft), summarize(tpot)
	return res, nil
}

// summarize returns the mean and percentiles of xs, with the percentiles
// interpolated linearly between the nearest ranks (numpy's default).
func summarize(xs []float64) latencyStats {
	if len(xs) == 0 {
		return latencyStats{}
	}
	s := slices.Sorted(slices.Values(xs))
	sum := 0.0
	for _, x := range s {
		sum += x
	}
	return latencyStats{Mean: round(sum/float64(len(s)), 3), P50: round(percentile(s, 50), 3),
		P90: round(percentile(s, 90), 3), P99: round(percentile(s, 99), 3)}
}

// percentile of sorted values, p in [0, 100].
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	pos := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	frac := pos - float64(lo)
	return sorted[lo] + frac*(sorted[lo+1]-sorted[lo])
}
