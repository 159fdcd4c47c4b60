package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBrowserWorker drives the engine through its Web Worker: a streamed
// chat equal to the native Go engine's greedy reply for the same prompt,
// with no long task (over 50 ms) on the page's main thread while it
// loads and generates; an abort in the page that ends the request in Go at once; and
// a lost GPU device that fails the request in flight with gpu-lost, fires
// onlost and the 'lost' event, after which createEngine starts a fresh
// worker and generates correctly again, without reloading the page.
func TestBrowserWorker(t *testing.T) {
	ctx, base := browserEnv(t)
	model := base + "/models/local"

	t.Run("chat equals native greedy, page stays responsive", func(t *testing.T) {
		const tokens = 48
		native := genJSON(t, "--model", tinyVocabModel, "--chat", "--no-think", "--prompt", "Tell me about paged attention.",
			"--temperature", "0", "--max-tokens", fmt.Sprint(tokens), "--ignore-eos")
		require.NotNil(t, native.Text)
		var got struct {
			Text      string    `json:"text"`
			Worker    bool      `json:"worker"`
			Usage     Usage     `json:"usage"`
			LongTasks []float64 `json:"longTasks"`
			Observed  bool      `json:"observed"`
			PageLong  []float64 `json:"pageLong"`
		}
		require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
			const m = await import('/web/nanovllm.js');
			const chat = async (worker) => {
				// Observed from the start of the load: fetching, compiling
				// and building the model must not block the page either.
				const long = [];
				const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) long.push(e.duration); });
				obs.observe({type: 'longtask'});
				const engine = await m.createEngine({model: %q, device: 'cpu', cache: false, kvCacheBytes: 4 << 20, worker});
				let text = '', usage = null;
				const stream = await engine.chat.completions.create({messages: [{role: 'user', content: 'Tell me about paged attention.'}],
					enable_thinking: false, stream: true, temperature: 0, max_tokens: %d, ignore_eos: true});
				for await (const c of stream) { text += c.choices[0].delta.content || ''; if (c.usage) usage = c.usage; }
				await new Promise((r) => setTimeout(r, 100)); // let the observer report
				obs.disconnect();
				const worker_ = engine instanceof m.WorkerEngine;
				await engine.close();
				return {text, usage, long, worker: worker_};
			};
			const w = await chat(true);
			const p = await chat(false);
			// The control: a task that blocks the page for 80 ms is seen.
			const control = [];
			const obs = new PerformanceObserver((list) => { for (const e of list.getEntries()) control.push(e.duration); });
			obs.observe({type: 'longtask'});
			await new Promise((r) => setTimeout(() => { const t = performance.now(); while (performance.now() - t < 80) {} r(); }, 0));
			await new Promise((r) => setTimeout(r, 100));
			obs.disconnect();
			return {text: w.text, worker: w.worker, usage: w.usage, longTasks: w.long,
				observed: control.some((d) => d >= 80), pageLong: p.long};
		`, model, tokens), &got))
		t.Logf("long tasks while loading and generating: %d with the engine in a worker %v, %d with the engine on the page %v", len(got.LongTasks), got.LongTasks, len(got.PageLong), got.PageLong)
		require.True(t, got.Worker)
		require.True(t, got.Observed, "a blocking task of 80 ms is reported: the measurement works")
		require.Equal(t, *native.Text, got.Text, "the worker's streamed reply equals the native engine's")
		require.Equal(t, tokens, got.Usage.CompletionTokens, "the last chunk carries usage")
		require.Empty(t, got.LongTasks, "no task over 50 ms on the main thread while the worker loads and generates")
	})

	t.Run("abort crosses the worker", func(t *testing.T) {
		var got map[string]any
		require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
			const m = await import('/web/nanovllm.js');
			const engine = await m.createEngine({model: %q, device: 'cpu', cache: false, kvCacheBytes: 4 << 20});
			const ac = new AbortController();
			let n = 0, t0 = 0, err = 'no error';
			try {
				for await (const d of engine.generateStream({prompt_ids: [1, 2, 3], max_tokens: 3000, temperature: 0, ignore_eos: true, signal: ac.signal})) {
					if (++n === 2) { t0 = performance.now(); ac.abort(); }
				}
			} catch (e) { err = e.code; }
			const ms = performance.now() - t0;
			const live = (await engine.stats()).live_requests;
			const after = await engine.generate({prompt_ids: [1, 2, 3], max_tokens: 2, temperature: 0, ignore_eos: true});
			const snap = await engine.snapshot(); // parsed in the worker, copied across
			await engine.close();
			return {err, ms, live, after: after.token_ids.length, closed: await engine.stats().then(() => 'no error', (e) => e.code),
				blocks: snap.num_blocks, requests: snap.counters.requests};
		`, model), &got))
		require.Equal(t, "aborted", got["err"])
		require.Less(t, got["ms"].(float64), 1000.0, "aborted at once")
		require.Equal(t, float64(0), got["live"])
		require.Equal(t, float64(2), got["after"])
		require.Equal(t, "bad-request", got["closed"])
		require.Positive(t, got["blocks"], "snapshot() through the worker")
		require.Equal(t, float64(2), got["requests"], "the aborted request and the one after")
	})

	t.Run("lost GPU device, then a restart", func(t *testing.T) {
		c := loadGreedyCases(t)[1]
		var got map[string]any
		require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
			const m = await import('/web/nanovllm.js');
			const opts = {model: %q, device: 'webgpu', cache: false, kvCacheBytes: 1 << 20};
			const engine = await m.createEngine(opts);
			const lost = [];
			engine.onlost = (e) => lost.push('onlost ' + e.code);
			engine.addEventListener('lost', (ev) => lost.push('event ' + ev.error.code));
			let err = 'no error';
			try {
				for await (const d of engine.generateStream({prompt_ids: [1, 2, 3], max_tokens: 3000, temperature: 0, ignore_eos: true})) {
					await engine.loseDeviceForTesting();
				}
			} catch (e) { err = e.code + ': ' + e.message; }
			const later = await engine.generate({prompt_ids: [1], max_tokens: 1}).then(() => 'no error', (e) => e.code);
			const fresh = await m.createEngine(opts);
			const r = await fresh.generate({prompt_ids: %s, max_tokens: 24, temperature: 0, ignore_eos: true});
			const device = fresh.device;
			await fresh.close();
			return {err, lost, later, ids: r.token_ids, device};
		`, model, idJSON(c.Prompt)), &got))
		require.True(t, strings.HasPrefix(got["err"].(string), "gpu-lost: "), got["err"])
		require.Equal(t, []any{"onlost gpu-lost", "event gpu-lost"}, got["lost"])
		require.Equal(t, "gpu-lost", got["later"])
		require.True(t, strings.HasPrefix(got["device"].(string), "webgpu"), got["device"])
		ids := make([]int32, 0)
		for _, v := range got["ids"].([]any) {
			ids = append(ids, int32(v.(float64)))
		}
		require.Equal(t, c.Greedy.Tokens, ids, "the restarted engine is exact")
	})
}

// Usage is the usage object of a chat completion.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

func idJSON(ids []int32) string { return "[" + idList(ids) + "]" }
