package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
	"github.com/stretchr/testify/require"
)

// loadClient is one simulated client of the load test: what it asks, what
// the engine answers to that alone, and, after a round, what it received.
type loadClient struct {
	chat      bool
	messages  []tokenizer.Message // chat
	prompt    []int32             // completions
	maxTokens int
	seed      *uint64 // nil: greedy
	cut       int     // > 0: disconnect after this many token chunks

	want engine.Result // the engine's answer to this request alone

	// One round's outcome.
	tokens   []int32
	text     string
	finish   string
	done     bool // [DONE] arrived
	ttft     time.Duration
	gaps     []time.Duration
	received int
}

var loadWords = strings.Fields("the a river stone light quick brown fox over lazy dog 春 天 🙂 café naïve " +
	"seven bright ideas cross cold water while engines hum softly in the night, and numbers 42 1024")

// newLoadClients draws n clients from seed: half chat (random words, some
// with a system turn), half completions (random token ids below 10,000, as
// nano-vllm's bench.py); a quarter sample with a seed, the rest are greedy;
// one in eight disconnects after one to three token chunks.
func newLoadClients(n int, seed uint64) []*loadClient {
	rng := rand.New(rand.NewPCG(seed, seed))
	clients := make([]*loadClient, n)
	for i := range clients {
		c := &loadClient{chat: i%2 == 0, maxTokens: 4 + rng.IntN(20)}
		if c.chat {
			words := make([]string, 3+rng.IntN(30))
			for k := range words {
				words[k] = loadWords[rng.IntN(len(loadWords))]
			}
			if rng.IntN(3) == 0 {
				c.messages = append(c.messages, tokenizer.Message{Role: "system", Content: "You are terse."})
			}
			c.messages = append(c.messages, tokenizer.Message{Role: "user", Content: strings.Join(words, " ")})
		} else {
			c.prompt = make([]int32, 4+rng.IntN(60))
			for k := range c.prompt {
				c.prompt[k] = int32(rng.IntN(10000))
			}
		}
		if rng.IntN(4) == 0 {
			s := rng.Uint64()
			c.seed = &s
		}
		if i%8 == 7 {
			c.cut = 1 + rng.IntN(3)
		}
		clients[i] = c
	}
	return clients
}

func (c *loadClient) params() sampler.Params {
	p := sampler.Params{MaxTokens: c.maxTokens}
	if c.seed != nil {
		p.Temperature, p.TopK, p.TopP, p.Seed = 0.8, 40, 0.9, c.seed
	}
	return p
}

func (c *loadClient) body() map[string]any {
	b := map[string]any{"max_tokens": c.maxTokens, "stream": true, "return_token_ids": true, "temperature": 0}
	if c.seed != nil {
		b["temperature"], b["top_k"], b["top_p"], b["seed"] = 0.8, 40, 0.9, int64(*c.seed)
	}
	if c.chat {
		b["messages"] = c.messages
	} else {
		b["prompt"] = c.prompt
	}
	return b
}

// run streams the client's request, reading it as a client library does,
// and disconnects after cut token chunks if it is one that does.
func (c *loadClient) run(client *http.Client, url string) error {
	c.tokens, c.text, c.finish, c.done, c.ttft, c.gaps, c.received = nil, "", "", false, 0, nil, 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	data, err := json.Marshal(c.body())
	if err != nil {
		return err
	}
	endpoint := "/v1/completions"
	if c.chat {
		endpoint = "/v1/chat/completions"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+endpoint, bytes.NewReader(data))
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	last := start
	var eventErr error
	done, err := eachEvent(resp.Body, func(ev map[string]any) bool {
		if e, ok := ev["error"]; ok {
			eventErr = fmt.Errorf("error event: %v", e)
			return false
		}
		ch := ev["choices"].([]any)
		if len(ch) == 0 {
			return true
		}
		choice := ch[0].(map[string]any)
		if fr, ok := choice["finish_reason"].(string); ok {
			c.finish = fr
		}
		if v, ok := choice["text"].(string); ok {
			c.text += v
		}
		if d, ok := choice["delta"].(map[string]any); ok {
			if v, ok := d["content"].(string); ok {
				c.text += v
			}
		}
		if v, ok := choice["token_ids"].([]any); ok && len(v) > 0 {
			now := time.Now()
			if c.received == 0 {
				c.ttft = now.Sub(start)
			} else {
				c.gaps = append(c.gaps, now.Sub(last))
			}
			last = now
			for _, x := range v {
				c.tokens = append(c.tokens, int32(x.(float64)))
			}
			c.received++
			if c.cut > 0 && c.received == c.cut {
				return false // the client goes away mid-stream
			}
		}
		return true
	})
	c.done = done
	if eventErr != nil {
		return eventErr
	}
	return err
}

