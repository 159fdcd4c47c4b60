//go:build js && wasm

package webgpu

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// Whole-model tolerance for quantized weights: both devices multiply the
// same dequantized weights (the embedding rows are bit-identical, see
// TestQuantKernels) in float32, so they differ only by the order of float32
// sums and the GPU's exp and inverseSqrt, as for float weights: the fixture
// tolerance of the float model tests (logitAbs, logitRel), which is also
// what llama.cpp's float run on the dequantized weights is held to
// (core/qwen3 TestGGUFQuantizedDequantF32).

// llamaRun is the part of a GGUF fixture's llamacpp_reference.json these
// tests use: llama.cpp's float run on a file's dequantized weights.
type llamaRun struct {
	ProbeIDs []int `json:"probe_ids"`
	Runs     map[string]struct {
		Cases []struct {
			Prompt []int32 `json:"prompt"`
			Greedy struct {
				Tokens  []int32   `json:"tokens"`
				Margins []float64 `json:"top1_top2_margins"`
			} `json:"greedy"`
			LastLogits []float64 `json:"last_logits"`
			LastTopK   *struct {
				IDs    []int     `json:"ids"`
				Values []float64 `json:"values"`
			} `json:"last_topk"`
			LastLogitsAtProbes []float64 `json:"last_logits_at_probe_ids"`
		} `json:"cases"`
	} `json:"runs"`
}

// loadGGUF loads testdata/gguf/<ckpt>/<ckpt>-<typ>.gguf on dev as the
// browser does: the file's bytes parsed in memory, the quantized tensors
// uploaded as their blocks.
func loadGGUF(t testing.TB, ckpt, typ string, dev device.Device) *qwen3.Model {
	t.Helper()
	f, err := gguf.Parse(fetch(t, "gguf/"+ckpt+"/"+ckpt+"-"+typ+".gguf"))
	require.NoError(t, err)
	cfg, err := qwen3.ConfigFromGGUF(f)
	require.NoError(t, err)
	m, err := qwen3.LoadSource(cfg, qwen3.GGUFSource(f), dev, qwen3.Options{})
	require.NoError(t, err)
	require.NoError(t, m.NewKVCache(64, 16))
	return m
}

// TestQuantModelGGUF runs the Q8_0 and Q4_0 GGUF fixtures on the WebGPU
// device and compares them with llama.cpp's float run on the same
// dequantized weights (runs.<type>_dequant_f32) and with the CPU device's
// float path: last-position logits of every prompt prefilled in one step,
// and 24 greedy tokens per prompt generated with chunked prefills joining
// decodes in the same steps.
func TestQuantModelGGUF(t *testing.T) {
	cpuDev := cpu.New(cpu.Options{Threads: 1, QuantFloat: true})
	defer cpuDev.Close()
	for _, tc := range []struct {
		ckpt, typ string
		kernels   string
		part      int64
	}{
		{"qwen3-tiny", "q8_0", "coop", 0},
		{"qwen3-tiny", "q4_0", "thread", 0},
		{"qwen3-tiny-untied", "q8_0", "thread", 4096},
		{"qwen3-tiny-untied", "q4_0", "coop", 4096},
		{"qwen3-tiny-vocab", "q8_0", "", 1 << 20}, // 151936-row table split in 1 MiB buffers
	} {
		t.Run(tc.ckpt+"/"+tc.typ+"/"+tc.kernels, func(t *testing.T) {
			var ref llamaRun
			require.NoError(t, json.Unmarshal(fetch(t, "gguf/"+tc.ckpt+"/llamacpp_reference.json"), &ref))
			run, ok := ref.Runs[tc.typ+"_dequant_f32"]
			require.True(t, ok)
			g := newGPU(t, Options{MaxWeightPartBytes: tc.part, Kernels: tc.kernels})
			gm := loadGGUF(t, tc.ckpt, tc.typ, g)
			cm := loadGGUF(t, tc.ckpt, tc.typ, cpuDev)
			var prompts [][]int32
			for ci, c := range run.Cases {
				prompts = append(prompts, c.Prompt)
				b := promptBatch(c.Prompt)
				gl, err := gm.Forward(b)
				require.NoError(t, err)
				cl, err := cm.Forward(b)
				require.NoError(t, err)
				requireClose(t, cl, gl, logitAbs, logitRel, fmt.Sprintf("webgpu vs cpu float path, case %d", ci))
				want := map[int]float64{}
				for id, v := range c.LastLogits {
					want[id] = v
				}
				if c.LastTopK != nil {
					for i, id := range c.LastTopK.IDs {
						want[id] = c.LastTopK.Values[i]
					}
					for i, id := range ref.ProbeIDs {
						want[id] = c.LastLogitsAtProbes[i]
					}
				}
				require.NotEmpty(t, want)
				for id, w := range want {
					d := math.Abs(float64(gl[id]) - w)
					require.LessOrEqual(t, d, logitAbs+logitRel*math.Abs(w), "webgpu vs llama.cpp, case %d logit %d", ci, id)
				}
			}
			got, _ := greedyRun(t, gm, prompts, 24, 5, 1)
			for ci, c := range run.Cases {
				for s, want := range c.Greedy.Tokens {
					if c.Greedy.Margins[s] < 2e-4 {
						t.Logf("case %d: step %d has margin %.2g, tokens compared up to it", ci, s, c.Greedy.Margins[s])
						break
					}
					require.Equal(t, want, got[ci][s], "case %d step %d", ci, s)
				}
			}
		})
	}
}

