package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// TestQuantizeLlamaCpp is the interoperability check of `nanovllm quantize`
// against llama.cpp itself, opt-in with NANOVLLM_LLAMACPP=1: it writes GGUF
// files from the safetensors fixtures, has llama.cpp load each one and
// prefill a 100-token prompt (llama-direct, the C program over llama.cpp's
// prebuilt libraries in ~/.cache/nanovllm-llamacpp-bench, or
// NANOVLLM_LLAMA_DIRECT), and compares llama.cpp's last-position logits
// with ours on the same file and prompt. Both run with an F16 KV cache
// (llama.cpp's default); ours quantizes activations to Q8_0 for Q8_0/Q4_0
// weights as llama.cpp's CPU kernels do. docs/gguf.md has the results.
func TestQuantizeLlamaCpp(t *testing.T) {
	if os.Getenv("NANOVLLM_LLAMACPP") != "1" {
		t.Skip("set NANOVLLM_LLAMACPP=1 to run llama.cpp on the files quantize writes")
	}
	bin := os.Getenv("NANOVLLM_LLAMA_DIRECT")
	if bin == "" {
		home, err := os.UserHomeDir()
		require.NoError(t, err)
		bin = filepath.Join(home, ".cache", "nanovllm-llamacpp-bench", "build", "llama-direct")
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "llama-direct not built (see its build-direct.sh)")
	const promptLen = 100
	for _, tc := range []struct {
		ckpt, typ string
		maxAbs    float64 // bound on max |Δlogit|
		meanAbs   float64 // bound on mean |Δlogit|
	}{
		// F32: the only difference is where an f32 key or value lies within
		// float rounding of an f16 boundary and the two caches round it
		// apart (llama.cpp's F16 cache moves these logits by up to 0.011
		// from an F32 one, testdata/gguf/README.md).
		{"qwen3-tiny", "f32", 0.01, 1e-3},
		{"qwen3-tiny-vocab", "bf16", 0.2, 0.02}, // llama.cpp rounds activations to bf16 for bf16 weights
		{"qwen3-tiny", "q8_0", 0.5, 0.06},
		{"qwen3-tiny-untied", "q4_0", 0.5, 0.06},
		{"qwen3-tiny-vocab", "q8_0", 0.5, 0.06},
		{"qwen3-tiny-vocab", "q4_0", 0.5, 0.06},
	} {
		t.Run(tc.ckpt+"/"+tc.typ, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "m.gguf")
			_, stderr, code := runMain(t, "quantize", "--model", fixtureDir(tc.ckpt), "--type", tc.typ, "--out", path)
			require.Equal(t, 0, code, stderr)
			dump := filepath.Join(dir, "logits.bin")
			out, err := exec.Command(bin, "--model", path, "--threads", "1", "--batch-sizes", "1", "--context", "8",
				"--decode-steps", "1", "--prefill-tokens", fmt.Sprint(promptLen), "--flash-attention", "off",
				"--no-extra-bufts", "--dump-logits", dump).CombinedOutput()
			require.NoError(t, err, "llama.cpp on our file: %s", out)
			raw, err := os.ReadFile(dump)
			require.NoError(t, err)

			dev := cpu.New(cpu.Options{Threads: 1})
			defer dev.Close()
			m, err := loadQwen3(path, dev, qwen3.Options{KVCacheDType: device.F16})
			require.NoError(t, err)
			defer m.Close()
			V := m.Config().VocabSize
			require.Len(t, raw, 4*V)
			const bs = 16
			require.NoError(t, m.NewKVCache((promptLen+bs-1)/bs, bs))
			prompt := make([]int32, promptLen)
			blocks := make([]int32, (promptLen+bs-1)/bs)
			for p := range prompt {
				prompt[p] = int32((int64(50000+p)*7919 + 13) % int64(V)) // llama-direct's prefill prompt
			}
			for i := range blocks {
				blocks[i] = int32(i)
			}
			var b step.Builder
			b.Reset(bs, 0)
			b.Add(prompt, 0, promptLen, blocks, 1)
			logits, err := m.Forward(b.Step())
			require.NoError(t, err)
			var worst, sum float64
			for i := range V {
				want := float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
				d := math.Abs(float64(logits[i]) - want)
				worst, sum = max(worst, d), sum+d
			}
			t.Logf("%s %s: llama.cpp loads our file; %d logits, max |Δ| %.3g, mean %.3g", tc.ckpt, tc.typ, V, worst, sum/float64(V))
			require.LessOrEqual(t, worst, tc.maxAbs)
			require.LessOrEqual(t, sum/float64(V), tc.meanAbs)
		})
	}
}
