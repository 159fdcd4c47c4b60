package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
)

// benchConfig is the mid-size random checkpoint of TestBrowserPageBench:
// Qwen3's vocabulary and tokenizer, with a narrower and shallower body (about
// 50M parameters), so that a decode step on SwiftShader takes tens of
// milliseconds, like a real model's on a real GPU, rather than minutes.
var benchConfig = func() qwen3.Config {
	c := qwen3.Qwen3_0_6B
	c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers = 256, 768, 4
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 4, 2, 64
	c.MaxPositionEmbeddings = 4096
	return c
}()

// randomModelHandler serves cfg as a model directory under prefix: its
// config.json, the real Qwen3 tokenizer and a model.safetensors of
// qwen3.RandomTensors, written as it is sent. With lmHeadCopy a tied model
// also carries lm_head.weight, as some real checkpoints do.
func randomModelHandler(t *testing.T, prefix string, cfg qwen3.Config, lmHeadCopy bool) http.Handler {
	t.Helper()
	config, err := json.Marshal(map[string]any{
		"model_type": "qwen3", "architectures": []string{"Qwen3ForCausalLM"},
		"vocab_size": cfg.VocabSize, "hidden_size": cfg.HiddenSize, "intermediate_size": cfg.IntermediateSize,
		"num_hidden_layers": cfg.NumHiddenLayers, "num_attention_heads": cfg.NumAttentionHeads,
		"num_key_value_heads": cfg.NumKeyValueHeads, "head_dim": cfg.HeadDim, "rope_theta": cfg.RopeTheta,
		"rms_norm_eps": cfg.RMSNormEps, "max_position_embeddings": cfg.MaxPositionEmbeddings,
		"tie_word_embeddings": cfg.TieWordEmbeddings, "bos_token_id": cfg.BOSTokenID, "eos_token_id": cfg.EOSTokenIDs[0],
		"hidden_act": "silu", "attention_bias": false, "use_sliding_window": false, "rope_scaling": nil,
	})
	require.NoError(t, err)
	data, shapes := qwen3.RandomTensors(cfg)
	if lmHeadCopy {
		data["lm_head.weight"] = data["model.embed_tokens.weight"]
		shapes["lm_head.weight"] = shapes["model.embed_tokens.weight"]
	}
	names := make([]string, 0, len(data))
	for n := range data {
		names = append(names, n)
	}
	sort.Strings(names)
	tensors := make([]safetensors.Tensor, len(names))
	for i, n := range names {
		tensors[i] = safetensors.Tensor{Name: n, DType: safetensors.BF16, Shape: shapes[n], Data: data[n]}
	}
	tokDir := filepath.Join(repoRoot, "testdata", "qwen3-tokenizer")
	return http.StripPrefix(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/config.json":
			w.Header().Set("Content-Type", "application/json")
			w.Write(config)
		case "/tokenizer.json", "/tokenizer_config.json":
			http.ServeFile(w, r, filepath.Join(tokDir, r.URL.Path[1:]))
		case "/model.safetensors":
			w.Header().Set("Content-Type", "application/octet-stream")
			if err := safetensors.Write(w, tensors, map[string]string{"format": "pt"}); err != nil {
				t.Logf("writing the checkpoint: %v", err)
			}
		default:
			http.NotFound(w, r)
		}
	}))
}

// benchRound is one timed run of the page: n conversations sent at once.
type benchRound struct {
	Tokens  int     `json:"tokens"`  // completion tokens of all replies
	Seconds float64 `json:"seconds"` // from the clicks to the last reply's end
	// LastFirstToken is when the last of the replies got its first token
	// (seconds after the clicks): the decode phase is what follows.
	LastFirstToken float64 `json:"lastFirstToken"`
	// LongTasks are the main thread's long tasks (over 50 ms) meanwhile, in ms.
	LongTasks []float64 `json:"longTasks"`
	MaxBatch  int       `json:"maxBatch"` // most requests the inside view saw running together
	// InsideMaxMs is the longest update of the inside view (the page's own
	// work per snapshot), InsideUpdates how many there were.
	InsideMaxMs   float64 `json:"insideMaxMs"`
	InsideUpdates int     `json:"insideUpdates"`
}

