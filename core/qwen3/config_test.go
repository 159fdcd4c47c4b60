package qwen3

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/stretchr/testify/require"
)

func TestLoadConfigFixtures(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Config
	}{
		{"qwen3-tiny", Config{VocabSize: 512, HiddenSize: 64, IntermediateSize: 128, NumHiddenLayers: 2,
			NumAttentionHeads: 4, NumKeyValueHeads: 2, HeadDim: 16, RopeTheta: 1e6, RMSNormEps: 1e-6,
			MaxPositionEmbeddings: 512, TieWordEmbeddings: true, BOSTokenID: 510, EOSTokenIDs: []int{511, 510}}},
		{"qwen3-tiny-untied", Config{VocabSize: 512, HiddenSize: 96, IntermediateSize: 160, NumHiddenLayers: 3,
			NumAttentionHeads: 8, NumKeyValueHeads: 2, HeadDim: 32, RopeTheta: 1e6, RMSNormEps: 1e-6,
			MaxPositionEmbeddings: 512, TieWordEmbeddings: false, BOSTokenID: 510, EOSTokenIDs: []int{511, 510}}},
		{"qwen3-tiny-vocab", Config{VocabSize: 151936, HiddenSize: 32, IntermediateSize: 64, NumHiddenLayers: 2,
			NumAttentionHeads: 2, NumKeyValueHeads: 1, HeadDim: 16, RopeTheta: 1e6, RMSNormEps: 1e-6,
			MaxPositionEmbeddings: 512, TieWordEmbeddings: true, BOSTokenID: 151643, EOSTokenIDs: []int{151645, 151643}}},
	} {
		cfg, gen, err := LoadConfig(fixtureDir(tc.name))
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, cfg, tc.name)
		require.True(t, gen.DoSample)
		require.InDelta(t, 0.6, gen.Temperature, 1e-9)
		require.Equal(t, 20, gen.TopK)
		require.InDelta(t, 0.95, gen.TopP, 1e-9)
		require.Equal(t, tc.want.EOSTokenIDs, gen.EOSTokenIDs)
	}
}

