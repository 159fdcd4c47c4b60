package qwen3

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
)

// GGUF tensor names of a Qwen3 model, as llama.cpp's convert_hf_to_gguf.py
// writes them. ggufNames maps a Hugging Face name to its GGUF name.
var ggufLayerNames = map[string]string{
	"input_layernorm.weight":          "attn_norm.weight",
	"self_attn.q_proj.weight":         "attn_q.weight",
	"self_attn.k_proj.weight":         "attn_k.weight",
	"self_attn.v_proj.weight":         "attn_v.weight",
	"self_attn.o_proj.weight":         "attn_output.weight",
	"self_attn.q_norm.weight":         "attn_q_norm.weight",
	"self_attn.k_norm.weight":         "attn_k_norm.weight",
	"post_attention_layernorm.weight": "ffn_norm.weight",
	"mlp.gate_proj.weight":            "ffn_gate.weight",
	"mlp.up_proj.weight":              "ffn_up.weight",
	"mlp.down_proj.weight":            "ffn_down.weight",
}

// GGUFTensorName returns the GGUF name of a Qwen3 tensor given its Hugging
// Face name ("model.layers.3.mlp.up_proj.weight" -> "blk.3.ffn_up.weight"),
// and false for a name outside the architecture.
func GGUFTensorName(hf string) (string, bool) {
	switch hf {
	case "model.embed_tokens.weight":
		return "token_embd.weight", true
	case "lm_head.weight":
		return "output.weight", true
	case "model.norm.weight":
		return "output_norm.weight", true
	}
	rest, ok := strings.CutPrefix(hf, "model.layers.")
	if !ok {
		return "", false
	}
	idx, suffix, ok := strings.Cut(rest, ".")
	if _, err := strconv.Atoi(idx); !ok || err != nil {
		return "", false
	}
	g, ok := ggufLayerNames[suffix]
	if !ok {
		return "", false
	}
	return "blk." + idx + "." + g, true
}

