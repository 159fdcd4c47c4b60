package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
)

// The browser tests load the real page and the real engine (web/nanovllm.wasm)
// in headless Chromium, with WebGPU on SwiftShader, against the server of
// `nanovllm serve`. They need a built wasm and Chromium, and take a while,
// so they run only when NANOVLLM_BROWSER=1 (`make test-browser` sets it).

const repoRoot = "../.."

// browserEnv starts the serve handler over the repository (with the
// qwen3-tiny-vocab fixture at /models/local) and a fresh headless Chromium.
func browserEnv(t *testing.T) (ctx context.Context, base string) {
	t.Helper()
	return browserEnvWith(t, nil)
}

// browserEnvWith is browserEnv with extra handlers by URL prefix.
func browserEnvWith(t *testing.T, extra map[string]http.Handler) (ctx context.Context, base string) {
	t.Helper()
	if os.Getenv("NANOVLLM_BROWSER") != "1" {
		t.Skip("browser tests run with NANOVLLM_BROWSER=1 (make test-browser)")
	}
	if _, err := os.Stat(filepath.Join(repoRoot, wasmPath)); err != nil {
		t.Fatalf("%s is missing: run 'make wasm' first (make test-browser does)", wasmPath)
	}
	chrome := findChromium(t)

	mux := http.NewServeMux()
	mux.Handle("/", newServeHandler(repoRoot, map[string]string{
		"local": filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab"),
	}))
	for prefix, h := range extra {
		mux.Handle(prefix, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("enable-unsafe-webgpu", true),
		chromedp.Flag("enable-features", "Vulkan"),
		chromedp.Flag("use-vulkan", "swiftshader"),
		chromedp.Flag("use-webgpu-adapter", "swiftshader"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1100, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	// Leave the test binary time to report a failure before it is killed.
	timeout := 8 * time.Minute
	if dl, ok := t.Deadline(); ok {
		timeout = time.Until(dl) - 20*time.Second
	}
	ctx, cancel := context.WithTimeout(bctx, timeout)
	t.Cleanup(cancel)
	// Forward the page's console, so a failure shows what the page said.
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			t.Logf("console %s", m)
		}
	}()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")))
	return ctx, srv.URL
}

func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium found: install it (apt-get install -y chromium) or set CHROMIUM")
	return ""
}

// evalJSON runs an async JavaScript function body in the page and decodes
// the JSON text it returns into out.
func evalJSON(ctx context.Context, body string, out any) error {
	expr := "(async () => { " + body + " })().then((v) => JSON.stringify(v))"
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(s), out)
}

// greedyCase is one prompt of reference.json with its greedy continuation.
type greedyCase struct {
	Prompt []int32 `json:"prompt"`
	Greedy struct {
		Tokens []int32 `json:"tokens"`
	} `json:"greedy"`
}