// TestBrowserPageBench measures what continuous batching gives the page:
// the total tokens per second of 8 conversations generating at once against
// one alone, on WebGPU (SwiftShader here) and on the wasm CPU device, with
// the mid-size random checkpoint; and that the main thread has no long task
// (over 50 ms) while they generate. Rounds of 1 and 8 alternate; medians.
// Opt in with NANOVLLM_BENCH_BROWSER=1 (make bench-browser); it takes a few
// minutes.
func TestBrowserPageBench(t *testing.T) {
	if os.Getenv("NANOVLLM_BENCH_BROWSER") != "1" {
		t.Skip("the page benchmark runs with NANOVLLM_BENCH_BROWSER=1 (make bench-browser)")
	}
	ctx, base := browserEnvWith(t, map[string]http.Handler{"/models/mid/": randomModelHandler(t, "/models/mid", benchConfig, false)})
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1366, 768)))
	maxTokens := 32
	if s := os.Getenv("NANOVLLM_BENCH_TOKENS"); s != "" {
		var err error
		maxTokens, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	devices := []string{"webgpu", "cpu"}
	if s := os.Getenv("NANOVLLM_BENCH_DEVICES"); s != "" {
		devices = strings.Split(s, ",")
	}
	for _, dev := range devices {
		t.Run(dev, func(t *testing.T) {
			url := fmt.Sprintf("%s/index.html?model=%s/models/mid&device=%s&kv=64&quant=bf16&autoload=1&chats=8", base, base, dev)
			require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url)))
			waitPage(t, ctx, `document.body.dataset.state === 'ready'`, "the model to load", 5*time.Minute)
			round := func(n int) benchRound {
				var r benchRound
				pageEval(t, ctx, fmt.Sprintf(`
					const n = %d, max = %d;
					for (let i = 0; i < 8; i++) conv(i).querySelector('[data-testid="new-chat"]').click();
					const long = [];
					const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) long.push(e.duration); });
					obs.observe({type: 'longtask'});
					nanovllmPage.inside.maxRunning = 0;
					Object.assign(nanovllmPage.work, {max: 0, total: 0, count: 0});
					const t0 = performance.now();
					for (let i = 0; i < n; i++) {
						set(i, {temp: 0, max});
						conv(i).querySelector('[data-testid="chat-input"]').value = 'Conversation ' + (i + 1) + ': tell me a story about the number ' + (i * 7 + 3) + '.';
						conv(i).querySelector('[data-testid="send"]').click();
					}
					while ([...convs()].some((c) => c.dataset.state === 'generating')) await new Promise((r) => setTimeout(r, 20));
					const seconds = (performance.now() - t0) / 1000;
					obs.disconnect();
					let tokens = 0, ttft = 0;
					for (let i = 0; i < n; i++) {
						tokens += replies(i).at(-1).completion;
						ttft = Math.max(ttft, Number(conv(i).querySelector('.msg.assistant:last-of-type').dataset.ttftMs));
					}
					return {tokens, seconds, lastFirstToken: ttft / 1000, longTasks: long, maxBatch: nanovllmPage.inside.maxRunning,
						insideMaxMs: nanovllmPage.work.max, insideUpdates: nanovllmPage.work.count};
				`, n, maxTokens), &r)
				require.Equal(t, n*maxTokens, r.Tokens, "every reply runs to max tokens")
				return r
			}
			round(1) // warm-up: shaders compiled, buffers grown
			var one, eight, oneDecode, eightDecode []float64
			var long []float64
			batch := 0
			insideMax, updates := 0.0, 0
			for range 3 {
				r1 := round(1)
				r8 := round(8)
				one = append(one, float64(r1.Tokens)/r1.Seconds)
				eight = append(eight, float64(r8.Tokens)/r8.Seconds)
				// Decode only: the tokens after each reply's first, over the
				// time after the last first token.
				oneDecode = append(oneDecode, float64(r1.Tokens-1)/(r1.Seconds-r1.LastFirstToken))
				eightDecode = append(eightDecode, float64(r8.Tokens-8)/(r8.Seconds-r8.LastFirstToken))
				long = append(long, r1.LongTasks...)
				long = append(long, r8.LongTasks...)
				batch = max(batch, r8.MaxBatch)
				insideMax = max(insideMax, r1.InsideMaxMs, r8.InsideMaxMs)
				updates += r1.InsideUpdates + r8.InsideUpdates
			}
			// What one full redraw of the inside view costs the main thread
			// (the KV map, plots and queues, with the last snapshot of 8
			// conversations), timed with nothing generating.
			var redraw float64
			pageEval(t, ctx, `
				const v = nanovllmPage.inside, times = [];
				for (let i = 0; i < 50; i++) { const t0 = performance.now(); v.queueKey = ''; v.render(performance.now(), true); times.push(performance.now() - t0); }
				times.sort((a, b) => a - b);
				return times[25];
			`, &redraw)
			m1, m8 := median(one), median(eight)
			t.Logf("%s: 1 conversation %.1f tokens/s (rounds %.1f), 8 at once %.1f tokens/s (rounds %.1f): %.2fx; most running together %d; "+
				"inside view: %d updates, longest %.1f ms, a full redraw %.2f ms (median, idle); long tasks on the main thread %v ms",
				dev, m1, one, m8, eight, m8/m1, batch, updates, insideMax, redraw, long)
			t.Logf("%s decode only: 1 conversation %.1f tokens/s, 8 at once %.1f tokens/s: %.2fx",
				dev, median(oneDecode), median(eightDecode), median(eightDecode)/median(oneDecode))
			require.Equal(t, 8, batch, "the eight requests ran in one batch")
			require.Empty(t, long, "no long task on the main thread while generating")
			if dev == "webgpu" {
				require.GreaterOrEqual(t, m8/m1, 4.0, "8 conversations at once give at least 4x the tokens/s of one")
			}
		})
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
