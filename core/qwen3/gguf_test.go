package qwen3

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

func ggufPath(ckpt, typ string) string {
	return filepath.Join(fixtureDir("gguf"), ckpt, ckpt+"-"+typ+".gguf")
}

// llamaReference is the part of a GGUF fixture's llamacpp_reference.json
// these tests use: each file's tensors and llama.cpp's runs.
type llamaReference struct {
	ProbeIDs []int `json:"probe_ids"`
	Files    map[string]struct {
		Tensors []struct {
			Name       string `json:"name"`
			HFName     string `json:"hf_name"`
			HFShape    []int  `json:"hf_shape"`
			DataSHA256 string `json:"data_sha256"`
		} `json:"tensors"`
	} `json:"files"`
	Runs map[string]struct {
		Cases []struct {
			Prompt []int32 `json:"prompt"`
			Greedy struct {
				Tokens  []int32   `json:"tokens"`
				Margins []float64 `json:"top1_top2_margins"`
			} `json:"greedy"`
			LastLogits         []float64 `json:"last_logits"`
			LastTopK           *refTopK  `json:"last_topk"`
			LastLogSumExp      float64   `json:"last_logsumexp"`
			LastLogitsAtProbes []float64 `json:"last_logits_at_probe_ids"`
			LastArgmax         int32     `json:"last_argmax"`
		} `json:"cases"`
	} `json:"runs"`
}

func loadLlamaReference(t testing.TB, ckpt string) *llamaReference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir("gguf"), ckpt, "llamacpp_reference.json"))
	require.NoError(t, err)
	var r llamaReference
	require.NoError(t, json.Unmarshal(data, &r))
	return &r
}

// TestConfigFromGGUF: the architecture read from each GGUF file is the
// checkpoint's config.json (the GGUF carries one EOS id, config.json's).
func TestConfigFromGGUF(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixtureDir("gguf"), "*", "*.gguf"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		ckpt := filepath.Base(filepath.Dir(path))
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(fixtureDir(ckpt), "config.json"))
			require.NoError(t, err)
			want, err := ParseConfig(data)
			require.NoError(t, err)
			f, err := gguf.Open(path)
			require.NoError(t, err)
			defer f.Close()
			got, err := ConfigFromGGUF(f)
			require.NoError(t, err)
			want.RopeTheta = float64(float32(want.RopeTheta)) // stored as f32
			want.RMSNormEps = float64(float32(want.RMSNormEps))
			require.Equal(t, want, got)
		})
	}
}

func TestGGUFTensorName(t *testing.T) {
	for hf, want := range map[string]string{
		"model.embed_tokens.weight":                      "token_embd.weight",
		"lm_head.weight":                                 "output.weight",
		"model.norm.weight":                              "output_norm.weight",
		"model.layers.0.input_layernorm.weight":          "blk.0.attn_norm.weight",
		"model.layers.12.self_attn.o_proj.weight":        "blk.12.attn_output.weight",
		"model.layers.3.self_attn.k_norm.weight":         "blk.3.attn_k_norm.weight",
		"model.layers.1.post_attention_layernorm.weight": "blk.1.ffn_norm.weight",
		"model.layers.2.mlp.down_proj.weight":            "blk.2.ffn_down.weight",
	} {
		got, ok := GGUFTensorName(hf)
		require.True(t, ok, hf)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"model.layers.x.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.bias", "foo"} {
		_, ok := GGUFTensorName(bad)
		require.False(t, ok, bad)
	}
}

// TestGGUFSourceTensors: every tensor the model asks for by its Hugging
// Face name comes back in the Hugging Face shape with exactly the bytes
// llama.cpp's reference lists for the GGUF tensor.
func TestGGUFSourceTensors(t *testing.T) {
	for _, ckpt := range []string{"qwen3-tiny", "qwen3-tiny-untied", "qwen3-tiny-vocab"} {
		ref := loadLlamaReference(t, ckpt)
		for typ, file := range ref.Files {
			path := ggufPath(ckpt, typ)
			if _, err := os.Stat(path); err != nil {
				continue // not shipped
			}
			f, err := gguf.Open(path)
			require.NoError(t, err)
			src := GGUFSource(f)
			for _, want := range file.Tensors {
				got, err := src(want.HFName)
				require.NoError(t, err, "%s %s", path, want.HFName)
				require.Equal(t, want.HFShape, got.Shape, want.HFName)
				sum := sha256.Sum256(got.Data)
				require.Equal(t, want.DataSHA256, hex.EncodeToString(sum[:]), "%s %s", path, want.HFName)
			}
			require.NoError(t, f.Close())
		}
	}
}

