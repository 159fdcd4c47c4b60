package openai

import (
	"bufio"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/stretchr/testify/require"
)

// promSample is one sample line of the Prometheus text format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	promName  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promLine  = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)
	promLabel = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)`)
)

// parseProm reads the text exposition format (version 0.0.4) strictly:
// HELP and TYPE comments, then samples of declared families with quoted
// labels and float values. It returns the families' types and the samples.
func parseProm(t *testing.T, r io.Reader) (map[string]string, []promSample) {
	t.Helper()
	types := map[string]string{}
	var samples []promSample
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# ") {
			f := strings.SplitN(line, " ", 4)
			require.Len(t, f, 4, line)
			require.Regexp(t, promName, f[2])
			switch f[1] {
			case "TYPE":
				require.Contains(t, []string{"counter", "gauge", "histogram"}, f[3])
				require.NotContains(t, types, f[2], "family declared twice")
				types[f[2]] = f[3]
			case "HELP":
				require.NotEmpty(t, f[3])
			default:
				t.Fatalf("unknown comment %q", line)
			}
			continue
		}
		m := promLine.FindStringSubmatch(line)
		require.NotNil(t, m, "bad sample line %q", line)
		s := promSample{name: m[1], labels: map[string]string{}}
		var err error
		s.value, err = strconv.ParseFloat(m[4], 64)
		require.NoError(t, err, line)
		for rest := m[3]; rest != ""; {
			l := promLabel.FindStringSubmatch(rest)
			require.NotNil(t, l, "bad labels in %q", line)
			s.labels[l[1]] = l[2]
			rest = rest[len(l[0]):]
		}
		family := s.name
		if types[family] == "" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(s.name, suffix); ok && types[base] == "histogram" {
					family = base
				}
			}
		}
		require.NotEmpty(t, types[family], "sample %q of an undeclared family", line)
		samples = append(samples, s)
	}
	require.NoError(t, sc.Err())
	return types, samples
}

// scrape returns the value of every sample, keyed by name and labels other
// than model_name (le and finished_reason), and checks each histogram's
// buckets.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	types, samples := parseProm(t, resp.Body)
	out := map[string]float64{}
	for _, s := range samples {
		require.Equal(t, modelName, s.labels["model_name"], s.name)
		key := s.name
		for _, l := range []string{"le", "finished_reason"} {
			if v, ok := s.labels[l]; ok {
				key += "{" + l + "=" + v + "}"
			}
		}
		out[key] = s.value
	}
	for name, typ := range types {
		if typ != "histogram" {
			continue
		}
		prev := -1.0
		for _, s := range samples {
			if s.name == name+"_bucket" {
				require.GreaterOrEqual(t, s.value, prev, "%s buckets are cumulative", name)
				prev = s.value
			}
		}
		require.Equal(t, out[name+"_count"], out[name+"_bucket{le=+Inf}"], name)
	}
	return out
}

// TestMetrics: /metrics in Prometheus' text format counts what the API
// returned (tokens, finished requests, one TTFT per request) and shows the
// engine's state (requests and KV blocks in use, prefix-cache hits).
func TestMetrics(t *testing.T) {
	ss := startScriptServer(t, nil, 64, 1024, Options{})
	m := scrape(t, ss.api.url)
	require.Zero(t, m["nanovllm_generation_tokens_total"])
	require.EqualValues(t, ss.eng.NumBlocks(), m["nanovllm_kv_cache_blocks_total"])

	prompt, completion := 0, 0
	shared := make([]int32, 40) // two full blocks shared by the three requests
	for i, n := range []int{3, 8, 20} {
		body := map[string]any{"prompt": append(shared, int32(i+1)), "max_tokens": n, "ignore_eos": true, "stream": i == 2}
		if i == 2 {
			events := ss.api.stream(t, "/v1/completions", body)
			require.NotEmpty(t, events)
			prompt += len(shared) + 1
			completion += n
			continue
		}
		status, got := ss.api.post(t, "/v1/completions", body)
		require.Equal(t, http.StatusOK, status)
		prompt += int(path(t, got, "usage", "prompt_tokens").(float64))
		completion += int(path(t, got, "usage", "completion_tokens").(float64))
	}
	waitIdle(t, ss.eng)
	m = scrape(t, ss.api.url)
	st := ss.eng.Stats()
	require.EqualValues(t, completion, m["nanovllm_generation_tokens_total"])
	require.EqualValues(t, prompt, m["nanovllm_prompt_tokens_total"])
	require.EqualValues(t, 3, m["nanovllm_request_success_total{finished_reason=length}"])
	require.EqualValues(t, 3, m["nanovllm_time_to_first_token_seconds_count"])
	require.EqualValues(t, 3, m["nanovllm_time_per_output_token_seconds_count"])
	require.EqualValues(t, 3, m["nanovllm_e2e_request_latency_seconds_count"])
	require.Zero(t, m["nanovllm_num_requests_running"])
	require.Zero(t, m["nanovllm_kv_cache_blocks_used"])
	require.EqualValues(t, st.Blocks.PrefixHitTokens, m["nanovllm_prefix_cache_hits_total"])
	require.EqualValues(t, 2*32, st.Blocks.PrefixHitTokens, "the 2nd and 3rd requests found the shared blocks")
	require.EqualValues(t, st.Blocks.PrefixQueryTokens, m["nanovllm_prefix_cache_queries_total"])
	require.InDelta(t, float64(st.Blocks.PrefixHitTokens)/float64(st.Blocks.PrefixQueryTokens), m["nanovllm_prefix_cache_hit_ratio"], 1e-12)

	// While a request is in the model, it is running and holds blocks.
	held := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	ss.model.setGate(func() {
		once.Do(func() { close(held) })
		<-release
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp := ss.api.do(t, "/v1/completions", map[string]any{"prompt": []int32{1, 2, 3}, "max_tokens": 2}, nil)
		resp.Body.Close()
	}()
	<-held
	m = scrape(t, ss.api.url)
	require.EqualValues(t, 1, m["nanovllm_num_requests_running"])
	require.EqualValues(t, 1, m["nanovllm_kv_cache_blocks_used"])
	require.InDelta(t, 1/float64(ss.eng.NumBlocks()), m["nanovllm_kv_cache_usage_ratio"], 1e-12)
	ss.model.setGate(nil)
	close(release)
	<-done
}

// TestMetricsRates: the tokens/s gauges average the last ten whole seconds,
// and the histograms put each observation in the first bucket that holds
// it.
func TestMetricsRates(t *testing.T) {
	now := time.Unix(1000, 0)
	m := newMetrics(func() time.Time { return now })
	arrival, first := now, time.Unix(1000, 300e6)
	out := func(tokens int, gen int, finished bool) engine.Output {
		o := engine.Output{TokenIDs: make([]int32, tokens), Finished: finished, FinishReason: sequence.NotFinished}
		o.Metrics = engine.Metrics{Arrival: arrival, PromptTokens: 30, GeneratedTokens: gen, FirstToken: first, LastToken: now}
		if finished {
			o.FinishReason, o.Metrics.Finished = sequence.Length, now
		}
		return o
	}
	now = first
	m.observe(out(1, 1, false)) // the first token: 30 prompt tokens, TTFT 300 ms
	for i := 2; i <= 20; i++ {
		now = now.Add(100 * time.Millisecond)
		m.observe(out(1, i, i == 20))
	}
	// Seconds 1000..1002 hold the 20 tokens; at 1003.5 the window is
	// 993..1002.
	now = time.Unix(1003, 500e6)
	require.InDelta(t, 20.0/rateWindow, m.generationRate.perSecond(now), 1e-12)
	require.InDelta(t, 30.0/rateWindow, m.promptRate.perSecond(now), 1e-12)
	now = time.Unix(1012, 0) // 1000 and 1001 have left the window
	require.InDelta(t, float64(20-7-10)/rateWindow, m.generationRate.perSecond(now), 1e-12)
	now = time.Unix(1100, 0)
	require.Zero(t, m.generationRate.perSecond(now))

	require.Equal(t, int64(1), m.ttft.count)
	require.Equal(t, int64(1), m.ttft.counts[9], "300 ms is in the bucket le=0.5")
	require.InDelta(t, 0.1, m.tpot.sum, 1e-9, "19 gaps of 100 ms after the first token")
	require.InDelta(t, 2.2, m.e2e.sum, 1e-9)
	require.Equal(t, int64(20), m.generationTokens)
	require.Equal(t, int64(1), m.finished["length"])
}