func loadGreedyCases(t *testing.T) []greedyCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab", "reference.json"))
	require.NoError(t, err)
	var ref struct {
		Cases []greedyCase `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(data, &ref))
	require.NotEmpty(t, ref.Cases)
	return ref.Cases
}

// TestBrowserEngine drives the JavaScript API on both devices: greedy tokens
// equal to the Hugging Face reference, one request at a time and several at
// once (continuous batching), streamed token ids, and OpenAI-style chat
// whose streamed deltas join to the non-streamed reply.
//
// WebGPU runs on SwiftShader, a CPU emulation of a GPU, where one step of
// even this tiny model takes seconds on a busy machine; so it runs fewer
// steps: two prompts batched together (24 steps for both) and short chats.
// The CPU device runs every fixture prompt, alone and all together.
func TestBrowserEngine(t *testing.T) {
	ctx, base := browserEnv(t)
	cases := loadGreedyCases(t)
	all := make([]int, len(cases))
	for i := range cases {
		all[i] = i
	}
	plans := []struct {
		device     string
		sequential []int // cases run one at a time
		batched    []int // cases run all at once
		stream     int   // case streamed with generateStream, or -1
		chatTokens int
	}{
		{"cpu", all, all, 1, 20},
		// Prompt lengths 5 and 17: a partial block, and a prompt that
		// crosses a 16-token block boundary.
		{"webgpu", nil, []int{1, 3}, -1, 4},
	}
	for _, plan := range plans {
		t.Run(plan.device, func(t *testing.T) {
			prompts := func(idx []int) string {
				ps := make([][]int32, len(idx))
				for i, c := range idx {
					ps[i] = cases[c].Prompt
				}
				b, err := json.Marshal(ps)
				require.NoError(t, err)
				return string(b)
			}
			streamPrompt := "null"
			if plan.stream >= 0 {
				streamPrompt = prompts([]int{plan.stream})
			}
			var got struct {
				Device     string    `json:"device"`
				Sequential [][]int32 `json:"sequential"`
				Batched    [][]int32 `json:"batched"`
				Finish     []string  `json:"finish"`
				Deltas     []string  `json:"deltas"`
				Roles      []string  `json:"roles"`
				StreamEnd  string    `json:"streamEnd"`
				Full       struct {
					Choices []struct {
						Message struct {
							Role    string `json:"role"`
							Content string `json:"content"`
						} `json:"message"`
						FinishReason string `json:"finish_reason"`
					} `json:"choices"`
					Usage struct {
						PromptTokens     int `json:"prompt_tokens"`
						CompletionTokens int `json:"completion_tokens"`
						TotalTokens      int `json:"total_tokens"`
					} `json:"usage"`
				} `json:"full"`
				GenStream []int32 `json:"genStream"`
				Stats     map[string]any
			}
			script := fmt.Sprintf(`
				const m = await import('/web/nanovllm.js');
				const engine = await m.createEngine({model: %q, device: %q, cache: false, kvCacheBytes: 16 << 20});
				const req = (p) => ({prompt_ids: p, max_tokens: 24, temperature: 0, ignore_eos: true});
				const sequential = [], finish = [];
				for (const p of %s) {
					const r = await engine.generate(req(p));
					sequential.push(r.token_ids);
					finish.push(r.finish_reason);
				}
				const batchedResults = await Promise.all(%s.map((p) => engine.generate(req(p))));
				const batched = batchedResults.map((r) => r.token_ids);
				finish.push(...batchedResults.map((r) => r.finish_reason));
				const genStream = [];
				const streamPrompt = %s;
				if (streamPrompt) {
					for await (const d of engine.generateStream(req(streamPrompt[0]))) genStream.push(...d.token_ids);
				}
				const messages = [{role: 'user', content: 'Write a haiku about paged attention.'}];
				const chat = {messages, max_tokens: %d, temperature: 0, ignore_eos: true};
				const deltas = [], roles = [];
				let streamEnd = '';
				for await (const c of await engine.chat.completions.create({...chat, stream: true})) {
					const ch = c.choices[0];
					if (ch.delta.role) roles.push(ch.delta.role);
					if (ch.delta.content) deltas.push(ch.delta.content);
					if (ch.finish_reason) streamEnd = ch.finish_reason;
				}
				const full = await engine.chat.completions.create(chat);
				const stats = await engine.stats();
				const device = engine.device;
				engine.close();
				return {device, sequential, batched, finish, deltas, roles, streamEnd, full, genStream, stats};
			`, base+"/models/local", plan.device, prompts(plan.sequential), prompts(plan.batched), streamPrompt, plan.chatTokens)
			require.NoError(t, evalJSON(ctx, script, &got))
			t.Logf("device %s; stats %v", got.Device, got.Stats)
			require.True(t, strings.HasPrefix(got.Device, plan.device), "engine runs on %s", got.Device)

			require.Len(t, got.Sequential, len(plan.sequential))
			for i, c := range plan.sequential {
				require.Equal(t, cases[c].Greedy.Tokens, got.Sequential[i], "case %d (prompt length %d), alone", c, len(cases[c].Prompt))
			}
			require.Len(t, got.Batched, len(plan.batched))
			for i, c := range plan.batched {
				require.Equal(t, cases[c].Greedy.Tokens, got.Batched[i], "case %d (prompt length %d), batched", c, len(cases[c].Prompt))
			}
			for _, f := range got.Finish {
				require.Equal(t, "length", f)
			}
			if plan.stream >= 0 {
				require.Equal(t, cases[plan.stream].Greedy.Tokens, got.GenStream, "streamed token ids")
			}

			require.Len(t, got.Full.Choices, 1)
			full := got.Full.Choices[0]
			require.Equal(t, "assistant", full.Message.Role)
			require.Equal(t, "length", full.FinishReason)
			require.Equal(t, plan.chatTokens, got.Full.Usage.CompletionTokens)
			require.Greater(t, got.Full.Usage.PromptTokens, 10, "the chat template wraps the message")
			require.Equal(t, got.Full.Usage.PromptTokens+plan.chatTokens, got.Full.Usage.TotalTokens)
			require.Equal(t, []string{"assistant"}, got.Roles, "role comes once, in the first chunk")
			require.Equal(t, "length", got.StreamEnd)
			require.Equal(t, full.Message.Content, strings.Join(got.Deltas, ""), "deltas join to the full reply")
		})
	}
}

// TestBrowserErrors checks that failures reach JavaScript as coded errors.
func TestBrowserErrors(t *testing.T) {
	ctx, base := browserEnv(t)
	var got map[string]string
	script := fmt.Sprintf(`
		const m = await import('/web/nanovllm.js');
		const code = async (f) => { try { await f(); return 'no error'; } catch (e) { return e.code + ': ' + e.message; } };
		const engine = await m.createEngine({model: %[1]q, device: 'cpu', cache: false});
		const out = {
			missing: await code(() => m.createEngine({model: %[2]q, device: 'cpu', cache: false})),
			badName: await code(() => m.createEngine({model: 'not a model', device: 'cpu'})),
			badDevice: await code(() => m.createEngine({model: %[1]q, device: 'tpu'})),
			bothPrompts: await code(() => engine.generate({prompt: 'x', prompt_ids: [1]})),
			badToken: await code(() => engine.generate({prompt_ids: [151936]})),
			badTemp: await code(() => engine.generate({prompt: 'x', temperature: -1})),
			noMessages: await code(() => engine.chat.completions.create({messages: []})),
			tooBig: await code(() => m.createEngine({model: %[1]q, device: 'cpu', cache: false, kvCacheBytes: 3e9})),
		};
		const long = {prompt_ids: [1, 2, 3], max_tokens: 400, temperature: 0, ignore_eos: true};
		const ac = new AbortController();
		const pending = engine.generate({...long, signal: ac.signal});
		setTimeout(() => ac.abort(), 30);
		out.aborted = await code(() => pending);
		let n = 0;
		for await (const d of engine.generateStream(long)) { if (++n === 3) break; }
		const after = await engine.generate({prompt_ids: [1, 2, 3], max_tokens: 2, temperature: 0, ignore_eos: true});
		out.afterAbort = String(after.token_ids.length) + ' tokens, ' + (await engine.stats()).live_requests + ' live';
		engine.close();
		out.closed = await code(() => engine.generate({prompt: 'x'}));
		out.hub = m.resolveModelURL('Qwen/Qwen3-0.6B');
		out.hubRev = m.resolveModelURL('Qwen/Qwen3-0.6B', {revision: 'refs/pr/1'});
		out.abs = m.resolveModelURL('http://example.com/m//');
		out.rel = m.resolveModelURL('/models/local');
		return out;
	`, base+"/models/local", base+"/models/nope")
	require.NoError(t, evalJSON(ctx, script, &got))
	require.Equal(t, "https://huggingface.co/Qwen/Qwen3-0.6B/resolve/main/", got["hub"])
	require.Equal(t, "https://huggingface.co/Qwen/Qwen3-0.6B/resolve/refs%2Fpr%2F1/", got["hubRev"])
	require.Equal(t, "http://example.com/m/", got["abs"])
	require.Equal(t, base+"/models/local/", got["rel"])
	for key, want := range map[string]string{
		"missing":     "not-found: ",
		"badName":     "bad-request: ",
		"badDevice":   "bad-request: ",
		"bothPrompts": "bad-request: ",
		"badToken":    "bad-request: ",
		"badTemp":     "bad-request: ",
		"noMessages":  "bad-request: ",
		"closed":      "bad-request: ",
		"aborted":     "aborted: ",
		"tooBig":      "out-of-memory: ",
	} {
		require.True(t, strings.HasPrefix(got[key], want), "%s: got %q, want prefix %q", key, got[key], want)
	}
	require.Contains(t, got["missing"], "/models/nope/config.json")
	require.Equal(t, "2 tokens, 0 live", got["afterAbort"], "aborted and abandoned requests are gone; the engine carries on")
	require.Contains(t, got["badToken"], "151936")
}

// TestBrowserQwen3Size loads a checkpoint of Qwen3-0.6B's shape (1.5 GB of
// deterministic random bf16, generated as it is served) on WebGPU and checks
// that the weights streamed to the GPU without filling the wasm memory. It
// does not generate: on SwiftShader one step of this model takes minutes.
func TestBrowserQwen3Size(t *testing.T) {
	ctx, base := browserEnvWith(t, map[string]http.Handler{"/models/big/": bigModelHandler(t)})
	var got struct {
		Info        map[string]any `json:"info"`
		Stats       map[string]any `json:"stats"`
		LoadSeconds float64        `json:"loadSeconds"`
	}
	script := fmt.Sprintf(`
		const m = await import('/web/nanovllm.js');
		const t0 = performance.now();
		let next = 0;
		const onProgress = (p) => {
			if (p.phase !== 'download' || p.loaded >= next) {
				console.log('progress', ((performance.now() - t0) / 1000).toFixed(1), 's', p.phase, p.file || '', p.loaded || '', p.message || '');
				if (p.phase === 'download') next = p.loaded + 100e6;
			}
		};
		const engine = await m.createEngine({model: %q, device: 'webgpu', cache: false, kvCacheBytes: 32 << 20, onProgress});
		const loadSeconds = (performance.now() - t0) / 1000;
		const stats = await engine.stats();
		console.log('loaded in', loadSeconds, 's; stats', JSON.stringify(stats));
		const out = {info: engine.info, stats, loadSeconds};
		engine.close();
		return out;
	`, base+"/models/big")
	require.NoError(t, evalJSON(ctx, script, &got))
	t.Logf("loaded in %.1f s; info %v; stats %v", got.LoadSeconds, got.Info, got.Stats)
	require.Equal(t, float64(28), got.Info["num_layers"])
	require.Equal(t, "webgpu", strings.SplitN(got.Info["device"].(string), " ", 2)[0])
	mem := got.Stats["wasm_memory_bytes"].(float64)
	require.Less(t, mem, float64(256<<20), "the wasm memory must stay under 256 MB while 1.5 GB of weights stream to the GPU")
	load := got.Info["load"].(map[string]any)
	require.Greater(t, load["weightBytes"].(float64), 1.5e9, "596M bf16 parameters and the tied lm_head copy")
}

// bigModelHandler serves /models/big/: Qwen3-0.6B's config, the real
// tokenizer, and a model.safetensors of qwen3.RandomTensors written as it is
// sent (nothing on disk). Like the real Qwen3-0.6B checkpoint, it carries
// the tied output projection as its own tensor too: 1.5 GB in all, of which
// the model uses 1.2.
func bigModelHandler(t *testing.T) http.Handler {
	t.Helper()
	return randomModelHandler(t, "/models/big", qwen3.Qwen3_0_6B, true)
}

// TestBrowserNoWebGPU hides navigator.gpu, as in a browser without WebGPU:
// the page must fall back to the CPU with a visible note, asking for
// WebGPU must fail with code no-webgpu, and a missing model must show a
// clear error on the page.
func TestBrowserNoWebGPU(t *testing.T) {
	ctx, base := browserEnv(t)
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `Object.defineProperty(Navigator.prototype, 'gpu', {get: () => undefined});`,
	})
	require.NoError(t, err)
	url := fmt.Sprintf("%s/index.html?model=%s/models/nope&autoload=1", base, base)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="error"]`)),
	))
	device, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#device`)))
	require.NoError(t, err)
	require.Equal(t, "cpu", device)
	note, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#device-note`)))
	require.NoError(t, err)
	require.Contains(t, note, "WebGPU is not available")
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#error`)))
	require.NoError(t, err)
	require.Contains(t, shown, "not found")
	require.Contains(t, shown, "/models/nope/config.json")

	var code string
	require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
		const m = await import('/web/nanovllm.js');
		try { await m.createEngine({model: %q, device: 'webgpu'}); return 'no error'; } catch (e) { return e.code; }
	`, base+"/models/local"), &code))
	require.Equal(t, "no-webgpu", code)

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	shot := filepath.Join(os.TempDir(), "nanovllm-page-nowebgpu.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot: %s", shot)
}

// TestBrowserCache loads the same model twice with the Cache API on: the
// second load must not download the checkpoint again.
func TestBrowserCache(t *testing.T) {
	var weightGets atomic.Int32
	model := filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
	counted := http.StripPrefix("/models/counted", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/model.safetensors" {
			weightGets.Add(1)
		}
		fileHandler(os.DirFS(model), true).ServeHTTP(w, r)
	}))
	ctx, base := browserEnvWith(t, map[string]http.Handler{"/models/counted/": counted})
	var got struct {
		First, Second []bool
		Same          bool
	}
	script := fmt.Sprintf(`
		const m = await import('/web/nanovllm.js');
		await caches.delete('nanovllm-models-v1');
		const run = async () => {
			const cached = [];
			const engine = await m.createEngine({model: %q, device: 'cpu', onProgress: (p) => {
				if (p.phase === 'download' && p.file === 'model.safetensors' && p.loaded === 0) cached.push(p.cached);
			}});
			const r = await engine.generate({prompt_ids: [1, 2, 3], max_tokens: 4, temperature: 0, ignore_eos: true});
			engine.close();
			return [cached, r.token_ids];
		};
		const [first, a] = await run();
		const [second, b] = await run();
		return {first, second, same: JSON.stringify(a) === JSON.stringify(b)};
	`, base+"/models/counted")
	require.NoError(t, evalJSON(ctx, script, &got))
	require.Equal(t, []bool{false}, got.First)
	require.Equal(t, []bool{true}, got.Second)
	require.True(t, got.Same, "the cached checkpoint gives the same tokens")
	require.Equal(t, int32(1), weightGets.Load(), "the checkpoint is downloaded once")
}

// TestBrowserSharded splits the qwen3-tiny-vocab checkpoint into two shards
// with a model.safetensors.index.json, as large Hub models are stored, and
// checks that both devices load it and still give the reference tokens.
func TestBrowserSharded(t *testing.T) {
	src := filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
	f, err := safetensors.Open(filepath.Join(src, "model.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	dir := t.TempDir()
	names := f.Names()
	require.Greater(t, len(names), 2)
	weightMap := map[string]string{}
	for i, part := range [][]string{names[:len(names)/2], names[len(names)/2:]} {
		shard := fmt.Sprintf("model-%05d-of-00002.safetensors", i+1)
		var ts []safetensors.Tensor
		for _, n := range part {
			tensor, ok := f.Tensor(n)
			require.True(t, ok)
			ts = append(ts, tensor)
			weightMap[n] = shard
		}
		out, err := os.Create(filepath.Join(dir, shard))
		require.NoError(t, err)
		require.NoError(t, safetensors.Write(out, ts, nil))
		require.NoError(t, out.Close())
	}
	index, err := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), index, 0o644))
	for _, name := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}

	ctx, base := browserEnvWith(t, map[string]http.Handler{
		"/models/sharded/": http.StripPrefix("/models/sharded", fileHandler(os.DirFS(dir), true)),
	})
	c := loadGreedyCases(t)[2]
	prompt, err := json.Marshal(c.Prompt)
	require.NoError(t, err)
	for _, dev := range []string{"cpu", "webgpu"} {
		t.Run(dev, func(t *testing.T) {
			var got []int32
			require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
				const m = await import('/web/nanovllm.js');
				const engine = await m.createEngine({model: %q, device: %q, cache: false, kvCacheBytes: 1 << 20});
				const r = await engine.generate({prompt_ids: %s, max_tokens: 24, temperature: 0, ignore_eos: true});
				engine.close();
				return r.token_ids;
			`, base+"/models/sharded", dev, prompt), &got))
			require.Equal(t, c.Greedy.Tokens, got)
		})
	}
}

