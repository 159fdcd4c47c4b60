package qwen3

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
)

// TestPresetConfigs pins the presets to the config.json of the Hugging Face
// repositories, and their parameter counts to the model cards' (Qwen3-1.7B:
// 1.7B parameters, 1.4B non-embedding; 4B: 4.0B and 3.6B; 8B: 8.2B and
// 6.95B).
func TestPresetConfigs(t *testing.T) {
	cases := []struct {
		name                               string
		hidden, layers, heads, inter       int
		tied                               bool
		params, nonEmbedding, tolerancePct float64
	}{
		{"qwen3-0.6b", 1024, 28, 16, 3072, true, 0.6e9, 0.44e9, 3},
		{"qwen3-1.7b", 2048, 28, 16, 6144, true, 1.7e9, 1.4e9, 3},
		{"qwen3-4b", 2560, 36, 32, 9728, true, 4.0e9, 3.6e9, 3},
		{"qwen3-8b", 4096, 36, 32, 12288, false, 8.2e9, 6.95e9, 3},
	}
	presets := Presets()
	require.Len(t, presets, len(cases))
	for _, c := range cases {
		cfg, ok := presets[c.name]
		require.True(t, ok, c.name)
		require.NoError(t, cfg.Validate(), c.name)
		require.Equal(t, c.hidden, cfg.HiddenSize, c.name)
		require.Equal(t, c.layers, cfg.NumHiddenLayers, c.name)
		require.Equal(t, c.heads, cfg.NumAttentionHeads, c.name)
		require.Equal(t, 8, cfg.NumKeyValueHeads, c.name)
		require.Equal(t, 128, cfg.HeadDim, c.name)
		require.Equal(t, c.inter, cfg.IntermediateSize, c.name)
		require.Equal(t, c.tied, cfg.TieWordEmbeddings, c.name)
		require.Equal(t, 151936, cfg.VocabSize, c.name)
		require.Equal(t, 1e6, cfg.RopeTheta, c.name)
		require.Equal(t, 1e-6, cfg.RMSNormEps, c.name)
		require.Equal(t, 40960, cfg.MaxPositionEmbeddings, c.name)
		bf16, err := WeightBytesFor(cfg, device.BF16)
		require.NoError(t, err)
		params := float64(bf16) / 2
		embedding := float64(cfg.VocabSize * cfg.HiddenSize)
		if !cfg.TieWordEmbeddings {
			embedding *= 2
		}
		require.InEpsilon(t, c.params, params, c.tolerancePct/100, "%s: %.3g parameters", c.name, params)
		require.InEpsilon(t, c.nonEmbedding, params-embedding, c.tolerancePct/100, "%s: %.3g non-embedding", c.name, params-embedding)
	}
	// Presets hands out copies.
	presets["qwen3-8b"].EOSTokenIDs[0] = -1
	require.Equal(t, 151645, Presets()["qwen3-8b"].EOSTokenIDs[0])
}

// TestRandomQuantizedSource: the matrices the quantizing random source
// serves are the bf16 preset's (RandomTensors) quantized by core/quant, and
// its vectors are the bf16 preset's.
func TestRandomQuantizedSource(t *testing.T) {
	cfg := Qwen3_0_6B
	cfg.VocabSize, cfg.HiddenSize, cfg.IntermediateSize, cfg.NumHiddenLayers = 1000, 256, 512, 2
	cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.HeadDim, cfg.TieWordEmbeddings = 4, 2, 64, false
	bf16, shapes := RandomTensors(cfg)
	for _, q := range []device.DType{device.Q8_0, device.Q4_0} {
		src := randomQuantizedSource(cfg, q)
		for name, shape := range shapes {
			got, err := src(name)
			require.NoError(t, err, name)
			require.Equal(t, shape, got.Shape, name)
			if len(shape) == 1 {
				require.Equal(t, device.BF16, got.DType, name)
				require.Equal(t, bf16[name], got.Data, name)
				continue
			}
			x := make([]float32, shape[0]*shape[1])
			require.NoError(t, quant.Dequantize(device.BF16, x, bf16[name]))
			n, err := quant.Bytes(q, shape[0], shape[1])
			require.NoError(t, err)
			want := make([]byte, n)
			require.NoError(t, quant.Quantize(q, want, x))
			require.Equal(t, q, got.DType, name)
			require.Equal(t, want, got.Data, name)
		}
		_, err := src("model.layers.9.mlp.up_proj.weight")
		require.Error(t, err)
	}
}

// TestRandomMemoryNeed: bf16 presets need their bf16 weights; quantized
// ones their quantized weights plus one bf16 scratch matrix (the
// embedding, the largest).
func TestRandomMemoryNeed(t *testing.T) {
	for name, cfg := range Presets() {
		bf16, err := WeightBytesFor(cfg, device.BF16)
		require.NoError(t, err)
		need, what, err := randomMemoryNeed(cfg, device.F32)
		require.NoError(t, err)
		require.Equal(t, bf16, need, name)
		require.Contains(t, what, "bf16")
		for _, q := range []device.DType{device.Q8_0, device.Q4_0} {
			need, what, err = randomMemoryNeed(cfg, q)
			require.NoError(t, err)
			wq, err := WeightBytesFor(cfg, q)
			require.NoError(t, err)
			require.Equal(t, wq+2*int64(cfg.VocabSize*cfg.HiddenSize), need, name)
			require.Contains(t, what, q.String())
			// Q8_0 is 34/64 of bf16 for the matrices, Q4_0 18/64.
			ratio := map[device.DType]float64{device.Q8_0: 34.0 / 64, device.Q4_0: 18.0 / 64}[q]
			require.InEpsilon(t, ratio, float64(wq)/float64(bf16), 0.01, "%s %s", name, q)
		}
		_, _, err = randomMemoryNeed(cfg, device.Q4_K)
		require.ErrorIs(t, err, ErrQuantize)
	}
	dev := cpu.New(cpuDefault)
	defer dev.Close()
	_, err := LoadRandom("qwen3-8b", dev, Options{Quantize: device.Q6_K})
	require.ErrorIs(t, err, ErrQuantize)
	_, err = LoadRandom("qwen3-70b", dev, Options{})
	require.ErrorIs(t, err, ErrUnknownPreset)
}

