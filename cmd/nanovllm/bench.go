package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/nano-vllm-go/nano-vllm-go/core/sysmem"
)

// benchResult is the --json output of bench.
type benchResult struct {
	Model   string `json:"model"`
	Device  string `json:"device"`
	Threads int    `json:"threads"`
	// Precision is --precision: the activations of AMX matmuls.
	Precision string `json:"precision"`
	// KVCacheDType is --kv-cache-dtype: f32, bf16 or f16.
	KVCacheDType string `json:"kv_cache_dtype"`
	// WeightType is the type of the 2-D weights on the device: the
	// checkpoint's (bf16, q8_0, ...) or --quantize's.
	WeightType string `json:"weight_type"`

	// DecodeTokensPerS is generated tokens per second with that many
	// sequences decoding together, keyed by batch size.
	DecodeTokensPerS map[string]float64 `json:"decode_tokens_per_s"`
	// DecodeContext is the context length of each sequence while decoding.
	DecodeContext int `json:"decode_context_tokens"`
	// PrefillTokensPerS is prompt tokens per second for one prompt of
	// PrefillTokens tokens computed in a single step.
	PrefillTokensPerS float64 `json:"prefill_tokens_per_s"`
	PrefillTokens     int     `json:"prefill_tokens"`

	// WeightBytesPerToken is what batch-1 decode must read per token: every
	// matrix of every layer plus the output projection, as stored (bf16).
	WeightBytesPerToken int64 `json:"weight_bytes_per_token"`
	// MemoryReadGBPerS is the machine's read bandwidth with all threads,
	// measured in this run (1e9 bytes per second).
	MemoryReadGBPerS float64 `json:"memory_read_gb_per_s"`
	// DecodeBoundTokensPerS = bandwidth / weight bytes per token; the
	// fraction is batch-1 decode's share of it.
	// On a shared machine the process may get less than its threads' worth
	// of CPU. These rates divide by the process's CPU time instead of wall
	// time, times the thread count: what the run would reach with the cores
	// to itself (bandwidth permitting), and CPUShare is the fraction of the
	// threads' wall time the process actually ran.
	DecodeTokensPerCPUS map[string]float64 `json:"decode_tokens_per_s_cpu_normalized,omitempty"`
	PrefillTokensPerCPU float64            `json:"prefill_tokens_per_s_cpu_normalized,omitempty"`
	CPUShare            float64            `json:"cpu_share,omitempty"`
	MemoryReadGBPerCPUS float64            `json:"memory_read_gb_per_s_cpu_normalized,omitempty"`
	// DecodeFractionOfBoundCPU is the batch-1 fraction from the normalized
	// decode rate and normalized bandwidth.
	DecodeFractionOfBoundCPU float64 `json:"decode_batch1_fraction_of_bound_cpu_normalized,omitempty"`

	DecodeBoundTokensPerS  float64 `json:"decode_batch1_bound_tokens_per_s"`
	DecodeFractionOfBound  float64 `json:"decode_batch1_fraction_of_bound"`
	PrefillGFLOPPerS       float64 `json:"prefill_gflop_per_s"`
	Decode64GFLOPPerS      float64 `json:"decode_64_gflop_per_s,omitempty"`
	WeightsBytes           int64   `json:"weights_bytes"`
	KVCacheBytes           int64   `json:"kv_cache_bytes"`
	RSSBytes               int64   `json:"rss_bytes,omitempty"`
	PeakRSSBytes           int64   `json:"peak_rss_bytes,omitempty"`
	GoHeapBytes            int64   `json:"go_heap_bytes"`
	MemoryOverWeightsAndKV float64 `json:"memory_over_weights_and_kv"`
	MeasurementNote        string  `json:"note"`
}

// ctxGroup is how many decode contexts the bench prefills in one step.
const ctxGroup = 8