// TestBrowserBadDownloads serves broken checkpoints: a file cut short (the
// server says so honestly), a connection that drops mid-file, and a file
// that is not safetensors at all. Each must fail with the right code.
func TestBrowserBadDownloads(t *testing.T) {
	model := filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
	weights, err := os.ReadFile(filepath.Join(model, "model.safetensors"))
	require.NoError(t, err)
	files := fileHandler(os.DirFS(model), true)
	broken := func(serve func(w http.ResponseWriter)) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name := r.URL.Path[strings.LastIndex(r.URL.Path, "/"):]
			if name != "/model.safetensors" {
				r.URL.Path = name
				files.ServeHTTP(w, r)
				return
			}
			serve(w)
		})
	}
	half := len(weights) / 2
	ctx, base := browserEnvWith(t, map[string]http.Handler{
		"/models/short/": broken(func(w http.ResponseWriter) { w.Write(weights[:half]) }),
		"/models/cut/": broken(func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", fmt.Sprint(len(weights)))
			w.Write(weights[:half])
			panic(http.ErrAbortHandler) // drop the connection mid-body
		}),
		"/models/junk/": broken(func(w http.ResponseWriter) { w.Write([]byte("<html>not a checkpoint</html>")) }),
	})
	var got map[string]string
	require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
		const m = await import('/web/nanovllm.js');
		const load = async (name) => {
			try { await m.createEngine({model: %q + name, device: 'cpu', cache: false}); return 'no error'; }
			catch (e) { return e.code + ': ' + e.message; }
		};
		return {short: await load('short'), cut: await load('cut'), junk: await load('junk')};
	`, base+"/models/"), &got))
	t.Logf("%v", got)
	require.True(t, strings.HasPrefix(got["short"], "bad-model: "), got["short"])
	require.Contains(t, got["short"], "truncated")
	require.True(t, strings.HasPrefix(got["cut"], "network: "), got["cut"])
	require.True(t, strings.HasPrefix(got["junk"], "bad-model: "), got["junk"])
}

// TestBrowserOddChunks serves the checkpoint in small flushed writes of odd
// sizes, so the browser hands the loader chunks that split the header,
// tensors and 4-byte words anywhere; the model must still be exact.
func TestBrowserOddChunks(t *testing.T) {
	model := filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
	weights, err := os.ReadFile(filepath.Join(model, "model.safetensors"))
	require.NoError(t, err)
	files := fileHandler(os.DirFS(model), true)
	odd := http.StripPrefix("/models/odd", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/model.safetensors" {
			files.ServeHTTP(w, r)
			return
		}
		flusher := w.(http.Flusher)
		sizes := []int{3, 5, 1013, 7, 4093, 1, 65537}
		for off, i := 0, 0; off < len(weights); i++ {
			n := min(sizes[i%len(sizes)], len(weights)-off)
			w.Write(weights[off : off+n])
			flusher.Flush()
			off += n
			// Pauses make the browser deliver what it has so far, so
			// chunks end at these odd offsets instead of coalescing.
			if i < 40 || i%8 == 0 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}))
	ctx, base := browserEnvWith(t, map[string]http.Handler{"/models/odd/": odd})
	c := loadGreedyCases(t)[1]
	prompt, err := json.Marshal(c.Prompt)
	require.NoError(t, err)
	for _, dev := range []string{"cpu", "webgpu"} {
		t.Run(dev, func(t *testing.T) {
			var got struct {
				Tokens []int32        `json:"tokens"`
				Load   map[string]any `json:"load"`
			}
			require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
				const m = await import('/web/nanovllm.js');
				const engine = await m.createEngine({model: %q, device: %q, cache: false, kvCacheBytes: 1 << 20});
				const r = await engine.generate({prompt_ids: %s, max_tokens: 24, temperature: 0, ignore_eos: true});
				const load = engine.info.load;
				engine.close();
				return {tokens: r.token_ids, load};
			`, base+"/models/odd", dev, prompt), &got))
			t.Logf("load %v", got.Load)
			require.Equal(t, c.Greedy.Tokens, got.Tokens)
			if dev == "webgpu" {
				require.Greater(t, got.Load["goCalls"].(float64), 100.0, "the weights must arrive in many pieces")
			}
		})
	}
}

