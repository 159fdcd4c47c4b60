package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

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