// kquantConfig is a small Qwen3 whose matrices are whole K-quant
// super-blocks wide (256 and 512).
func kquantConfig() qwen3.Config {
	return qwen3.Config{
		VocabSize: 512, HiddenSize: 256, IntermediateSize: 512, NumHiddenLayers: 2,
		NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 64, RopeTheta: 1e6, RMSNormEps: 1e-6,
		MaxPositionEmbeddings: 512, TieWordEmbeddings: true, BOSTokenID: 1, EOSTokenIDs: []int{2},
	}
}

// kquantSource serves cfg's random tensors (qwen3.RandomTensors) with the
// matrices quantized as llama.cpp's Q4_K_M mix does for small models: the
// embedding (also the tied LM head) as Q6_K, the projections as Q4_K.
func kquantSource(t testing.TB, cfg qwen3.Config) qwen3.Source {
	tensors, shapes := qwen3.RandomTensors(cfg)
	return func(name string) (qwen3.Tensor, error) {
		data, ok := tensors[name]
		if !ok {
			return qwen3.Tensor{}, fmt.Errorf("no tensor %s: %w", name, safetensors.ErrTensorNotFound)
		}
		shape := shapes[name]
		if len(shape) != 2 {
			return qwen3.Tensor{DType: device.BF16, Shape: shape, Data: data}, nil
		}
		dt := device.Q4_K
		if name == "model.embed_tokens.weight" {
			dt = device.Q6_K
		}
		vals := make([]float32, len(data)/2)
		if err := quant.Dequantize(device.BF16, vals, data); err != nil {
			return qwen3.Tensor{}, err
		}
		n, err := quant.Bytes(dt, shape[0], shape[1])
		if err != nil {
			return qwen3.Tensor{}, err
		}
		out := make([]byte, n)
		if err := quant.Quantize(dt, out, vals); err != nil {
			return qwen3.Tensor{}, err
		}
		return qwen3.Tensor{DType: dt, Shape: shape, Data: out}, nil
	}
}

// TestQuantModelKQuants runs a model of Q4_K projections and a Q6_K
// embedding and LM head on the WebGPU device and on the CPU device's float
// path, in steps that mix a prefill chunk with a decode, and compares
// every logit row. And a model quantized on load (qwen3.Options.Quantize,
// Q4_0) the same way.
func TestQuantModelKQuants(t *testing.T) {
	cpuDev := cpu.New(cpu.Options{Threads: 1, QuantFloat: true})
	defer cpuDev.Close()
	for _, kernels := range []string{"coop", "thread"} {
		t.Run(kernels, func(t *testing.T) {
			g := newGPU(t, Options{Kernels: kernels})
			cfg := kquantConfig()
			src := kquantSource(t, cfg)
			models := [2]*qwen3.Model{}
			for i, dev := range []device.Device{g, cpuDev} {
				m, err := qwen3.LoadSource(cfg, src, dev, qwen3.Options{})
				require.NoError(t, err)
				require.NoError(t, m.NewKVCache(16, 16))
				models[i] = m
			}
			compareMixedSteps(t, models[0], models[1])
		})
	}
	t.Run("quantize-on-load/q4_0", func(t *testing.T) {
		g := newGPU(t, Options{})
		f := loadFixture(t, "qwen3-tiny-untied")
		models := [2]*qwen3.Model{}
		for i, dev := range []device.Device{g, cpuDev} {
			m, err := qwen3.LoadFrom(f.cfg, func(name string) (safetensors.Tensor, error) {
				tn, ok := f.ckpt.Tensor(name)
				if !ok {
					return safetensors.Tensor{}, fmt.Errorf("no tensor %s", name)
				}
				return tn, nil
			}, dev, qwen3.Options{Quantize: device.Q4_0})
			require.NoError(t, err)
			require.NoError(t, m.NewKVCache(16, 16))
			models[i] = m
		}
		compareMixedSteps(t, models[0], models[1])
	})
}

// compareMixedSteps runs the same three steps on gm and cm and compares all
// their logit rows: two prompts prefilled together, then a decode of the
// first with a chunk of the second's continuation, then decodes of both.
func compareMixedSteps(t *testing.T, gm, cm *qwen3.Model) {
	t.Helper()
	vocab := gm.Config().VocabSize
	tokens := [2][]int32{}
	for s := range tokens {
		for i := range 40 {
			tokens[s] = append(tokens[s], int32((s*131+i*37+5)%vocab))
		}
	}
	blocks := [2][]int32{{0, 1, 2}, {3, 4, 5}}
	for si, spans := range [][2][2]int{
		{{0, 20}, {0, 5}},  // prefill both
		{{20, 1}, {5, 30}}, // a decode and a prefill chunk
		{{21, 1}, {35, 1}}, // decodes
	} {
		var sb step.Builder
		sb.Reset(16, 0)
		for s := range 2 {
			end := spans[s][0] + spans[s][1]
			sb.Add(tokens[s][:end], spans[s][0], end, blocks[s], 1)
		}
		b := sb.Step()
		gl, err := gm.Forward(b)
		require.NoError(t, err)
		cl, err := cm.Forward(b)
		require.NoError(t, err)
		require.Len(t, gl, 2*vocab)
		var ss float64
		for _, v := range cl {
			ss += float64(v) * float64(v)
		}
		rms := math.Sqrt(ss / float64(len(cl)))
		t.Logf("step %d: logits of RMS %.3g", si, rms)
		require.Greater(t, rms, 0.1, "the comparison needs logits of some size")
		requireClose(t, cl, gl, logitAbs, logitRel, fmt.Sprintf("step %d", si))
	}
}