func loadGGUFModel(t testing.TB, ckpt, typ string, dev device.Device) *Model {
	t.Helper()
	m, err := LoadGGUF(ggufPath(ckpt, typ), dev, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.NewKVCache(128, 16))
	return m
}

// TestGGUFFloat: the F32 and BF16 GGUF files give transformers' logits and
// greedy tokens, as the safetensors checkpoints do.
func TestGGUFFloat(t *testing.T) {
	for _, ckpt := range []string{"qwen3-tiny", "qwen3-tiny-untied"} {
		ref := loadReference(t, ckpt)
		for _, typ := range []string{"f32", "bf16"} {
			t.Run(ckpt+"/"+typ, func(t *testing.T) {
				dev := cpu.New(cpuDefault)
				t.Cleanup(func() { dev.Close() })
				m := loadGGUFModel(t, ckpt, typ, dev)
				require.Equal(t, []int{511}, m.GenerationConfig().EOSTokenIDs)
				V := m.Config().VocabSize
				for ci, c := range ref.Cases {
					a := newAllocator(m)
					logits, err := m.Forward(a.batch([]part{{seq: newTestSeq(c.Prompt), n: len(c.Prompt), logits: true}}))
					require.NoError(t, err)
					require.Len(t, logits, V)
					checkLogits(t, ref, logits, c.LastLogits, c.LastTopK, c.LastLogSumExp, c.LastLogitsAtProbes, ckpt+" case "+itoa(ci))
				}
				require.NoError(t, m.NewKVCache(128, 16))
				got := greedyRun(t, m, prompts(ref), greedySteps, 1<<20, 0)
				for i, c := range ref.Cases {
					require.Equal(t, c.Greedy.Tokens, got[i], "case %d", i)
				}
			})
		}
	}
}

// dequantDevice is a CPU device that takes quantized weights by widening
// them to float32 with core/quant (bit-exact with ggml's to_float): a float
// forward on exactly the dequantized weights, what llama.cpp's
// runs.<type>_dequant_f32 computed.
type dequantDevice struct{ *cpu.Device }

func (d dequantDevice) UploadWeight(name string, dt device.DType, shape []int, data []byte) (device.Weight, error) {
	if !dt.Quantized() {
		return d.Device.UploadWeight(name, dt, shape, data)
	}
	n := 1
	for _, s := range shape {
		n *= s
	}
	f := make([]float32, n)
	if err := quant.Dequantize(dt, f, data); err != nil {
		return nil, err
	}
	raw := make([]byte, 4*n)
	for i, x := range f {
		putF32(raw[4*i:], x)
	}
	return d.Device.UploadWeight(name, device.F32, shape, raw)
}

// TestGGUFQuantizedDequantF32 runs the Q8_0 and Q4_0 files as a float
// forward on their dequantized weights and compares with llama.cpp's F32
// run on the same dequantized values (runs.<type>_dequant_f32): logits
// within 1e-4 + 1e-4·|x|, greedy tokens equal up to the first step whose
// top-1/top-2 margin is below 2e-4 (where float rounding may pick either).
func TestGGUFQuantizedDequantF32(t *testing.T) {
	for _, ckpt := range []string{"qwen3-tiny", "qwen3-tiny-untied", "qwen3-tiny-vocab"} {
		lref := loadLlamaReference(t, ckpt)
		for _, typ := range []string{"q8_0", "q4_0"} {
			if _, err := os.Stat(ggufPath(ckpt, typ)); err != nil {
				continue // qwen3-tiny-vocab ships only its Q8_0 file
			}
			t.Run(ckpt+"/"+typ, func(t *testing.T) {
				dev := dequantDevice{cpu.New(cpuDefault)}
				t.Cleanup(func() { dev.Close() })
				m := loadGGUFModel(t, ckpt, typ, dev)
				checkLlamaRun(t, m, lref, typ+"_dequant_f32")
			})
			// The CPU device's float path multiplies the quantized blocks
			// in place with float32 activations: the same arithmetic as
			// a float forward on the dequantized weights.
			t.Run(ckpt+"/"+typ+"/cpu-float-path", func(t *testing.T) {
				opts := cpuDefault
				opts.QuantFloat = true
				dev := cpu.New(opts)
				t.Cleanup(func() { dev.Close() })
				m := loadGGUFModel(t, ckpt, typ, dev)
				checkLlamaRun(t, m, lref, typ+"_dequant_f32")
			})
		}
	}
}

