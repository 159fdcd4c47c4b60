package cpu_test

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// processCPUNanos is the CPU time of the whole process from /proc/self/stat
// (10 ms ticks; 0 where unavailable).
func processCPUNanos() int64 {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return (u + k) * 10e6
}

// prefillBatch lays out one sequence of n prompt tokens in blocks of 16,
// asking for the last token's logits.
func prefillBatch(n, vocab int) *step.Step {
	const bs = 16
	blocks := make([]int32, (n+bs-1)/bs)
	for i := range blocks {
		blocks[i] = int32(i)
	}
	tokens := make([]int32, n)
	for p := range tokens {
		tokens[p] = int32((p*7919 + 13) % vocab)
	}
	var b step.Builder
	b.Reset(bs, 0)
	b.Add(tokens, 0, n, blocks, 1)
	return b.Step()
}

// timedDevice adds up the wall time of each kind of operation.
type timedDevice struct {
	*cpu.Device
	spent map[string]time.Duration
}

func (t *timedDevice) add(op string, start time.Time) { t.spent[op] += time.Since(start) }

func (t *timedDevice) Linear(out, x device.Buffer, w device.Weight, rows int) {
	defer t.add("Linear", time.Now())
	t.Device.Linear(out, x, w, rows)
}
func (t *timedDevice) Attention(out, q device.Buffer, c device.KVCache, layer, heads, rows int) {
	defer t.add("Attention", time.Now())
	t.Device.Attention(out, q, c, layer, heads, rows)
}
func (t *timedDevice) RMSNorm(out, x device.Buffer, w device.Weight, rows int, eps float32) {
	defer t.add("RMSNorm", time.Now())
	t.Device.RMSNorm(out, x, w, rows, eps)
}
func (t *timedDevice) RoPE(x device.Buffer, rows, heads, headDim int, theta float64) {
	defer t.add("RoPE", time.Now())
	t.Device.RoPE(x, rows, heads, headDim, theta)
}
func (t *timedDevice) WriteKV(c device.KVCache, layer int, k, v device.Buffer, rows int) {
	defer t.add("WriteKV", time.Now())
	t.Device.WriteKV(c, layer, k, v, rows)
}
func (t *timedDevice) SwiGLU(out, gate, up device.Buffer, n int) {
	defer t.add("SwiGLU", time.Now())
	t.Device.SwiGLU(out, gate, up, n)
}
func (t *timedDevice) Add(dst, src device.Buffer, n int) {
	defer t.add("Add", time.Now())
	t.Device.Add(dst, src, n)
}
func (t *timedDevice) Embed(out device.Buffer, table device.Weight) {
	defer t.add("Embed", time.Now())
	t.Device.Embed(out, table)
}

// BenchmarkPrefill512 runs a 512-token prefill of the random Qwen3-0.6B
// preset and reports tokens/s and the time of each operation kind, with
// float32-accurate matmuls and with bf16 activations (cpu.PrecisionBF16).
func BenchmarkPrefill512(b *testing.B) {
	for _, p := range []cpu.Precision{cpu.PrecisionFloat32, cpu.PrecisionBF16} {
		b.Run("precision="+p.String(), func(b *testing.B) { benchmarkPrefill512(b, p) })
	}
}

func benchmarkPrefill512(b *testing.B, precision cpu.Precision) {
	const n = 512
	td := &timedDevice{Device: cpu.New(cpu.Options{Precision: precision}), spent: map[string]time.Duration{}}
	defer td.Close()
	m, err := qwen3.LoadRandom("qwen3-0.6b", td, qwen3.Options{MaxTokens: n})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if err := m.NewKVCache(n/16+1, 16); err != nil {
		b.Fatal(err)
	}
	batch := prefillBatch(n, m.Config().VocabSize)
	if _, err := m.ForwardArgmax(batch); err != nil { // warm buffers
		b.Fatal(err)
	}
	clear(td.spent)
	b.ResetTimer()
	c0 := processCPUNanos()
	for range b.N {
		if _, err := m.ForwardArgmax(batch); err != nil {
			b.Fatal(err)
		}
	}
	c1 := processCPUNanos()
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
	if c1 > c0 {
		// Tokens per CPU-second times the thread count: the rate the
		// threads would reach with the cores to themselves.
		b.ReportMetric(float64(n*b.N)/(float64(c1-c0)/1e9)*float64(runtime.GOMAXPROCS(0)), "tok/cpu-s-x-threads")
	}
	ops := make([]string, 0, len(td.spent))
	for op := range td.spent {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		b.ReportMetric(td.spent[op].Seconds()/float64(b.N)*1e3, fmt.Sprintf("ms-%s", op))
	}
}
