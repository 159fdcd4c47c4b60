package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// downloadPrelude is the JavaScript every download subtest starts with:
// the library, the fake Hub's endpoint (this page's origin), and helpers.
// run loads a repo, streams a greedy completion of prompt and closes the
// engine; it returns the token ids and what the progress events said
// about model.safetensors.
const downloadPrelude = `
	const m = await import('/web/nanovllm.js');
	const hub = location.origin;
	const code = async (f) => { try { await f(); return 'no error'; } catch (e) { return e.code + ': ' + e.message; } };
	const cacheDir = async (repo) => {
		const root = await navigator.storage.getDirectory();
		const all = await root.getDirectoryHandle('nanovllm-models');
		return all.getDirectoryHandle(encodeURIComponent(hub + ' ' + repo + '@main'));
	};
	const cached = async (repo) => (await m.listCachedModels()).find((c) => c.model === repo) || null;
	const run = async (repo, prompt, extra = {}) => {
		const events = [];
		const engine = await m.createEngine({model: repo, hub, device: 'cpu', kvCacheBytes: 1 << 20,
			onProgress: (p) => { if (p.file === 'model.safetensors') events.push(p); }, ...extra});
		const ids = [];
		for await (const d of engine.generateStream({prompt_ids: prompt, max_tokens: 24, temperature: 0, ignore_eos: true})) ids.push(...d.token_ids);
		const worker = engine instanceof m.WorkerEngine;
		await engine.close();
		const downloads = events.filter((e) => e.phase === 'download');
		const last = downloads[downloads.length - 1] || {};
		return {ids, worker,
			cached: [...new Set(downloads.map((e) => e.cached))],
			verified: !!last.verified, verifyPhase: events.some((e) => e.phase === 'verify'),
			loaded: last.loaded, total: last.total,
			rate: downloads.some((e) => e.bytesPerSecond > 0 && 'secondsLeft' in e)};
	};
`

// loadRun is what run returns.
type loadRun struct {
	IDs         []int32 `json:"ids"`
	Worker      bool    `json:"worker"`
	Cached      []bool  `json:"cached"`
	Verified    bool    `json:"verified"`
	VerifyPhase bool    `json:"verifyPhase"`
	Loaded      int64   `json:"loaded"`
	Total       int64   `json:"total"`
	Rate        bool    `json:"rate"`
}

