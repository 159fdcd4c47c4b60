package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// nativeGreedy is what the native engine generates for the prompts (24
// greedy tokens each) with the checkpoint quantized on load to q, on the
// CPU device's integer kernels or, with float, its float path (float32
// activations, the arithmetic of the WebGPU shaders).
func nativeGreedy(t *testing.T, dir string, q device.DType, float bool, prompts [][]int32) [][]int32 {
	t.Helper()
	dev := cpu.New(cpu.Options{Threads: 1, QuantFloat: float})
	defer dev.Close()
	m, err := qwen3.Load(dir, dev, qwen3.Options{Quantize: q})
	require.NoError(t, err)
	defer m.Close()
	e, err := engine.NewQwen3(m, nil, engine.Config{
		Cache:     block.Config{BlockSize: 16, NumBlocks: 64, PrefixCaching: true},
		Scheduler: scheduler.DefaultConfig(),
	})
	require.NoError(t, err)
	reqs := make([]engine.Request, len(prompts))
	for i, p := range prompts {
		reqs[i] = engine.Request{PromptIDs: p, Params: sampler.Params{MaxTokens: 24, IgnoreEOS: true}}
	}
	res, err := e.Generate(context.Background(), reqs)
	require.NoError(t, err)
	out := make([][]int32, len(res))
	for i, r := range res {
		out[i] = r.TokenIDs
	}
	return out
}

// TestBrowserQuantize loads the safetensors fixture with createEngine's
// quantize option: on WebGPU the bf16 weights are quantized in Go in
// chunks of rows while they stream, on the CPU device after they load.
// On WebGPU the greedy tokens equal the native engine's on the checkpoint
// quantized with --quantize, on the CPU device's float path (float32
// activations, the arithmetic of the shaders). The browser's CPU device
// runs the integer kernels in portable Go, whose float sums are ordered
// otherwise than the native SIMD kernels' (on these chaotic random models
// greedy runs part after a dozen tokens), so there the tokens must equal
// those of the GGUF file `nanovllm quantize` writes from the checkpoint,
// loaded in the same browser. An unknown quantization is a bad request.
func TestBrowserQuantize(t *testing.T) {
	dir := filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
	qdir := t.TempDir()
	for _, q := range []string{"q8_0", "q4_0"} {
		var out strings.Builder
		require.NoError(t, runQuantize(t.Context(), []string{"--model", dir, "--type", q, "--out", filepath.Join(qdir, "tiny-"+q+".gguf")}, &out, &out), out.String())
	}
	fh := newFakeHub(t, map[string]string{"test/tiny": dir, "test/tiny-gguf": qdir})
	ctx, _ := browserEnvWith(t, map[string]http.Handler{"/api/": fh, "/cdn/": fh, "/test/": fh})
	cases := loadGreedyCases(t)
	prompts := [][]int32{cases[1].Prompt, cases[3].Prompt}
	run := func(t *testing.T, device, q string) ggufRun {
		t.Helper()
		var got ggufRun
		require.NoError(t, evalJSON(ctx, ggufPrelude+fmt.Sprintf(`return await greedy('test/tiny', %q, %s, {quantize: %q});`,
			device, mustJSON(t, prompts), q), &got))
		return got
	}
	for _, tc := range []struct {
		q  string
		dt device.DType
	}{{"q8_0", device.Q8_0}, {"q4_0", device.Q4_0}} {
		t.Run(tc.q+"/webgpu", func(t *testing.T) {
			got := run(t, "webgpu", tc.q)
			require.Contains(t, got.Device, "webgpu")
			require.Equal(t, nativeGreedy(t, dir, tc.dt, true, prompts), got.Tokens)
		})
		t.Run(tc.q+"/cpu", func(t *testing.T) {
			got := run(t, "cpu", tc.q)
			var file ggufRun
			require.NoError(t, evalJSON(ctx, ggufPrelude+fmt.Sprintf(`return await greedy('test/tiny-gguf:%s', 'cpu', %s);`,
				strings.ToUpper(tc.q), mustJSON(t, prompts)), &file))
			require.Equal(t, file.Tokens, got.Tokens)
		})
	}
	t.Run("the quantization changes the tokens", func(t *testing.T) {
		// Otherwise the checks above would not show the option did anything.
		want := [][]int32{cases[1].Greedy.Tokens, cases[3].Greedy.Tokens}
		require.NotEqual(t, want, nativeGreedy(t, dir, device.Q4_0, true, prompts))
	})
	t.Run("unknown quantization", func(t *testing.T) {
		var got string
		require.NoError(t, evalJSON(ctx, ggufPrelude+`return await code(() => greedy('test/tiny', 'cpu', [[1]], {quantize: 'q5_k'}));`, &got))
		require.True(t, strings.HasPrefix(got, "bad-request: quantize must be 'q8_0' or 'q4_0'"), got)
		var direct string
		require.NoError(t, evalJSON(ctx, ggufPrelude+`return await code(() => greedy('test/tiny', 'cpu', [[1]], {quantize: 'q5_k', worker: false}));`, &direct))
		require.True(t, strings.HasPrefix(direct, "bad-request: "), direct)
	})
}

