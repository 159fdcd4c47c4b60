package main

import (
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
// safetensors repository's quantizations with the download and the GPU
// memory each needs (weights, as core/qwen3.WeightBytesFor counts them,
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
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/index.html?model=test/tiny-gguf&hub=%s&kv=1&device=cpu", base, base))))
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