// checkLlamaRun compares m's last-position logits and greedy tokens with
// a llama.cpp run of the fixture.
func checkLlamaRun(t *testing.T, m *Model, lref *llamaReference, run string) {
	t.Helper()
	r, ok := lref.Runs[run]
	require.True(t, ok, run)
	storage := "full"
	if m.Config().VocabSize > 512 {
		storage = "topk"
	}
	ref := &reference{LogitsStorage: storage, ProbeIDs: lref.ProbeIDs}
	for ci, c := range r.Cases {
		a := newAllocator(m)
		logits, err := m.Forward(a.batch([]part{{seq: newTestSeq(c.Prompt), n: len(c.Prompt), logits: true}}))
		require.NoError(t, err)
		checkLogits(t, ref, logits, c.LastLogits, c.LastTopK, c.LastLogSumExp, c.LastLogitsAtProbes, run+" case "+itoa(ci))
		require.Equal(t, c.LastArgmax, argmax(logits), "case %d argmax", ci)
		require.NoError(t, m.NewKVCache(128, 16))
		got := greedyRun(t, m, [][]int32{c.Prompt}, greedySteps, 1<<20, 0)[0]
		for s, want := range c.Greedy.Tokens {
			if c.Greedy.Margins[s] < 2e-4 {
				t.Logf("case %d: step %d has margin %.2g, tokens compared up to it", ci, s, c.Greedy.Margins[s])
				break
			}
			require.Equal(t, want, got[s], "case %d step %d", ci, s)
		}
	}
}

// TestGGUFQuantizedCPU runs the Q8_0 and Q4_0 files on the CPU device's
// quantized kernels, which round the activations to Q8_0 blocks and
// multiply integers as llama.cpp's CPU kernels do, and compares with
// llama.cpp's runs on the same files. Activations that lie within float32
// rounding of a Q8_0 boundary round differently in the two programs, so
// only the size of that noise is bounded (testdata/gguf/README.md: max
// |Δ| ≤ 0.5, mean |Δ| ≤ 0.06 over the logits compared).
func TestGGUFQuantizedCPU(t *testing.T) {
	for _, ckpt := range []string{"qwen3-tiny", "qwen3-tiny-untied", "qwen3-tiny-vocab"} {
		lref := loadLlamaReference(t, ckpt)
		for _, typ := range []string{"q8_0", "q4_0"} {
			if _, err := os.Stat(ggufPath(ckpt, typ)); err != nil {
				continue
			}
			t.Run(ckpt+"/"+typ, func(t *testing.T) {
				dev := cpu.New(cpuDefault)
				t.Cleanup(func() { dev.Close() })
				m := loadGGUFModel(t, ckpt, typ, dev)
				var sum, worst float64
				var n int
				for ci, c := range lref.Runs[typ].Cases {
					a := newAllocator(m)
					logits, err := m.Forward(a.batch([]part{{seq: newTestSeq(c.Prompt), n: len(c.Prompt), logits: true}}))
					require.NoError(t, err)
					cmp := func(id int, want float64) {
						d := math.Abs(float64(logits[id]) - want)
						sum, worst, n = sum+d, max(worst, d), n+1
						require.LessOrEqual(t, d, 0.5, "case %d logit %d", ci, id)
					}
					if c.LastTopK == nil {
						for id, w := range c.LastLogits {
							cmp(id, w)
						}
						continue
					}
					for i, id := range c.LastTopK.IDs {
						cmp(id, c.LastTopK.Values[i])
					}
					for i, id := range lref.ProbeIDs {
						cmp(id, c.LastLogitsAtProbes[i])
					}
				}
				require.Positive(t, n)
				t.Logf("%d logits: max |Δ| %.3g, mean %.3g", n, worst, sum/float64(n))
				require.LessOrEqual(t, sum/float64(n), 0.06)
			})
		}
	}
}