// pickerOption is one option of the page's choice of weights.
type pickerOption struct {
	Value    string `json:"value"`
	Text     string `json:"text"`
	Download string `json:"download"`
	GPU      string `json:"gpu"`
	Weights  string `json:"weights"`
}

// pickerState reads the page's choice of weights once it has looked the
// model up.
func pickerState(t *testing.T, ctx context.Context) (opts []pickerOption, selected, note string) {
	t.Helper()
	waitPage(t, ctx, `!document.getElementById('quant').disabled`, "the model's choices", time.Minute)
	var st struct {
		Options  []pickerOption `json:"options"`
		Selected string         `json:"selected"`
		Note     string         `json:"note"`
	}
	pageEval(t, ctx, `const s = document.getElementById('quant');
		return {options: [...s.options].map((o) => ({value: o.value, text: o.text, download: o.dataset.download,
			gpu: o.dataset.gpu, weights: o.dataset.weights})), selected: s.value,
			note: document.getElementById('quant-note').textContent};`, &st)
	return st.Options, st.Selected, st.Note
}

// TestBrowserQuantPicker: the page lists a GGUF repository's files and a
// safetensors repository's quantizations with the download and the memory
// (the GPU's, or wasm memory on the CPU device) each needs (weights, as core/qwen3.WeightBytesFor counts them,
// plus the KV cache) before downloading any weights, defaults to Q8_0 as
// docs/browser.md says, and loads what is chosen (that file only).
func TestBrowserQuantPicker(t *testing.T) {
	gdir := filepath.Join(repoRoot, "testdata", "gguf", "qwen3-tiny")
	dir := filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
	fh := newFakeHub(t, map[string]string{"test/tiny-gguf": gdir, "test/tiny": dir})
	ctx, base := browserEnvWith(t, map[string]http.Handler{"/api/": fh, "/cdn/": fh, "/test/": fh})
	const kv = 1 << 20 // ?kv=1 (MiB)
	num := func(s string) int64 {
		var n int64
		_, err := fmt.Sscan(s, &n)
		require.NoError(t, err, s)
		return n
	}

	t.Run("a GGUF repository", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/index.html?model=test/tiny-gguf&hub=%s&kv=1&device=webgpu", base, base))))
		opts, selected, note := pickerState(t, ctx)
		files := []string{"qwen3-tiny-bf16.gguf", "qwen3-tiny-f32.gguf", "qwen3-tiny-q4_0.gguf", "qwen3-tiny-q8_0.gguf"}
		require.Len(t, opts, len(files))
		for i, f := range files {
			st, err := os.Stat(filepath.Join(gdir, f))
			require.NoError(t, err)
			require.Equal(t, f, opts[i].Value)
			require.Equal(t, st.Size(), num(opts[i].Download), f)
			require.Equal(t, st.Size()+kv, num(opts[i].GPU), f)
			require.Contains(t, opts[i].Text, "download")
			require.Contains(t, opts[i].Text, "GPU memory")
			require.Zero(t, fh.weightGets("test/tiny-gguf", f), "%s downloaded before the choice", f)
		}
		require.Equal(t, "qwen3-tiny-q8_0.gguf", selected, "the default docs/browser.md gives")
		require.Contains(t, note, "Default: Q8_0")

		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#load`))))
		waitPage(t, ctx, `document.body.dataset.state === 'ready'`, "the model to load", 3*time.Minute)
		var info struct {
			GGUF string `json:"gguf"`
		}
		pageEval(t, ctx, `return nanovllmPage.engine().info;`, &info)
		require.Equal(t, "qwen3-tiny-q8_0.gguf", info.GGUF)
		for _, f := range files {
			require.Equal(t, boolInt(f == "qwen3-tiny-q8_0.gguf"), fh.weightGets("test/tiny-gguf", f), f)
		}
	})
	t.Run("a safetensors repository", func(t *testing.T) {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/index.html?model=test/tiny&hub=%s&kv=1&device=cpu", base, base))))
		opts, selected, note := pickerState(t, ctx)
		cfg, _, err := qwen3.LoadConfig(dir)
		require.NoError(t, err)
		var download int64
		for _, f := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"} {
			st, err := os.Stat(filepath.Join(dir, f))
			require.NoError(t, err)
			download += st.Size()
		}
		require.Len(t, opts, 3)
		for i, want := range []struct {
			value string
			dt    device.DType
		}{{"", device.BF16}, {"q8_0", device.Q8_0}, {"q4_0", device.Q4_0}} {
			w, err := qwen3.WeightBytesFor(cfg, want.dt)
			require.NoError(t, err)
			require.Equal(t, want.value, opts[i].Value)
			require.Equal(t, w, num(opts[i].Weights), want.dt.String())
			require.Equal(t, w+kv, num(opts[i].GPU), want.dt.String())
			require.Equal(t, download, num(opts[i].Download))
			// The CPU device keeps the weights in wasm memory, not the GPU's.
			require.Contains(t, opts[i].Text, "download")
			require.Contains(t, opts[i].Text, "memory")
			require.NotContains(t, opts[i].Text, "GPU memory")
		}
		require.Zero(t, fh.weightGets("test/tiny", "model.safetensors"), "weights downloaded before the choice")
		require.Equal(t, "q8_0", selected, "the default docs/browser.md gives")
		require.Contains(t, note, "Default: Q8_0, quantized on load")

		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#load`))))
		waitPage(t, ctx, `document.body.dataset.state === 'ready'`, "the model to load", 3*time.Minute)
		var info struct {
			Quantize string `json:"quantize"`
		}
		pageEval(t, ctx, `return nanovllmPage.engine().info;`, &info)
		require.Equal(t, "q8_0", info.Quantize)
	})
}