// TestQuantizeOnLoadCPU: on the CPU device's quantized kernels, a
// checkpoint quantized on load computes what the GGUF file of the same
// type computes (the weights are byte-identical; only the norms' storage
// differs, bf16 against f32 of the same values).
func TestQuantizeOnLoadCPU(t *testing.T) {
	for _, ckpt := range []string{"qwen3-tiny", "qwen3-tiny-untied"} {
		ref := loadReference(t, ckpt)
		for _, q := range []device.DType{device.Q8_0, device.Q4_0} {
			t.Run(ckpt+"/"+q.String(), func(t *testing.T) {
				dev := cpu.New(cpuDefault)
				t.Cleanup(func() { dev.Close() })
				m, err := Load(fixtureDir(ckpt), dev, Options{Quantize: q})
				require.NoError(t, err)
				t.Cleanup(func() { m.Close() })
				require.NoError(t, m.NewKVCache(128, 16))
				g := loadGGUFModel(t, ckpt, q.String(), dev)
				for ci, c := range ref.Cases {
					a := newAllocator(m)
					got, err := m.Forward(a.batch([]part{{seq: newTestSeq(c.Prompt), n: len(c.Prompt), logits: true}}))
					require.NoError(t, err)
					b := newAllocator(g)
					want, err := g.Forward(b.batch([]part{{seq: newTestSeq(c.Prompt), n: len(c.Prompt), logits: true}}))
					require.NoError(t, err)
					for i := range want {
						require.LessOrEqual(t, math.Abs(float64(got[i]-want[i])), 1e-5+1e-5*math.Abs(float64(want[i])), "case %d logit %d", ci, i)
					}
				}
			})
		}
	}
}

// TestMeasureRandomLoad reports how long LoadRandom takes and what it
// allocates for each weight format, on the presets named in
// NANOVLLM_QUANT_MEASURE (e.g. "qwen3-0.6b,qwen3-1.7b"), in the formats
// named in NANOVLLM_QUANT_MEASURE_TYPES (default "f32,q8_0,q4_0"; f32 is
// the bf16 weights as generated); skipped without them.
func TestMeasureRandomLoad(t *testing.T) {
	names := os.Getenv("NANOVLLM_QUANT_MEASURE")
	if names == "" {
		t.Skip("set NANOVLLM_QUANT_MEASURE=qwen3-0.6b[,...] to measure")
	}
	types := map[string]device.DType{"f32": device.F32, "q8_0": device.Q8_0, "q4_0": device.Q4_0}
	typeNames := os.Getenv("NANOVLLM_QUANT_MEASURE_TYPES")
	if typeNames == "" {
		typeNames = "f32,q8_0,q4_0"
	}
	for _, name := range strings.Split(names, ",") {
		for _, tn := range strings.Split(typeNames, ",") {
			q, ok := types[tn]
			require.True(t, ok, "format %q", tn)
			dev := cpu.New(cpuDefault)
			before := heapInUse()
			start := time.Now()
			m, err := LoadRandom(name, dev, Options{Quantize: q, MaxTokens: 16})
			require.NoError(t, err)
			elapsed := time.Since(start)
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("%s quantize=%s: load %.2fs, WeightBytes %.1f MB, heap +%.1f MB (Sys %.1f MB), GOMAXPROCS %d",
				name, q, elapsed.Seconds(), float64(m.WeightBytes())/1e6, float64(heapInUse()-before)/1e6, float64(ms.Sys)/1e6, runtime.GOMAXPROCS(0))
			// The model runs: a prefill of 8 tokens and one decode step give
			// finite logits.
			require.NoError(t, m.NewKVCache(4, 16))
			a := newAllocator(m)
			seq := newTestSeq([]int32{9707, 11, 1879, 0, 358, 1079, 264, 1614})
			start = time.Now()
			for _, n := range []int{8, 1} {
				logits, err := m.Forward(a.batch([]part{{seq: seq, n: n, logits: true}}))
				require.NoError(t, err)
				for i, v := range logits {
					require.False(t, math.IsNaN(float64(v)) || math.IsInf(float64(v), 0), "logit %d is %v", i, v)
				}
				seq.tokens = append(seq.tokens, argmax(logits))
			}
			t.Logf("%s quantize=%s: prefill 8 + decode 1 in %.2fs", name, q, time.Since(start).Seconds())
			require.NoError(t, m.Close())
			require.NoError(t, dev.Close())
		}
	}
}

// TestRandomTensorsPinned: the random weights are what they have always
// been (the hash was computed with RandomTensors as of commit f682ff2,
// before the presets were generated tensor by tensor), so benchmarks of
// random:qwen3-0.6b stay comparable across versions.
func TestRandomTensorsPinned(t *testing.T) {
	cfg := Config{VocabSize: 3000, HiddenSize: 512, IntermediateSize: 1536, NumHiddenLayers: 2,
		NumAttentionHeads: 8, NumKeyValueHeads: 4, HeadDim: 64}
	tensors, _ := RandomTensors(cfg)
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		h.Write([]byte(n))
		h.Write(tensors[n])
	}
	require.Equal(t, "2e8fd74d4ec24553e0bb6ef402eed091724e93c6199243dd78671bf7910aac46", hex.EncodeToString(h.Sum(nil)))
}