// ConfigFromGGUF reads a Qwen3 architecture from a GGUF file's metadata
// (the qwen3.* keys llama.cpp's converter writes) and its tensor list (an
// untied model has output.weight). It refuses other architectures with
// ErrUnsupported and missing or impossible values with ErrInvalidConfig.
func ConfigFromGGUF(f *gguf.File) (Config, error) {
	md := f.Metadata()
	arch, err := md.String("general.architecture")
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if arch != "qwen3" {
		return Config{}, fmt.Errorf("general.architecture %q: %w (only \"qwen3\")", arch, ErrUnsupported)
	}
	var c Config
	readInt := func(key string, dst *int) error {
		v, err := md.Uint(key)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if v > 1<<31 {
			return fmt.Errorf("%s = %d: %w", key, v, ErrInvalidConfig)
		}
		*dst = int(v)
		return nil
	}
	for _, k := range []struct {
		key string
		dst *int
	}{
		{"qwen3.block_count", &c.NumHiddenLayers},
		{"qwen3.context_length", &c.MaxPositionEmbeddings},
		{"qwen3.embedding_length", &c.HiddenSize},
		{"qwen3.feed_forward_length", &c.IntermediateSize},
		{"qwen3.attention.head_count", &c.NumAttentionHeads},
		{"qwen3.attention.head_count_kv", &c.NumKeyValueHeads},
	} {
		if err := readInt(k.key, k.dst); err != nil {
			return Config{}, err
		}
	}
	// key_length is head_dim; llama.cpp defaults it to hidden/heads.
	if md.Has("qwen3.attention.key_length") {
		if err := readInt("qwen3.attention.key_length", &c.HeadDim); err != nil {
			return Config{}, err
		}
	} else if c.NumAttentionHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	if md.Has("qwen3.attention.value_length") {
		var vl int
		if err := readInt("qwen3.attention.value_length", &vl); err != nil {
			return Config{}, err
		}
		if vl != c.HeadDim {
			return Config{}, fmt.Errorf("qwen3.attention.value_length %d differs from key_length %d: %w", vl, c.HeadDim, ErrUnsupported)
		}
	}
	c.RopeTheta = 10000 // llama.cpp's default when rope.freq_base is absent
	if md.Has("qwen3.rope.freq_base") {
		if c.RopeTheta, err = md.Float("qwen3.rope.freq_base"); err != nil {
			return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
	}
	if c.RMSNormEps, err = md.Float("qwen3.attention.layer_norm_rms_epsilon"); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if s, err := md.String("qwen3.rope.scaling.type"); err == nil && s != "none" {
		return Config{}, fmt.Errorf("qwen3.rope.scaling.type %q: %w", s, ErrUnsupported)
	}
	if c.VocabSize, err = ggufVocabSize(md); err != nil {
		return Config{}, err
	}
	_, err = f.Tensor("output.weight")
	c.TieWordEmbeddings = errors.Is(err, gguf.ErrNotFound)
	if _, err := f.Tensor("blk.0.attn_q.bias"); !errors.Is(err, gguf.ErrNotFound) {
		return Config{}, fmt.Errorf("attention biases (blk.0.attn_q.bias): %w", ErrUnsupported)
	}
	c.BOSTokenID = -1
	if id, err := md.Uint("tokenizer.ggml.bos_token_id"); err == nil {
		c.BOSTokenID = int(min(id, 1<<31))
	}
	// The end-of-sequence ids: eos, and eot when it is another token
	// (generation_config.json's list, for GGUF files that carry both).
	for _, key := range []string{"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"} {
		id, err := md.Uint(key)
		if err != nil {
			continue
		}
		if id >= uint64(c.VocabSize) {
			return Config{}, fmt.Errorf("%s %d outside the vocabulary of %d: %w", key, id, c.VocabSize, ErrInvalidConfig)
		}
		if len(c.EOSTokenIDs) == 0 || c.EOSTokenIDs[0] != int(id) {
			c.EOSTokenIDs = append(c.EOSTokenIDs, int(id))
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// ggufVocabSize is qwen3.vocab_size, else the length of the token list; a
// file with both must agree.
func ggufVocabSize(md *gguf.Metadata) (int, error) {
	n := -1
	if md.Has("tokenizer.ggml.tokens") {
		v, _ := md.Lookup("tokenizer.ggml.tokens")
		if v.Type() != gguf.Array {
			return 0, fmt.Errorf("tokenizer.ggml.tokens is a %s, want an array: %w", v.Type(), ErrInvalidConfig)
		}
		n = v.Len()
	}
	if md.Has("qwen3.vocab_size") {
		v, err := md.Uint("qwen3.vocab_size")
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		if v > MaxVocabSize {
			return 0, fmt.Errorf("qwen3.vocab_size %d is above the limit of %d: %w", v, MaxVocabSize, ErrInvalidConfig)
		}
		if n >= 0 && int(v) != n {
			return 0, fmt.Errorf("qwen3.vocab_size %d but %d tokens in tokenizer.ggml.tokens: %w", v, n, ErrInvalidConfig)
		}
		n = int(v)
	}
	if n < 0 {
		return 0, fmt.Errorf("neither qwen3.vocab_size nor tokenizer.ggml.tokens: %w", ErrInvalidConfig)
	}
	return n, nil
}

// GGUFSource adapts a GGUF file to a Source: Hugging Face names are looked
// up under their GGUF names, shapes are given row-major (GGUF stores them
// innermost first), and the data aliases the file's mapping.
func GGUFSource(f *gguf.File) Source {
	return func(name string) (Tensor, error) {
		g, ok := GGUFTensorName(name)
		if !ok {
			return Tensor{}, fmt.Errorf("no GGUF name for %s", name)
		}
		t, err := f.Tensor(g)
		if err != nil {
			return Tensor{}, err
		}
		return Tensor{DType: t.DType, Shape: t.Shape, Data: t.Data}, nil
	}
}

// LoadGGUF loads a Qwen3 model from a GGUF file (as llama.cpp's converter
// or `nanovllm quantize` writes it) onto dev. Weights go to the device in
// the file's types (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K), or quantized
// on load when opts ask for it; the file stays mapped until Close. The
// generation defaults are neutral (temperature 1, top-p 1) with the file's
// BOS and EOS ids: GGUF has no generation_config.json.
func LoadGGUF(path string, dev device.Device, opts Options) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("qwen3: %w", err)
	}
	cfg, err := ConfigFromGGUF(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("qwen3: %s: %w", path, err)
	}
	m, err := LoadSource(cfg, GGUFSource(f), dev, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	// The model keeps the mapping, not the tokenizer strings of the
	// metadata (megabytes: the tokenizer is read from the file on its own).
	f.DropMetadata()
	m.closers = append(m.closers, f.Close)
	return m, nil
}