// TestBrowserAutoFallback gives the page a WebGPU adapter that the engine
// then fails to get (the second requestAdapter answers null, as a
// blocklisted GPU would): device 'auto' must fall back to the CPU, while
// an explicit 'webgpu' must fail with no-webgpu.
func TestBrowserAutoFallback(t *testing.T) {
	ctx, base := browserEnv(t)
	var got map[string]string
	require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
		const orig = GPU.prototype.requestAdapter;
		let calls = 0;
		GPU.prototype.requestAdapter = function (...args) {
			return calls++ %% 2 === 0 ? orig.apply(this, args) : Promise.resolve(null);
		};
		const m = await import('/web/nanovllm.js');
		// The fallback is decided where the engine runs; the patched
		// requestAdapter is the page's, so run the engine on the page.
		const engine = await m.createEngine({model: %[1]q, device: 'auto', cache: false, kvCacheBytes: 1 << 20, worker: false});
		const out = {auto: engine.device};
		engine.close();
		calls = 0;
		try { await m.createEngine({model: %[1]q, device: 'webgpu', cache: false, worker: false}); out.explicit = 'no error'; }
		catch (e) { out.explicit = e.code; }
		GPU.prototype.requestAdapter = orig;
		return out;
	`, base+"/models/local"), &got))
	require.True(t, strings.HasPrefix(got["auto"], "cpu"), "auto fell back to %q", got["auto"])
	require.Equal(t, "no-webgpu", got["explicit"])
}