func TestLoadGGUFErrors(t *testing.T) {
	dev := cpu.New(cpuDefault)
	defer dev.Close()
	// Another architecture.
	w := gguf.NewWriter()
	require.NoError(t, w.Set("general.architecture", gguf.StringValue("llama")))
	path := filepath.Join(t.TempDir(), "llama.gguf")
	out, err := os.Create(path)
	require.NoError(t, err)
	_, err = w.WriteTo(out)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	_, err = LoadGGUF(path, dev, Options{})
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, `general.architecture "llama"`)
	// Not a GGUF file.
	_, err = LoadGGUF(filepath.Join(fixtureDir("qwen3-tiny"), "config.json"), dev, Options{})
	require.ErrorIs(t, err, gguf.ErrInvalid)
	require.True(t, strings.Contains(err.Error(), "config.json"))
}

func putF32(b []byte, x float32) { binary.LittleEndian.PutUint32(b, math.Float32bits(x)) }

// TestWriteGGUFMatchesFixtures converts each safetensors checkpoint to
// GGUF in every type the fixtures have: the files must be the fixtures
// byte for byte, metadata and tensors (the fixtures' tensors equal
// llama-quantize's and llama.cpp loads them), tokenizer metadata included
// for qwen3-tiny-vocab.
func TestWriteGGUFMatchesFixtures(t *testing.T) {
	for _, tc := range []struct{ ckpt, typ string }{
		{"qwen3-tiny", "f32"}, {"qwen3-tiny", "bf16"}, {"qwen3-tiny", "q8_0"}, {"qwen3-tiny", "q4_0"},
		{"qwen3-tiny-untied", "f32"}, {"qwen3-tiny-untied", "bf16"}, {"qwen3-tiny-untied", "q8_0"}, {"qwen3-tiny-untied", "q4_0"},
		{"qwen3-tiny-vocab", "q8_0"},
	} {
		t.Run(tc.ckpt+"/"+tc.typ, func(t *testing.T) {
			dir := fixtureDir(tc.ckpt)
			cfg, _, err := LoadConfig(dir)
			require.NoError(t, err)
			ckpt, err := safetensors.OpenDir(dir)
			require.NoError(t, err)
			defer ckpt.Close()
			dt := map[string]device.DType{"f32": device.F32, "bf16": device.BF16, "q8_0": device.Q8_0, "q4_0": device.Q4_0}[tc.typ]
			opts := GGUFWriteOptions{Name: tc.ckpt + " " + strings.ToUpper(tc.typ), Type: dt}
			if tok, err := tokenizer.Load(dir); err == nil {
				opts.Tokenizer, err = tok.GGUFMetadata(cfg.VocabSize, cfg.BOSTokenID)
				require.NoError(t, err)
			}
			var buf bytes.Buffer
			require.NoError(t, WriteGGUF(&buf, cfg, FromSafetensors(ckpt.Tensor), opts))
			want, err := os.ReadFile(ggufPath(tc.ckpt, tc.typ))
			require.NoError(t, err)
			require.Equal(t, len(want), buf.Len())
			require.True(t, bytes.Equal(want, buf.Bytes()), "the file differs from the fixture")
		})
	}
}

func TestWriteGGUFErrors(t *testing.T) {
	f, err := gguf.Open(ggufPath("qwen3-tiny", "q4_0"))
	require.NoError(t, err)
	defer f.Close()
	cfg, err := ConfigFromGGUF(f)
	require.NoError(t, err)
	err = WriteGGUF(io.Discard, cfg, GGUFSource(f), GGUFWriteOptions{Type: device.Q8_0})
	require.ErrorIs(t, err, ErrQuantize)
	require.ErrorContains(t, err, "stored as q4_0, wanted q8_0")
	require.NoError(t, WriteGGUF(io.Discard, cfg, GGUFSource(f), GGUFWriteOptions{Type: device.Q4_0}), "same type: copied")
	require.ErrorIs(t, WriteGGUF(io.Discard, cfg, GGUFSource(f), GGUFWriteOptions{Type: device.Q6_K}), ErrQuantize)
}