func TestParseConfigErrors(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtureDir("qwen3-tiny"), "config.json"))
	require.NoError(t, err)
	base := map[string]any{}
	require.NoError(t, json.Unmarshal(data, &base))
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]any)
		target error
		want   string
	}{
		{"llama", func(m map[string]any) { m["model_type"] = "llama" }, ErrUnsupported, `model_type "llama"`},
		{"no head_dim", func(m map[string]any) { delete(m, "head_dim") }, ErrInvalidConfig, "missing head_dim"},
		{"no rope_theta", func(m map[string]any) { delete(m, "rope_theta") }, ErrInvalidConfig, "missing rope_theta"},
		{"zero layers", func(m map[string]any) { m["num_hidden_layers"] = 0 }, ErrInvalidConfig, "num_hidden_layers = 0"},
		{"gqa mismatch", func(m map[string]any) { m["num_key_value_heads"] = 3 }, ErrInvalidConfig, "not a multiple"},
		{"odd head_dim", func(m map[string]any) { m["head_dim"] = 15 }, ErrInvalidConfig, "head_dim 15 is odd"},
		{"gelu", func(m map[string]any) { m["hidden_act"] = "gelu" }, ErrUnsupported, `hidden_act "gelu"`},
		{"bias", func(m map[string]any) { m["attention_bias"] = true }, ErrUnsupported, "attention_bias"},
		{"sliding", func(m map[string]any) { m["use_sliding_window"] = true }, ErrUnsupported, "use_sliding_window"},
		{"rope scaling", func(m map[string]any) { m["rope_scaling"] = map[string]any{"type": "yarn"} }, ErrUnsupported, "rope_scaling"},
		{"eos string", func(m map[string]any) { m["eos_token_id"] = "x" }, ErrInvalidConfig, "eos_token_id"},
		{"eos outside vocab", func(m map[string]any) { m["eos_token_id"] = 9999 }, ErrInvalidConfig, "outside vocab"},
		{"wrong type", func(m map[string]any) { m["hidden_size"] = "big" }, ErrInvalidConfig, "hidden_size"},
		// Sizes that ended in "fatal error: runtime: out of memory".
		{"huge context", func(m map[string]any) { m["max_position_embeddings"] = 1 << 50 }, ErrInvalidConfig,
			"max_position_embeddings = 1125899906842624 is above the limit of 16777216"},
		{"huge vocab", func(m map[string]any) { m["vocab_size"] = 1 << 40 }, ErrInvalidConfig, "vocab_size = 1099511627776 is above the limit"},
		{"huge hidden", func(m map[string]any) { m["hidden_size"] = 1 << 30 }, ErrInvalidConfig, "hidden_size = 1073741824 is above the limit"},
		{"huge intermediate", func(m map[string]any) { m["intermediate_size"] = 1 << 40 }, ErrInvalidConfig, "intermediate_size"},
		{"many layers", func(m map[string]any) { m["num_hidden_layers"] = 1 << 20 }, ErrInvalidConfig, "num_hidden_layers"},
		{"many heads", func(m map[string]any) { m["num_attention_heads"] = 1 << 20; m["num_key_value_heads"] = 1 << 20 }, ErrInvalidConfig, "num_attention_heads"},
		{"huge head_dim", func(m map[string]any) { m["head_dim"] = 1 << 20 }, ErrInvalidConfig, "head_dim"},
		{"overflowing int", func(m map[string]any) { m["max_position_embeddings"] = 1e30 }, ErrInvalidConfig, "max_position_embeddings"},
	} {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		tc.edit(m)
		data, err := json.Marshal(m)
		require.NoError(t, err)
		_, err = ParseConfig(data)
		require.ErrorIs(t, err, tc.target, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	_, err = ParseConfig([]byte("{"))
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = ParseGenerationConfig([]byte(`{"top_p": 2}`))
	require.ErrorIs(t, err, ErrInvalidConfig)
}

// TestLoadErrors checks that a checkpoint that disagrees with its config
// names the tensor and the problem.
func TestLoadErrors(t *testing.T) {
	dev := cpu.New(cpu.Options{})
	defer dev.Close()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(fixtureDir("qwen3-tiny"), "config.json"))
	require.NoError(t, err)
	m := map[string]any{}
	require.NoError(t, json.Unmarshal(data, &m))
	m["intermediate_size"] = 130
	data, err = json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
	st, err := os.ReadFile(filepath.Join(fixtureDir("qwen3-tiny"), "model.safetensors"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors"), st, 0o644))
	_, err = Load(dir, dev, Options{})
	require.ErrorContains(t, err, "model.layers.0.mlp.gate_proj.weight has shape [128 64], config wants [130 64]")

	m["tie_word_embeddings"] = false
	m["intermediate_size"] = 128
	data, err = json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
	_, err = Load(dir, dev, Options{})
	require.ErrorContains(t, err, "lm_head.weight")

	_, err = Load(filepath.Join(dir, "nope"), dev, Options{})
	require.ErrorContains(t, err, "no such file")
}

func TestLoadFromNeedsDevice(t *testing.T) {
	_, err := LoadFrom(Qwen3_0_6B, nil, nil, Options{})
	require.ErrorContains(t, err, "needs a device")
}

// TestForwardBadInput checks that batches the model cannot run are errors,
// and that the model still works afterwards.
func TestForwardBadInput(t *testing.T) {
	dev := cpu.New(cpu.Options{})
	defer dev.Close()
	m, err := Load(fixtureDir("qwen3-tiny"), dev, Options{})
	require.NoError(t, err)
	defer m.Close()
	good := func() *testSeq { return newTestSeq([]int32{1, 2, 3}) }
	a := &allocator{blockSize: 16, numBlocks: 4}
	_, err = m.Forward(a.batch([]part{{seq: good(), n: 3, logits: true}}))
	require.ErrorIs(t, err, ErrNoKVCache)

	require.NoError(t, m.NewKVCache(4, 16))
	for _, tc := range []struct {
		name   string
		edit   func(b *step.Step)
		target error
	}{
		{"token outside vocab", func(b *step.Step) { b.TokenIDs[1] = 512 }, ErrBadInput},
		{"block outside cache", func(b *step.Step) { b.BlockTables[0] = 4; b.Slots = []int32{64, 65, 66} }, step.ErrInvalid},
		{"block size", func(b *step.Step) { b.BlockSize = 8; b.Slots = []int32{0, 1, 2} }, step.ErrInvalid},
		{"slot disagrees", func(b *step.Step) { b.Slots[2] = 7 }, step.ErrInvalid},
		{"logits row", func(b *step.Step) { b.LogitsRows[0] = 3 }, step.ErrInvalid},
		{"position beyond context", func(b *step.Step) { b.ContextLens[0] = 2 }, step.ErrInvalid},
	} {
		b := (&allocator{blockSize: 16, numBlocks: 4}).batch([]part{{seq: good(), n: 3, logits: true}})
		tc.edit(b)
		_, err := m.Forward(b)
		require.ErrorIs(t, err, tc.target, tc.name)
	}
	logits, err := m.Forward((&allocator{blockSize: 16, numBlocks: 4}).batch([]part{{seq: good(), n: 3, logits: true}}))
	require.NoError(t, err)
	require.Len(t, logits, 512)
}
