//go:build unix

package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/stretchr/testify/require"
)

// measureEnv switches on the measurements below, which take minutes and
// report numbers rather than check behaviour:
//
//	NANOVLLM_SERVE_MEASURE=1 go test -v -run Measure -timeout 30m ./openai/
const measureEnv = "NANOVLLM_SERVE_MEASURE"

func needMeasure(t *testing.T) {
	if os.Getenv(measureEnv) == "" {
		t.Skipf("set %s=1 to measure", measureEnv)
	}
}

// streamTokens streams one completion of token-id prompt through the API
// and returns the arrival time of every token.
func streamTokens(client *http.Client, url string, prompt []int32, maxTokens int) (start time.Time, arrivals []time.Time, err error) {
	body, _ := json.Marshal(map[string]any{"prompt": prompt, "max_tokens": maxTokens, "temperature": 0, "ignore_eos": true,
		"stream": true, "return_token_ids": true})
	start = time.Now()
	resp, err := client.Post(url+"/v1/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		return start, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return start, nil, fmt.Errorf("status %s", resp.Status)
	}
	_, err = eachEvent(resp.Body, func(ev map[string]any) bool {
		if ch, _ := ev["choices"].([]any); len(ch) > 0 {
			if ids, _ := ch[0].(map[string]any)["token_ids"].([]any); len(ids) > 0 {
				now := time.Now()
				for range ids {
					arrivals = append(arrivals, now)
				}
			}
		}
		return true
	})
	if err == nil && len(arrivals) != maxTokens {
		err = fmt.Errorf("got %d tokens, want %d", len(arrivals), maxTokens)
	}
	return start, arrivals, err
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestMeasureServerOverhead measures what the API adds per streamed token:
// the same 480-token greedy completion on the qwen3-tiny fixture (whose
// steps are cheap, so that the server's share shows), streamed by
// engine.Stream directly and through the server on loopback (JSON chunks,
// SSE, the client's parsing), in alternating rounds.
func TestMeasureServerOverhead(t *testing.T) {
	needMeasure(t)
	const tokens, rounds = 480, 9
	cfg := testEngineConfig()
	direct := loadFixture(t, idsFixture, cfg)
	a := startServer(t, idsFixture, cfg, Options{})
	prompt := []int32{1, 2, 3, 4, 5, 6, 7, 8}
	client := &http.Client{}
	var viaEngine, viaServer, cpuEngine, cpuServer []float64
	for range rounds {
		start, cpu0 := time.Now(), cpuTime()
		n := 0
		_, err := direct.eng.Stream(context.Background(), engine.Request{PromptIDs: prompt,
			Params: sampler.Params{MaxTokens: tokens, IgnoreEOS: true}}, func(o engine.Output) error {
			n += len(o.TokenIDs)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, tokens, n)
		viaEngine = append(viaEngine, float64(time.Since(start).Microseconds())/tokens)
		cpuEngine = append(cpuEngine, float64((cpuTime()-cpu0).Microseconds())/tokens)

		cpu0 = cpuTime()
		start, arrivals, err := streamTokens(client, a.url, prompt, tokens)
		require.NoError(t, err)
		viaServer = append(viaServer, float64(arrivals[len(arrivals)-1].Sub(start).Microseconds())/tokens)
		cpuServer = append(cpuServer, float64((cpuTime()-cpu0).Microseconds())/tokens)
	}
	e, s := median(viaEngine), median(viaServer)
	t.Logf("per streamed token (median of %d rounds of %d tokens): engine.Stream %.1f µs, through the API %.1f µs: the server adds %.1f µs per token",
		rounds, tokens, e, s, s-e)
	ce, cs := median(cpuEngine), median(cpuServer)
	t.Logf("CPU time per token: engine.Stream %.1f µs, through the API %.1f µs (server and this test's client together): %.1f µs more",
		ce, cs, cs-ce)
}

// TestMeasureConcurrency measures total tokens/s (prompt + output) on
// random:qwen3-0.6b with one streaming client and with 16 at once, in the
// same run, each client sending greedy requests of 32-token prompts and 16
// output tokens one after another.
func TestMeasureConcurrency(t *testing.T) {
	needMeasure(t)
	const promptLen, outLen = 32, 16
	dev := cpu.New(cpu.Options{})
	t.Cleanup(func() { dev.Close() })
	m, err := qwen3.Load(qwen3.RandomPrefix+"qwen3-0.6b", dev, qwen3.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	e, err := engine.NewQwen3(m, nil, engine.Config{
		Cache:     block.Config{BlockSize: 16, NumBlocks: 128, PrefixCaching: true},
		Scheduler: scheduler.Config{MaxSeqs: 16, MaxBatchedTokens: 1024, MaxModelLen: 1024},
	})
	require.NoError(t, err)
	s, err := New(e, nil, Options{ModelName: "random:qwen3-0.6b"})
	require.NoError(t, err)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	rng := rand.New(rand.NewPCG(7, 7))
	newPrompt := func() []int32 {
		p := make([]int32, promptLen)
		for i := range p {
			p[i] = int32(rng.IntN(10000))
		}
		return p
	}
	// One warm-up request.
	_, _, err = streamTokens(http.DefaultClient, hs.URL, newPrompt(), 2)
	require.NoError(t, err)

	run := func(clients, perClient int) {
		prompts := make([][][]int32, clients)
		for c := range prompts {
			for range perClient {
				prompts[c] = append(prompts[c], newPrompt())
			}
		}
		var mu sync.Mutex
		var ttft, tpot []float64
		var wg sync.WaitGroup
		start := time.Now()
		for c := range clients {
			wg.Go(func() {
				for _, p := range prompts[c] {
					begin, arrivals, err := streamTokens(http.DefaultClient, hs.URL, p, outLen)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					ttft = append(ttft, arrivals[0].Sub(begin).Seconds()*1000)
					tpot = append(tpot, arrivals[len(arrivals)-1].Sub(arrivals[0]).Seconds()*1000/float64(outLen-1))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		wall := time.Since(start).Seconds()
		n := clients * perClient
		t.Logf("%2d client(s) x %d requests: %d prompt + %d output tokens in %.1f s: %.1f tokens/s total, %.1f output tokens/s; "+
			"TTFT ms %s; TPOT ms %s", clients, perClient, n*promptLen, n*outLen, wall,
			float64(n*(promptLen+outLen))/wall, float64(n*outLen)/wall, percentiles(ttft), percentiles(tpot))
	}
	run(1, 4)
	run(16, 2)
	run(1, 4)
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("load average at the end: %s", bytes.TrimSpace(data))
	}
}