// TestGGUFKQuants loads a file of the mix llama-quantize's Q4_K_M makes
// (Q4_K projections, Q6_K embedding and ffn_down, F32 norms), written here
// from random weights since the fixtures' rows are too short for 256-value
// super-blocks. Through the dequantizing device it must give exactly the
// logits of a float model on the dequantized weights, loaded by Hugging
// Face name (so every name, shape and type went to the right place); on
// the CPU device's integer kernels (activations as Q8_K blocks, as
// llama.cpp) the same logits within the quantization noise.
func TestGGUFKQuants(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kq.gguf")
	cfg, float, rng := writeKQuantGGUF(t, path)
	prompt := make([]int32, 37)
	for i := range prompt {
		prompt[i] = int32(rng.next() % 510)
	}
	logitsOf := func(m *Model) []float32 {
		t.Helper()
		defer m.Close()
		require.NoError(t, m.NewKVCache(8, 16))
		a := newAllocator(m)
		l, err := m.Forward(a.batch([]part{{seq: newTestSeq(prompt), n: len(prompt), logits: true}}))
		require.NoError(t, err)
		return l
	}
	ref := cpu.New(cpuDefault)
	defer ref.Close()
	want, err := LoadSource(cfg, func(name string) (Tensor, error) { return float[name], nil }, ref, Options{})
	require.NoError(t, err)
	wantLogits := logitsOf(want)

	dq := dequantDevice{cpu.New(cpuDefault)}
	defer dq.Close()
	m, err := LoadGGUF(path, dq, Options{})
	require.NoError(t, err)
	require.Equal(t, cfg, m.Config())
	require.Equal(t, wantLogits, logitsOf(m), "the same weights by way of the GGUF file")

	// The integer kernels (NoAMX), and the default device, where the
	// prompt's Q4_K matmuls take the AMX path on bf16 weights (and the
	// Q6_K ones the int8 tiles) if the CPU has AMX.
	for _, c := range []struct {
		name string
		opts cpu.Options
	}{{"integer kernels", cpu.Options{NoAMX: true}}, {"AVX2 kernels", cpu.Options{NoAVX512: true}}, {"default (AMX where present)", cpuDefault}} {
		q := cpu.New(c.opts)
		m, err = LoadGGUF(path, q, Options{})
		require.NoError(t, err)
		got := logitsOf(m)
		require.NoError(t, q.Close())
		var worst, sum float64
		for i, w := range wantLogits {
			d := math.Abs(float64(got[i] - w))
			worst, sum = max(worst, d), sum+d
		}
		// llama.cpp's own kernels on this file are as far from the float
		// forward: max 0.23, mean 0.055 over a 100-token prompt (logits of
		// RMS 2; TestGGUFKQuantsLlamaCpp).
		t.Logf("%s vs the float forward: max |Δ| %.3g, mean %.3g", c.name, worst, sum/float64(len(got)))
		require.LessOrEqual(t, worst, 0.5, c.name)
		require.LessOrEqual(t, sum/float64(len(got)), 0.1, c.name)
	}
}