// runBench implements "nanovllm bench".
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	model := fs.String("model", "random:qwen3-0.6b", modelHelp)
	asJSON := fs.Bool("json", false, "print the results as JSON")
	threads := fs.Int("threads", 0, "CPU threads (0: GOMAXPROCS)")
	precision := cpu.PrecisionFloat32
	fs.TextVar(&precision, "precision", cpu.PrecisionFloat32, precisionHelp)
	var kvDType kvCacheDType
	fs.TextVar(&kvDType, "kv-cache-dtype", kvCacheDType(0), kvDTypeHelp)
	var quantize weightQuant
	fs.TextVar(&quantize, "quantize", weightQuant(0), quantizeHelp)
	batches := fs.String("batch-sizes", "1,16,64", "decode batch sizes")
	context := fs.Int("context", 64, "tokens of context per sequence before the timed decode steps")
	steps := fs.Int("decode-steps", 8, "timed decode steps per batch size")
	prefill := fs.Int("prefill-tokens", 512, "prompt length for the prefill measurement")
	bwBytes := fs.Int64("bandwidth-bytes", 1<<30, "buffer size for the memory bandwidth measurement")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	var sizes []int
	for _, f := range strings.Split(*batches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("--batch-sizes: %q is not a positive batch size", f)
		}
		sizes = append(sizes, n)
	}
	sort.Ints(sizes)
	if *context < 1 || *steps < 1 || *prefill < 1 {
		return fmt.Errorf("--context, --decode-steps and --prefill-tokens must be positive")
	}
	if err := checkThreads(*threads); err != nil {
		return err
	}
	if *bwBytes < 1<<20 {
		return fmt.Errorf("--bandwidth-bytes %d: want at least 1 MiB", *bwBytes)
	}
	if err := sysmem.Check("--bandwidth-bytes", uint64(*bwBytes)); err != nil {
		return err
	}

	dev := cpu.New(cpu.Options{Threads: *threads, Precision: precision})
	defer dev.Close()
	res := benchResult{Model: *model, Device: dev.Name(), Precision: precision.String(), KVCacheDType: kvDType.DType().String(), Threads: runtime.GOMAXPROCS(0),
		DecodeTokensPerS: map[string]float64{}, DecodeTokensPerCPUS: map[string]float64{}}
	if *threads > 0 {
		res.Threads = *threads
	}
	// Bandwidth first, then free the buffer before the model is loaded.
	buf := cpu.NewBandwidthBuffer(*bwBytes)
	const rounds = 5
	cpu0 := procCPUSeconds()
	res.MemoryReadGBPerS = dev.ReadBandwidth(buf, rounds) / 1e9
	if used := procCPUSeconds() - cpu0; used > 0 {
		res.MemoryReadGBPerCPUS = round(float64(len(buf)*4*rounds)/used*float64(res.Threads)/1e9, 2)
	}
	runtime.GC()
	debug.FreeOSMemory()

	progress := func(format string, a ...any) {
		if *asJSON {
			fmt.Fprintf(stderr, format+"\n", a...)
		} else {
			fmt.Fprintf(stdout, format+"\n", a...)
		}
	}
	progress("memory read bandwidth: %.1f GB/s", res.MemoryReadGBPerS)
	dir, err := resolveModel(ctx, *model, stderr)
	if err != nil {
		return err
	}
	// Read before the model is loaded, so that the header's strings it
	// parses are garbage the model's buffers can reuse.
	res.WeightType = weightType(dir, quantize.DType())
	// The activations are sized for the largest step the bench runs: the
	// prefill prompt, a group of contexts prefilled together, or a decode
	// batch; sizing them for every context at once would count hundreds of
	// megabytes that no step uses in the memory ratio.
	maxStep := max(*prefill, min(sizes[len(sizes)-1], ctxGroup)*(*context), sizes[len(sizes)-1])
	m, err := loadQwen3(dir, dev, qwen3.Options{MaxTokens: maxStep, KVCacheDType: kvDType.DType(), Quantize: quantize.DType()})
	if err != nil {
		return err
	}
	defer m.Close()
	cfg := m.Config()
	// What batch-1 decode reads per token, as the weights were loaded
	// (quantized, bf16 or float32).
	res.WeightBytesPerToken, res.WeightsBytes = m.DecodeReadBytes(), m.WeightBytes()

	maxBatch := sizes[len(sizes)-1]
	perSeq := (*context + *steps + blockSize) / blockSize
	numBlocks := max(maxBatch*perSeq, (*prefill+blockSize)/blockSize)
	if err := m.NewKVCache(numBlocks, blockSize); err != nil {
		return err
	}
	res.KVCacheBytes = m.KVCacheSpec(numBlocks, blockSize).Bytes()
	res.DecodeContext = *context

	// Deterministic prompt tokens spread over the vocabulary.
	token := func(i int) int32 { return int32((i*7919 + 13) % cfg.VocabSize) }

	var wallAll, cpuAll float64
	var sb step.Builder
	for _, bsz := range sizes {
		if err := ctx.Err(); err != nil {
			return err
		}
		seqs := make([]stepSeq, bsz)
		for i := range seqs {
			seqs[i].blocks = make([]int32, perSeq)
			for k := range perSeq {
				seqs[i].blocks[k] = int32(i*perSeq + k)
			}
			for p := range *context {
				seqs[i].tokens = append(seqs[i].tokens, token(i*1000+p))
			}
		}
		// Untimed prefill of the contexts, a few sequences per step.
		for lo := 0; lo < bsz; lo += ctxGroup {
			if _, err := m.ForwardArgmax(buildStep(&sb, seqs[lo:min(bsz, lo+ctxGroup)])); err != nil {
				return err
			}
		}
		for i := range seqs {
			seqs[i].from = len(seqs[i].tokens)
			seqs[i].tokens = append(seqs[i].tokens, token(i))
		}
		var elapsed time.Duration
		var cpuUsed float64
		for s := range *steps + 1 {
			b := buildStep(&sb, seqs)
			start, cpu0 := time.Now(), procCPUSeconds()
			ids, err := m.ForwardArgmax(b)
			if err != nil {
				return err
			}
			if s > 0 { // the first step warms caches and buffers
				elapsed += time.Since(start)
				cpuUsed += procCPUSeconds() - cpu0
				wallAll += time.Since(start).Seconds()
				cpuAll += procCPUSeconds() - cpu0
			}
			for i := range seqs {
				seqs[i].from = len(seqs[i].tokens)
				seqs[i].tokens = append(seqs[i].tokens, ids[i])
			}
		}
		tps := float64(bsz**steps) / elapsed.Seconds()
		res.DecodeTokensPerS[strconv.Itoa(bsz)] = round(tps, 2)
		if cpuUsed > 0 {
			res.DecodeTokensPerCPUS[strconv.Itoa(bsz)] = round(float64(bsz**steps)/cpuUsed*float64(res.Threads), 2)
		}
		if bsz == 64 {
			res.Decode64GFLOPPerS = round(tps*float64(flopsPerToken(cfg))/1e9, 1)
		}
		progress("decode batch %d: %.2f tokens/s (%.2f normalized to full CPU share)", bsz, tps, res.DecodeTokensPerCPUS[strconv.Itoa(bsz)])
	}

	// Prefill: one prompt in one step, logits for its last token only.
	prompt := make([]int32, *prefill)
	for i := range prompt {
		prompt[i] = token(50000 + i)
	}
	table := make([]int32, (*prefill+blockSize-1)/blockSize)
	for i := range table {
		table[i] = int32(i)
	}
	best := time.Duration(1<<63 - 1)
	bestCPU := 0.0
	for range 2 {
		start, cpu0 := time.Now(), procCPUSeconds()
		if _, err := m.ForwardArgmax(buildStep(&sb, []stepSeq{{tokens: prompt, blocks: table}})); err != nil {
			return err
		}
		wall, cpu := time.Since(start), procCPUSeconds()-cpu0
		wallAll += wall.Seconds()
		cpuAll += cpu
		best = min(best, wall)
		if cpu > 0 && (bestCPU == 0 || cpu < bestCPU) {
			bestCPU = cpu
		}
	}
	if bestCPU > 0 {
		res.PrefillTokensPerCPU = round(float64(*prefill)/bestCPU*float64(res.Threads), 2)
	}
	if wallAll > 0 {
		res.CPUShare = round(cpuAll/(wallAll*float64(res.Threads)), 3)
	}
	res.PrefillTokens = *prefill
	res.PrefillTokensPerS = round(float64(*prefill)/best.Seconds(), 2)
	res.PrefillGFLOPPerS = round(float64(*prefill)*float64(flopsPerToken(cfg)-2*int64(cfg.VocabSize*cfg.HiddenSize))/best.Seconds()/1e9, 1)
	progress("prefill %d tokens: %.2f tokens/s (%.2f normalized to full CPU share)", *prefill, res.PrefillTokensPerS, res.PrefillTokensPerCPU)

	res.DecodeBoundTokensPerS = round(res.MemoryReadGBPerS*1e9/float64(res.WeightBytesPerToken), 2)
	if b1, ok := res.DecodeTokensPerS["1"]; ok {
		res.DecodeFractionOfBound = round(b1/res.DecodeBoundTokensPerS, 3)
	}
	if b1, ok := res.DecodeTokensPerCPUS["1"]; ok && res.MemoryReadGBPerCPUS > 0 {
		res.DecodeFractionOfBoundCPU = round(b1/(res.MemoryReadGBPerCPUS*1e9/float64(res.WeightBytesPerToken)), 3)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.GoHeapBytes = int64(ms.HeapInuse)
	res.RSSBytes, res.PeakRSSBytes = rss()
	used := res.GoHeapBytes
	if res.RSSBytes > 0 {
		used = res.RSSBytes
	}
	res.MemoryOverWeightsAndKV = round(float64(used)/float64(res.WeightsBytes+res.KVCacheBytes), 3)
	res.MeasurementNote = "wall-clock on a machine that may be shared; memory ratio is RSS (or Go heap) over weights + KV cache"

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Fprintf(stdout, "weights read per token: %.2f GB; batch-1 bound %.2f tokens/s, reached %.0f%%\n",
		float64(res.WeightBytesPerToken)/1e9, res.DecodeBoundTokensPerS, 100*res.DecodeFractionOfBound)
	fmt.Fprintf(stdout, "memory: RSS %.2f GB, Go heap %.2f GB, weights %.2f GB + KV cache %.2f GB (ratio %.3f)\n",
		float64(res.RSSBytes)/1e9, float64(res.GoHeapBytes)/1e9, float64(res.WeightsBytes)/1e9, float64(res.KVCacheBytes)/1e9, res.MemoryOverWeightsAndKV)
	return nil
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

// flopsPerToken counts the multiply-adds (x2) of the matmuls for one token,
// including the output projection; attention is excluded.
func flopsPerToken(c qwen3.Config) int64 {
	H, I, V := int64(c.HiddenSize), int64(c.IntermediateSize), int64(c.VocabSize)
	q := int64(c.NumAttentionHeads * c.HeadDim)
	kv := int64(c.NumKeyValueHeads * c.HeadDim)
	layer := q*H + 2*kv*H + H*q + 3*I*H
	return 2 * (int64(c.NumHiddenLayers)*layer + V*H)
}

// procCPUSeconds is the user+system CPU time of the process so far, from
// /proc/self/stat (Linux; 0 elsewhere), in units of the usual 100 Hz tick.
func procCPUSeconds() float64 {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the line.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// rss reads the resident and peak resident set size on Linux; zeros
// elsewhere.
func rss() (cur, peak int64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = v * 1024
		case "VmHWM:":
			peak = v * 1024
		}
	}
	return cur, peak
}