// TestBrowserQwen3SizeQuantized loads a model of Qwen3-0.6B's shape on
// WebGPU twice, quantized to Q8_0: the 1.5 GB bf16 checkpoint of
// TestBrowserQwen3Size with quantize: 'q8_0' (every weight quantized in Go
// on its way to the GPU), and a 640 MB Q8_0 GGUF of the same weights with
// the real tokenizer. Either way the wasm memory must stay under 256 MB:
// the quantizer holds about 1 MiB of rows at a time, and of the GGUF only
// the header enters the Go heap. It does not generate (minutes per step on
// SwiftShader).
func TestBrowserQwen3SizeQuantized(t *testing.T) {
	cfg := qwen3.Qwen3_0_6B
	path := filepath.Join(t.TempDir(), "qwen3-0.6b-random-q8_0.gguf")
	{
		data, shapes := qwen3.RandomTensors(cfg)
		tok, err := tokenizer.Load(filepath.Join(repoRoot, "testdata", "qwen3-tokenizer"))
		require.NoError(t, err)
		md, err := tok.GGUFMetadata(cfg.VocabSize, cfg.BOSTokenID)
		require.NoError(t, err)
		f, err := os.Create(path)
		require.NoError(t, err)
		src := func(name string) (qwen3.Tensor, error) {
			d, ok := data[name]
			if !ok {
				return qwen3.Tensor{}, fmt.Errorf("no tensor %s", name)
			}
			return qwen3.Tensor{DType: device.BF16, Shape: shapes[name], Data: d}, nil
		}
		w := bufio.NewWriterSize(f, 1<<20)
		require.NoError(t, qwen3.WriteGGUF(w, cfg, src, qwen3.GGUFWriteOptions{Name: "random Qwen3-0.6B Q8_0", Type: device.Q8_0, Tokenizer: md}))
		require.NoError(t, w.Flush())
		require.NoError(t, f.Close())
	}
	st, err := os.Stat(path)
	require.NoError(t, err)
	ctx, base := browserEnvWith(t, map[string]http.Handler{
		"/models/big/": bigModelHandler(t),
		"/big-gguf/":   http.StripPrefix("/big-gguf/", http.FileServer(http.Dir(filepath.Dir(path)))),
	})
	for _, tc := range []struct{ name, model, quantize string }{
		{"safetensors quantized on load", base + "/models/big", "q8_0"},
		{"a Q8_0 GGUF", base + "/big-gguf/" + filepath.Base(path), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				Info        map[string]any `json:"info"`
				Stats       map[string]any `json:"stats"`
				LoadSeconds float64        `json:"loadSeconds"`
			}
			require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
				const m = await import('/web/nanovllm.js');
				const t0 = performance.now();
				const opts = {model: %q, device: 'webgpu', cache: false, kvCacheBytes: 32 << 20};
				if (%q) opts.quantize = %q;
				const engine = await m.createEngine(opts);
				const loadSeconds = (performance.now() - t0) / 1000;
				const out = {info: engine.info, stats: await engine.stats(), loadSeconds};
				engine.close();
				return out;`, tc.model, tc.quantize, tc.quantize), &got))
			t.Logf("loaded in %.1f s; wasm memory %v bytes, Go heap in use %v", got.LoadSeconds, got.Stats["wasm_memory_bytes"], got.Stats["wasm_heap_in_use"])
			require.Equal(t, float64(28), got.Info["num_layers"])
			require.Less(t, got.Stats["wasm_memory_bytes"].(float64), float64(256<<20),
				"the wasm memory must stay under 256 MB while the weights go to the GPU")
			load := got.Info["load"].(map[string]any)
			if tc.quantize == "" {
				require.Equal(t, float64(st.Size()), load["weightBytes"].(float64), "the whole GGUF streamed")
				require.Equal(t, true, got.Info["has_tokenizer"], "the GGUF's tokenizer")
			} else {
				require.Greater(t, load["weightBytes"].(float64), 1.5e9)
				require.Equal(t, "q8_0", got.Info["quantize"])
			}
		})
	}
}
