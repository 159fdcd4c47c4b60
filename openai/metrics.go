package openai

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// rateWindow is how many whole seconds the tokens/s gauges average over.
const rateWindow = 10

// Histogram buckets, in seconds, as vLLM's.
var (
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560}
	tpotBuckets = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80}
	e2eBuckets  = []float64{0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680}
)

// metrics are the server's request counters, fed by every output of every
// request from the goroutine running the engine's steps.
type metrics struct {
	now func() time.Time

	mu               sync.Mutex
	promptTokens     int64
	generationTokens int64
	finished         map[string]int64 // by finish reason
	ttft, tpot, e2e  histogram
	promptRate       rate
	generationRate   rate
}

func newMetrics(now func() time.Time) *metrics {
	return &metrics{
		now:      now,
		finished: map[string]int64{},
		ttft:     newHistogram(ttftBuckets),
		tpot:     newHistogram(tpotBuckets),
		e2e:      newHistogram(e2eBuckets),
	}
}

// observe records one output: its tokens, the time to the first token on
// a request's first, and the request's timings and outcome on its last.
func (m *metrics) observe(o engine.Output) {
	now := m.now()
	mt := o.Metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(o.TokenIDs); n > 0 {
		m.generationTokens += int64(n)
		m.generationRate.add(now, int64(n))
		if mt.GeneratedTokens == n { // the request's first token
			m.promptTokens += int64(mt.PromptTokens)
			m.promptRate.add(now, int64(mt.PromptTokens))
			m.ttft.observe(mt.TimeToFirstToken().Seconds())
		}
	}
	if !o.Finished {
		return
	}
	reason := "stop"
	switch o.FinishReason {
	case sequence.Length:
		reason = "length"
	case sequence.Aborted:
		reason = "abort"
	case sequence.Error:
		reason = "error"
	}
	m.finished[reason]++
	if reason == "abort" || reason == "error" {
		return
	}
	if mt.GeneratedTokens >= 2 {
		m.tpot.observe(mt.TimePerOutputToken().Seconds())
	}
	m.e2e.observe(mt.Finished.Sub(mt.Arrival).Seconds())
}

// handleMetrics is GET /metrics in Prometheus' text format.
func (s *Server) handleMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	bw := bufio.NewWriter(w)
	s.metrics.write(bw, s.eng.Stats(), s.opts.ModelName)
	_ = bw.Flush()
}

// write renders the engine's state st and the counters. Every series has
// the label model_name, as vLLM's do.
func (m *metrics) write(w io.Writer, st engine.Stats, model string) {
	label := `model_name="` + escapeLabel(model) + `"`
	metric := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name string, v float64) {
		fmt.Fprintf(w, "%s{%s} %s\n", name, label, formatFloat(v))
	}
	one := func(name, typ, help string, v float64) {
		metric(name, typ, help)
		sample(name, v)
	}
	b := st.Blocks
	one("nanovllm_num_requests_running", "gauge", "Requests admitted by the scheduler (prefilling or decoding).", float64(st.Running))
	one("nanovllm_num_requests_waiting", "gauge", "Requests waiting to be admitted, preempted ones included.", float64(st.Waiting))
	one("nanovllm_kv_cache_blocks_used", "gauge", "KV cache blocks held by running requests.", float64(b.Used))
	one("nanovllm_kv_cache_blocks_total", "gauge", "KV cache blocks in the pool.", float64(b.Total))
	one("nanovllm_kv_cache_blocks_cached", "gauge", "Free KV cache blocks still holding a reusable prefix.", float64(b.Cached))
	usage := 0.0
	if b.Total > 0 {
		usage = float64(b.Used) / float64(b.Total)
	}
	one("nanovllm_kv_cache_usage_ratio", "gauge", "Fraction of the KV cache blocks in use (1 = full).", usage)
	one("nanovllm_prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.", float64(b.PrefixQueryTokens))
	one("nanovllm_prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache.", float64(b.PrefixHitTokens))
	hitRate := 0.0
	if b.PrefixQueryTokens > 0 {
		hitRate = float64(b.PrefixHitTokens) / float64(b.PrefixQueryTokens)
	}
	one("nanovllm_prefix_cache_hit_ratio", "gauge", "Prefix cache hits over queries, in tokens, since the start.", hitRate)
	one("nanovllm_num_preemptions_total", "counter", "Times a request lost its KV cache to make room and was recomputed.", float64(st.Preemptions))

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	one("nanovllm_prompt_tokens_total", "counter", "Prompt tokens of API requests that started generating.", float64(m.promptTokens))
	one("nanovllm_generation_tokens_total", "counter", "Tokens generated for API requests.", float64(m.generationTokens))
	one("nanovllm_prompt_tokens_per_second", "gauge", fmt.Sprintf("Prompt tokens per second over the last %d seconds.", rateWindow), m.promptRate.perSecond(now))
	one("nanovllm_generation_tokens_per_second", "gauge", fmt.Sprintf("Generated tokens per second over the last %d seconds.", rateWindow), m.generationRate.perSecond(now))
	metric("nanovllm_request_success_total", "counter", "Finished API requests (one per choice) by finish reason: stop, length, abort or error.")
	reasons := make([]string, 0, len(m.finished))
	for r := range m.finished {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "nanovllm_request_success_total{%s,finished_reason=%q} %d\n", label, r, m.finished[r])
	}
	m.ttft.write(w, "nanovllm_time_to_first_token_seconds", "Time from arrival to the first token (TTFT).", label)
	m.tpot.write(w, "nanovllm_time_per_output_token_seconds", "Mean time between a request's tokens after the first (TPOT), one observation per request.", label)
	m.e2e.write(w, "nanovllm_e2e_request_latency_seconds", "Time from arrival to the last token of requests that completed.", label)
}

// histogram is a Prometheus histogram with fixed buckets.
type histogram struct {
	bounds []float64
	counts []int64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	count  int64
}

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, counts: make([]int64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // the first bound >= v
	h.counts[i]++
	h.sum += v
	h.count++
}

func (h *histogram) write(w io.Writer, name, help, label string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum int64
	for i, c := range h.counts {
		cum += c
		le := "+Inf"
		if i < len(h.bounds) {
			le = formatFloat(h.bounds[i])
		}
		fmt.Fprintf(w, "%s_bucket{%s,le=%q} %d\n", name, label, le, cum)
	}
	fmt.Fprintf(w, "%s_sum{%s} %s\n%s_count{%s} %d\n", name, label, formatFloat(h.sum), name, label, h.count)
}

// rate counts events per whole second over the last rateWindow seconds.
type rate struct {
	secs   [rateWindow + 1]int64 // the second each slot counts
	counts [rateWindow + 1]int64
}

func (r *rate) add(now time.Time, n int64) {
	sec := now.Unix()
	i := sec % int64(len(r.secs))
	if r.secs[i] != sec {
		r.secs[i], r.counts[i] = sec, 0
	}
	r.counts[i] += n
}

// perSecond averages the rateWindow whole seconds before now's.
func (r *rate) perSecond(now time.Time) float64 {
	sec := now.Unix()
	var total int64
	for i, s := range r.secs {
		if age := sec - s; age >= 1 && age <= rateWindow {
			total += r.counts[i]
		}
	}
	return float64(total) / rateWindow
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// escapeLabel escapes a label value for the text format.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