// TestBrowserDownload loads models from a fake Hugging Face Hub (tree API
// with SHA-256s, resolve URLs redirecting to a CDN with Range) through the
// worker, with the OPFS cache on: the first load downloads and verifies
// every file, a reload fetches no file again, a cached file truncated or
// corrupted behind the library's back is detected and fetched again, a
// connection cut mid-file is resumed with Range, a corrupt download is
// refused and not cached, a model too big for the quota fails before any
// download, 401 and 404 are explained, an aborted load stops at once, and
// a model without tokenizer files runs on prompt_ids. Every generation is
// checked against the fixture's greedy tokens from transformers.
func TestBrowserDownload(t *testing.T) {
	tiny := filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
	noTok := filepath.Join(repoRoot, "testdata", "qwen3-tiny")
	hub := newFakeHub(t, map[string]string{
		"test/tiny": tiny, "test/resume": tiny, "test/bad": tiny, "test/quota": tiny,
		"test/slow": tiny, "test/notok": noTok, "test/page": tiny,
	})
	served, err := newModelFiles(tiny, repoRoot)
	require.NoError(t, err)
	ctx, _ := browserEnvWith(t, map[string]http.Handler{"/api/": hub, "/cdn/": hub, "/test/": hub,
		servedModelPath: http.StripPrefix(strings.TrimSuffix(servedModelPath, "/"), served)})
	c := loadGreedyCases(t)[2]
	prompt, err := json.Marshal(c.Prompt)
	require.NoError(t, err)
	weights, err := os.Stat(filepath.Join(tiny, "model.safetensors"))
	require.NoError(t, err)
	load := func(t *testing.T, repo string) loadRun {
		t.Helper()
		var got loadRun
		require.NoError(t, evalJSON(ctx, downloadPrelude+fmt.Sprintf(`return await run(%q, %s);`, repo, prompt), &got))
		require.Equal(t, c.Greedy.Tokens, got.IDs, "%s: greedy tokens", repo)
		require.True(t, got.Worker, "the engine runs in a worker")
		return got
	}
	eval := func(t *testing.T, js string) map[string]any {
		t.Helper()
		var out map[string]any
		require.NoError(t, evalJSON(ctx, downloadPrelude+js, &out))
		return out
	}
	files := []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"}

	t.Run("first load downloads and verifies", func(t *testing.T) {
		got := load(t, "test/tiny")
		require.Equal(t, []bool{false}, got.Cached)
		require.True(t, got.VerifyPhase, "a verify event for the weights")
		require.True(t, got.Verified, "the weights were checked against the tree's sha256")
		require.Equal(t, weights.Size(), got.Loaded)
		require.Equal(t, weights.Size(), got.Total)
		require.True(t, got.Rate, "progress carries bytesPerSecond and secondsLeft")
		for _, f := range files {
			require.Equal(t, 1, hub.weightGets("test/tiny", f), f)
		}
	})
	t.Run("reload fetches no file again", func(t *testing.T) {
		got := load(t, "test/tiny")
		require.Equal(t, []bool{true}, got.Cached)
		for _, f := range files {
			require.Equal(t, 1, hub.weightGets("test/tiny", f), f)
		}
	})
	t.Run("cache listed", func(t *testing.T) {
		var total int64
		for _, f := range files {
			st, err := os.Stat(filepath.Join(tiny, f))
			require.NoError(t, err)
			total += st.Size()
		}
		out := eval(t, `return {entry: await cached('test/tiny'), est: await m.storageEstimate()};`)
		require.Equal(t, map[string]any{"model": "test/tiny", "revision": "main", "files": float64(len(files)), "bytes": float64(total)}, out["entry"])
		est := out["est"].(map[string]any)
		require.Greater(t, est["quota"].(float64), float64(0))
		require.GreaterOrEqual(t, est["usage"].(float64), float64(total))
	})
	t.Run("truncated cache file fetched again", func(t *testing.T) {
		eval(t, fmt.Sprintf(`
			const f = await (await cacheDir('test/tiny')).getFileHandle('model.safetensors');
			const w = await f.createWritable({keepExistingData: true});
			await w.truncate(%d);
			await w.close();
			return {};`, weights.Size()/2))
		got := load(t, "test/tiny")
		require.Equal(t, []bool{false}, got.Cached)
		require.Equal(t, 2, hub.weightGets("test/tiny", "model.safetensors"))
		require.Equal(t, 1, hub.weightGets("test/tiny", "config.json"))
	})
	t.Run("corrupted cache file fetched again", func(t *testing.T) {
		eval(t, fmt.Sprintf(`
			const f = await (await cacheDir('test/tiny')).getFileHandle('model.safetensors');
			const at = %d;
			const byte = new Uint8Array(await (await f.getFile()).slice(at, at + 1).arrayBuffer());
			const w = await f.createWritable({keepExistingData: true});
			await w.write({type: 'write', position: at, data: new Uint8Array([byte[0] ^ 0x10])});
			await w.close();
			return {};`, weights.Size()-100))
		got := load(t, "test/tiny")
		require.Equal(t, []bool{false}, got.Cached[len(got.Cached)-1:], "the second try downloads")
		require.Equal(t, 3, hub.weightGets("test/tiny", "model.safetensors"))
		again := load(t, "test/tiny")
		require.Equal(t, []bool{true}, again.Cached, "the fresh copy is cached and good")
		require.Equal(t, 3, hub.weightGets("test/tiny", "model.safetensors"))
	})
	t.Run("cut connection resumed with Range", func(t *testing.T) {
		hub.arm(func(h *fakeHub) { h.cut["model.safetensors"] = weights.Size() / 2 })
		got := load(t, "test/resume")
		require.True(t, got.Verified)
		hub.mu.Lock()
		ranges := append([]string(nil), hub.ranges...)
		hub.mu.Unlock()
		require.Len(t, ranges, 1, "one resume: %v", ranges)
		var from int64
		_, err := fmt.Sscanf(ranges[0], "model.safetensors bytes=%d-", &from)
		require.NoError(t, err, ranges[0])
		require.Positive(t, from)
		require.LessOrEqual(t, from, weights.Size()/2)
		require.Equal(t, 2, hub.weightGets("test/resume", "model.safetensors"), "the cut GET and the resuming one")
	})
	t.Run("corrupt download refused and not cached", func(t *testing.T) {
		hub.arm(func(h *fakeHub) { h.corrupt["model.safetensors"] = true })
		defer hub.arm(func(h *fakeHub) { delete(h.corrupt, "model.safetensors") })
		out := eval(t, fmt.Sprintf(`return {err: await code(() => run('test/bad', %s)), entry: await cached('test/bad')};`, prompt))
		require.True(t, strings.HasPrefix(out["err"].(string), "bad-model: "), out["err"])
		require.Contains(t, out["err"], "SHA-256")
		require.Contains(t, out["err"], "discarded")
		require.Equal(t, float64(len(files)-1), out["entry"].(map[string]any)["files"], "all but the weights are cached")
	})
	t.Run("quota error before any download", func(t *testing.T) {
		// The quota is checked where the engine runs: on the page here, so
		// that the page's estimate can be faked.
		out := eval(t, fmt.Sprintf(`
			const orig = StorageManager.prototype.estimate;
			StorageManager.prototype.estimate = async () => ({usage: 1000, quota: 5000});
			try { return {err: await code(() => run('test/quota', %s, {worker: false}))}; }
			finally { StorageManager.prototype.estimate = orig; }`, prompt))
		require.True(t, strings.HasPrefix(out["err"].(string), "quota: "), out["err"])
		require.Contains(t, out["err"], "only 4.00 KB is free")
		require.Contains(t, out["err"], "delete cached models")
		for _, f := range files {
			require.Zero(t, hub.weightGets("test/quota", f), f)
		}
	})
	t.Run("401 and 404 explained", func(t *testing.T) {
		out := eval(t, `return {
			missing: await code(() => m.createEngine({model: 'test/nope', hub, device: 'cpu'})),
			gated: await code(() => m.createEngine({model: 'test/gated', hub, device: 'cpu'})),
			revision: await code(() => m.createEngine({model: 'test/tiny', hub, revision: 'v9', device: 'cpu'})),
		};`)
		require.True(t, strings.HasPrefix(out["missing"].(string), "not-found: "), out["missing"])
		require.Contains(t, out["missing"], `HTTP 404: the file list does not exist (check the repo id "test/nope" and revision "main"`)
		require.True(t, strings.HasPrefix(out["gated"].(string), "not-found: "), out["gated"])
		require.Contains(t, out["gated"], "HTTP 401")
		require.Contains(t, out["gated"], "needs credentials")
		require.Contains(t, out["revision"], `revision "v9"`)
	})
	t.Run("abort mid-download", func(t *testing.T) {
		hub.arm(func(h *fakeHub) { h.slow["model.safetensors"] = true })
		defer hub.arm(func(h *fakeHub) { delete(h.slow, "model.safetensors") })
		out := eval(t, `
			const ac = new AbortController();
			let t0 = 0;
			const err = await code(() => m.createEngine({model: 'test/slow', hub, device: 'cpu', signal: ac.signal,
				onProgress: (p) => { if (p.file === 'model.safetensors' && p.loaded > 0 && !t0) { t0 = performance.now(); ac.abort(); } }}));
			return {err, ms: performance.now() - t0, entry: await cached('test/slow')};`)
		require.True(t, strings.HasPrefix(out["err"].(string), "aborted: "), out["err"])
		require.Less(t, out["ms"].(float64), 2000.0, "the load stops at once")
		require.Equal(t, float64(len(files)-1), out["entry"].(map[string]any)["files"], "the partial weights are not cached")
	})
	t.Run("aborted download resumed by the next load", func(t *testing.T) {
		before := hub.weightGets("test/slow", "model.safetensors")
		got := load(t, "test/slow")
		require.True(t, got.Verified)
		require.Equal(t, before+1, hub.weightGets("test/slow", "model.safetensors"))
		hub.mu.Lock()
		last := hub.ranges[len(hub.ranges)-1]
		hub.mu.Unlock()
		var from int64
		_, err := fmt.Sscanf(last, "model.safetensors bytes=%d-", &from)
		require.NoError(t, err, last)
		require.Positive(t, from, "only the rest is asked for")
	})
	t.Run("model without tokenizer runs on prompt_ids", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(noTok, "reference.json"))
		require.NoError(t, err)
		var ref struct {
			Cases []greedyCase `json:"cases"`
		}
		require.NoError(t, json.Unmarshal(data, &ref))
		nc := ref.Cases[0]
		p, err := json.Marshal(nc.Prompt)
		require.NoError(t, err)
		out := eval(t, fmt.Sprintf(`
			const engine = await m.createEngine({model: 'test/notok', hub, device: 'cpu', kvCacheBytes: 1 << 20});
			const r = await engine.generate({prompt_ids: %s, max_tokens: %d, temperature: 0, ignore_eos: true});
			const out = {ids: r.token_ids, hasTok: engine.info.has_tokenizer,
				text: await code(() => engine.generate({prompt: 'hi'})),
				tokenize: await code(() => engine.tokenize('hi'))};
			await engine.close();
			return out;`, p, len(nc.Greedy.Tokens)))
		ids := make([]int32, 0)
		for _, v := range out["ids"].([]any) {
			ids = append(ids, int32(v.(float64)))
		}
		require.Equal(t, nc.Greedy.Tokens, ids)
		require.Equal(t, false, out["hasTok"])
		require.True(t, strings.HasPrefix(out["text"].(string), "bad-request: "), out["text"])
		require.Contains(t, out["tokenize"], "without tokenizer.json")
	})
	t.Run("serve --model's files verified by its list", func(t *testing.T) {
		// What serve --model gives the page: the meta naming /model/, and
		// there the tree-format list the library checks every file by.
		var got struct {
			Default string  `json:"default"`
			Origin  string  `json:"origin"`
			Run     loadRun `json:"run"`
		}
		require.NoError(t, evalJSON(ctx, downloadPrelude+fmt.Sprintf(`
			const meta = document.createElement('meta');
			meta.name = 'nanovllm-default-model';
			meta.content = '/model/';
			document.head.append(meta);
			const url = m.defaultModel();
			meta.remove();
			return {default: url, origin: location.origin, run: await run(url, %s)};`, prompt), &got))
		require.Equal(t, got.Origin+servedModelPath, got.Default)
		require.Equal(t, c.Greedy.Tokens, got.Run.IDs)
		require.True(t, got.Run.Verified, "checked against /model/'s SHA-256")
		require.True(t, got.Run.VerifyPhase)
	})
	t.Run("on the page too", func(t *testing.T) {
		// worker: false writes the cache through createWritable instead of
		// a sync access handle; the checks are the same.
		var got struct{ First, Second loadRun }
		require.NoError(t, evalJSON(ctx, downloadPrelude+fmt.Sprintf(`
			const first = await run('test/page', %[1]s, {worker: false});
			const second = await run('test/page', %[1]s, {worker: false});
			return {first, second};`, prompt), &got))
		for _, r := range []loadRun{got.First, got.Second} {
			require.Equal(t, c.Greedy.Tokens, r.IDs)
			require.False(t, r.Worker)
		}
		require.Equal(t, []bool{false}, got.First.Cached)
		require.True(t, got.First.Verified)
		require.Equal(t, []bool{true}, got.Second.Cached)
		require.Equal(t, 1, hub.weightGets("test/page", "model.safetensors"))
	})
	t.Run("WebGPU loads from the cache", func(t *testing.T) {
		// The cached weights stream into GPU buffers as downloads do.
		var got loadRun
		require.NoError(t, evalJSON(ctx, downloadPrelude+fmt.Sprintf(`return await run('test/tiny', %s, {device: 'webgpu'});`, prompt), &got))
		require.Equal(t, c.Greedy.Tokens, got.IDs)
		require.Equal(t, []bool{true}, got.Cached)
		require.Equal(t, 3, hub.weightGets("test/tiny", "model.safetensors"), "no new download")
	})
	t.Run("delete cached model", func(t *testing.T) {
		out := eval(t, `return {n: await m.deleteCachedModel('test/tiny'), entry: await cached('test/tiny'),
			persist: typeof await m.requestPersistentStorage()};`)
		require.Equal(t, float64(1), out["n"])
		require.Nil(t, out["entry"])
		require.Equal(t, "boolean", out["persist"])
	})
}