// TestGGUFKQuantsLlamaCpp (opt-in: NANOVLLM_LLAMACPP=1) has llama.cpp
// load the file of TestGGUFKQuants (through llama-direct, see
// TestQuantizeLlamaCpp in cmd/nanovllm) and prefill 100 tokens, and
// compares its logits with the CPU device's integer kernels on the same
// file (both with an F16 KV cache, llama.cpp's default).
func TestGGUFKQuantsLlamaCpp(t *testing.T) {
	if os.Getenv("NANOVLLM_LLAMACPP") != "1" {
		t.Skip("set NANOVLLM_LLAMACPP=1 to compare with llama.cpp")
	}
	bin := os.Getenv("NANOVLLM_LLAMA_DIRECT")
	if bin == "" {
		home, err := os.UserHomeDir()
		require.NoError(t, err)
		bin = filepath.Join(home, ".cache", "nanovllm-llamacpp-bench", "build", "llama-direct")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "kq.gguf")
	cfg, _, _ := writeKQuantGGUF(t, path)
	dump := filepath.Join(dir, "logits.bin")
	out, err := exec.Command(bin, "--model", path, "--threads", "1", "--batch-sizes", "1", "--context", "8", "--decode-steps", "1",
		"--prefill-tokens", "100", "--flash-attention", "off", "--no-extra-bufts", "--dump-logits", dump).CombinedOutput()
	require.NoError(t, err, "llama.cpp: %s", out)
	raw, err := os.ReadFile(dump)
	require.NoError(t, err)
	require.Len(t, raw, 4*cfg.VocabSize)
	prompt := make([]int32, 100)
	for p := range prompt {
		prompt[p] = int32((int64(50000+p)*7919 + 13) % int64(cfg.VocabSize)) // llama-direct's prompt
	}
	// Ours with the integer kernels (activations as Q8_K blocks, as
	// llama.cpp's), and with the default device (the prompt's Q4_K
	// matmuls on bf16 weights on the AMX path, where the CPU has AMX).
	for _, c := range []struct {
		name string
		opts cpu.Options
	}{{"integer kernels", cpu.Options{NoAMX: true}}, {"default", cpuDefault}} {
		dev := cpu.New(c.opts)
		m, err := LoadGGUF(path, dev, Options{KVCacheDType: device.F16})
		require.NoError(t, err)
		require.NoError(t, m.NewKVCache(8, 16))
		a := newAllocator(m)
		got, err := m.Forward(a.batch([]part{{seq: newTestSeq(prompt), n: len(prompt), logits: true}}))
		require.NoError(t, err)
		m.Close()
		require.NoError(t, dev.Close())
		var worst, sum float64
		for i := range got {
			d := math.Abs(float64(got[i]) - float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))))
			worst, sum = max(worst, d), sum+d
		}
		t.Logf("llama.cpp loads the Q4_K/Q6_K file; ours (%s): max |Δ| %.3g, mean %.3g", c.name, worst, sum/float64(len(got)))
		require.LessOrEqual(t, worst, 0.5, c.name)
		require.LessOrEqual(t, sum/float64(len(got)), 0.06, c.name)
	}
}

// writeKQuantGGUF writes the file of TestGGUFKQuants to path and returns
// its config and the dequantized weights by Hugging Face name.
func writeKQuantGGUF(t *testing.T, path string) (Config, map[string]Tensor, *testRand) {
	t.Helper()
	cfg := Config{VocabSize: 512, HiddenSize: 256, IntermediateSize: 512, NumHiddenLayers: 2, NumAttentionHeads: 2,
		NumKeyValueHeads: 1, HeadDim: 128, RopeTheta: 1e6, RMSNormEps: float64(float32(1e-6)), MaxPositionEmbeddings: 128,
		TieWordEmbeddings: true, BOSTokenID: -1, EOSTokenIDs: []int{511}}
	rng := newTestRand(7)
	w := gguf.NewWriter()
	for _, kv := range []gguf.KV{
		{Key: "general.architecture", Value: gguf.StringValue("qwen3")},
		{Key: "qwen3.block_count", Value: gguf.Uint32Value(2)},
		{Key: "qwen3.context_length", Value: gguf.Uint32Value(128)},
		{Key: "qwen3.embedding_length", Value: gguf.Uint32Value(256)},
		{Key: "qwen3.feed_forward_length", Value: gguf.Uint32Value(512)},
		{Key: "qwen3.attention.head_count", Value: gguf.Uint32Value(2)},
		{Key: "qwen3.attention.head_count_kv", Value: gguf.Uint32Value(1)},
		{Key: "qwen3.attention.key_length", Value: gguf.Uint32Value(128)},
		{Key: "qwen3.rope.freq_base", Value: gguf.Float32Value(1e6)},
		{Key: "qwen3.attention.layer_norm_rms_epsilon", Value: gguf.Float32Value(1e-6)},
		{Key: "qwen3.vocab_size", Value: gguf.Uint32Value(512)},
		{Key: "tokenizer.ggml.model", Value: gguf.StringValue("none")},
		{Key: "tokenizer.ggml.eos_token_id", Value: gguf.Uint32Value(511)},
	} {
		require.NoError(t, w.Set(kv.Key, kv.Value))
	}
	float := map[string]Tensor{} // the dequantized weights by Hugging Face name
	for _, tn := range ggufTensors(cfg) {
		n := 1
		for _, d := range tn.shape {
			n *= d
		}
		x := make([]float32, n)
		dt := device.F32
		switch {
		case len(tn.shape) == 1:
			for i := range x {
				x[i] = 0.5 + rng.float()
			}
		case strings.HasSuffix(tn.hf, "embed_tokens.weight") || strings.HasSuffix(tn.hf, "down_proj.weight"):
			dt = device.Q6_K
		default:
			dt = device.Q4_K
		}
		if len(tn.shape) == 2 {
			for i := range x {
				x[i] = 0.4 * (rng.float() - 0.5)
			}
		}
		data := make([]byte, 4*n)
		if dt != device.F32 {
			size, err := quant.Bytes(dt, tn.shape[0], tn.shape[1])
			require.NoError(t, err)
			data = make([]byte, size)
			require.NoError(t, quant.Quantize(dt, data, x))
			require.NoError(t, quant.Dequantize(dt, x, data))
		} else {
			for i, v := range x {
				putF32(data[4*i:], v)
			}
		}
		raw := make([]byte, 4*n)
		for i, v := range x {
			putF32(raw[4*i:], v)
		}
		float[tn.hf] = Tensor{DType: device.F32, Shape: tn.shape, Data: raw}
		name, _ := GGUFTensorName(tn.hf)
		typ, err := gguf.TypeOf(dt)
		require.NoError(t, err)
		dims := make([]int64, len(tn.shape))
		for i, d := range tn.shape {
			dims[len(dims)-1-i] = int64(d)
		}
		require.NoError(t, w.AddTensor(name, typ, dims, data))
	}
	out, err := os.Create(path)
	require.NoError(t, err)
	_, err = w.WriteTo(out)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	return cfg, float, rng
}