// TestLoad: 64 concurrent streaming clients on loopback, chat and
// completions, greedy and seeded, one in eight disconnecting mid-stream,
// three rounds, over a KV pool too small for all of them (preemption).
// Every greedy client that stays gets exactly what the engine gives its
// request alone (tokens, text and finish reason: nothing lost, nothing
// mixed up); every one that leaves got a prefix of it; after each round
// every KV block is back in the pool and every request is accounted for;
// and the heap and the goroutines do not grow from round to round.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	cfg := testEngineConfig()
	cfg.Cache.NumBlocks = 40 // less than 16 running clients at their longest: preemption
	a := startServer(t, vocabFixture, cfg, Options{})
	ref := loadFixture(t, vocabFixture, testEngineConfig())
	clients := newLoadClients(64, 2024)
	for i, c := range clients {
		req := engine.Request{PromptIDs: c.prompt, Params: c.params()}
		if c.chat {
			req.Prompt = chatPromptTB(t, ref.tok, c.messages)
		}
		if c.seed == nil {
			req.Params.Logprobs = 2
		}
		c.want = direct(t, ref.eng, req)
		// The CPU kernels' sums are not bit for bit the same in a batch
		// as alone (about 1e-6 apart), so the load is drawn such that no
		// greedy step is that close to a tie.
		for k, lp := range c.want.Logprobs {
			require.Greater(t, lp.Top[0].Logprob-lp.Top[1].Logprob, float32(1e-4), "client %d token %d is a near tie: draw other clients", i, k)
		}
	}

	transport := &http.Transport{MaxIdleConnsPerHost: len(clients)}
	client := &http.Client{Transport: transport}
	defer transport.CloseIdleConnections()
	const rounds = 3
	var heap [rounds]uint64
	var goroutines [rounds]int
	for round := range rounds {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, len(clients))
		for i, c := range clients {
			wg.Go(func() { errs[i] = c.run(client, a.url) })
		}
		wg.Wait()
		elapsed := time.Since(start)
		for i, err := range errs {
			require.NoError(t, err, "client %d", i)
		}
		waitIdle(t, a.eng)

		completed, left, tokens := 0, 0, 0
		var ttft, tpot []float64
		for i, c := range clients {
			tokens += len(c.tokens)
			if c.cut > 0 && c.received >= c.cut && c.finish == "" {
				left++
				if c.seed == nil {
					require.True(t, slices.Equal(c.want.TokenIDs[:len(c.tokens)], c.tokens), "client %d left with a prefix of its answer", i)
				}
				continue
			}
			completed++
			require.True(t, c.done, "client %d got [DONE]", i)
			if c.seed == nil {
				require.Equal(t, c.want.TokenIDs, c.tokens, "client %d (chat %v)", i, c.chat)
				require.Equal(t, c.want.Text, c.text, "client %d", i)
				require.Equal(t, openAIReason(c.want.FinishReason), c.finish, "client %d", i)
			} else {
				// Sampling is seeded, but a batch's logits differ from a
				// lone request's in the last bits, which can tip a draw:
				// check that the text is this client's own tokens.
				require.Equal(t, ref.tok.Decode(c.tokens, true), c.text, "client %d", i)
				require.LessOrEqual(t, len(c.tokens), c.maxTokens)
				require.Equal(t, len(c.tokens) == c.maxTokens, c.finish == "length", "client %d", i)
			}
			ttft = append(ttft, c.ttft.Seconds()*1000)
			if len(c.gaps) > 0 {
				var sum time.Duration
				for _, g := range c.gaps {
					sum += g
				}
				tpot = append(tpot, (sum/time.Duration(len(c.gaps))).Seconds()*1000)
			}
		}
		require.Equal(t, len(clients), completed+left)
		require.Positive(t, left)
		t.Logf("round %d: %d clients (%d completed, %d left mid-stream), %d tokens streamed in %v: %.0f tokens/s; "+
			"client TTFT ms %s; TPOT ms %s", round+1, len(clients), completed, left, tokens, elapsed.Round(time.Millisecond),
			float64(tokens)/elapsed.Seconds(), percentiles(ttft), percentiles(tpot))

		transport.CloseIdleConnections()
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap[round] = ms.HeapInuse
		goroutines[round] = runtime.NumGoroutine()
	}
	m := scrape(t, a.url)
	require.EqualValues(t, rounds*len(clients), m["nanovllm_request_success_total{finished_reason=stop}"]+
		m["nanovllm_request_success_total{finished_reason=length}"]+m["nanovllm_request_success_total{finished_reason=abort}"],
		"every request finished once")
	t.Logf("heap in use after each round: %v MiB; goroutines: %v; preemptions: %d", mib(heap[:]), goroutines, a.eng.Stats().Preemptions)
	require.Positive(t, a.eng.Stats().Preemptions, "the pool is small enough to preempt")
	// The first round warms up (connections, buffers, the prefix cache);
	// after it nothing may grow by more than a few MiB.
	require.Less(t, heap[rounds-1], heap[1]+4<<20, "the heap grows from round to round")
	require.LessOrEqual(t, goroutines[rounds-1], goroutines[1], "goroutines leak")
}

func chatPromptTB(t testing.TB, tok *tokenizer.Tokenizer, msgs []tokenizer.Message) string {
	t.Helper()
	text, err := tok.ApplyChatTemplate(msgs, tokenizer.ChatOptions{AddGenerationPrompt: true})
	require.NoError(t, err)
	return text
}

// percentiles formats p50/p90/p99 of xs.
func percentiles(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	at := func(p float64) float64 { return s[min(len(s)-1, int(p/100*float64(len(s))))] }
	return fmt.Sprintf("p50 %.1f, p90 %.1f, p99 %.1f", at(50), at(90), at(99))
}

func mib(xs []uint64) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%.1f", float64(x)/(1<<20))
	}
	return out
}