// testRand is a small deterministic generator (splitmix64).
type testRand struct{ s uint64 }

func newTestRand(seed uint64) *testRand { return &testRand{s: seed} }

func (r *testRand) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// float is uniform in [0, 1).
func (r *testRand) float() float32 { return float32(r.next()>>40) / (1 << 24) }

// TestWriteGGUFQ4K writes a model as an all-Q4_K file (what llama-quantize
// --pure Q4_K_S makes): every 2-D weight is core/quant's Q4_K of the float
// values, the norms F32, general.file_type 14; and a model whose rows are
// not whole 256-value super-blocks is refused with an error that says so.
func TestWriteGGUFQ4K(t *testing.T) {
	cfg, float, _ := writeKQuantGGUF(t, filepath.Join(t.TempDir(), "kq.gguf"))
	src := func(name string) (Tensor, error) {
		tn, ok := float[name]
		if !ok {
			return Tensor{}, fmt.Errorf("no tensor %s", name)
		}
		return tn, nil
	}
	path := filepath.Join(t.TempDir(), "q4k.gguf")
	out, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, WriteGGUF(out, cfg, src, GGUFWriteOptions{Type: device.Q4_K}))
	require.NoError(t, out.Close())
	f, err := gguf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	ft, err := f.Metadata().Uint("general.file_type")
	require.NoError(t, err)
	require.Equal(t, uint64(14), ft)
	for _, tn := range ggufTensors(cfg) {
		name, _ := GGUFTensorName(tn.hf)
		got, err := f.Tensor(name)
		require.NoError(t, err, name)
		x := make([]float32, len(float[tn.hf].Data)/4)
		require.NoError(t, quant.Dequantize(device.F32, x, float[tn.hf].Data))
		if len(tn.shape) == 1 {
			require.Equal(t, device.F32, got.DType, name)
			require.Equal(t, float[tn.hf].Data, got.Data, name)
			continue
		}
		want := make([]byte, len(x)/256*144)
		require.NoError(t, quant.Quantize(device.Q4_K, want, x))
		require.Equal(t, device.Q4_K, got.DType, name)
		require.Equal(t, want, got.Data, name)
	}

	tiny, err := gguf.Open(ggufPath("qwen3-tiny", "f32"))
	require.NoError(t, err)
	defer tiny.Close()
	tcfg, err := ConfigFromGGUF(tiny)
	require.NoError(t, err)
	err = WriteGGUF(io.Discard, tcfg, GGUFSource(tiny), GGUFWriteOptions{Type: device.Q4_K})
	require.ErrorContains(t, err, "256")
}
