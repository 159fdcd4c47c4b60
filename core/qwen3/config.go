// Package qwen3 implements the Qwen3 decoder-only transformer over a
// device.Device: it parses Hugging Face configs, loads checkpoints, and runs
// one forward step over a step.Step (several sequences, prefill chunks
// and decodes mixed, with a paged KV cache).
//
// The package never does arithmetic on tensors itself: every operation of
// the forward pass is a call on the Device, so the same model code drives the
// CPU reference (package cpu) and the WebGPU device.
package qwen3

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrUnsupported reports a checkpoint this package cannot run: another
// model_type, or a Qwen3 feature it does not implement (sliding window, rope
// scaling, attention biases).
var ErrUnsupported = errors.New("unsupported model")

// ErrInvalidConfig reports a config.json that is missing a required field or
// has an impossible value.
var ErrInvalidConfig = errors.New("invalid config")

// Config is the architecture of a Qwen3 model, as read from config.json.
type Config struct {
	VocabSize             int     `json:"vocab_size"`
	HiddenSize            int     `json:"hidden_size"`
	IntermediateSize      int     `json:"intermediate_size"`
	NumHiddenLayers       int     `json:"num_hidden_layers"`
	NumAttentionHeads     int     `json:"num_attention_heads"`
	NumKeyValueHeads      int     `json:"num_key_value_heads"`
	HeadDim               int     `json:"head_dim"`
	RopeTheta             float64 `json:"rope_theta"`
	RMSNormEps            float64 `json:"rms_norm_eps"`
	MaxPositionEmbeddings int     `json:"max_position_embeddings"`
	TieWordEmbeddings     bool    `json:"tie_word_embeddings"`
	BOSTokenID            int     `json:"bos_token_id"`
	// EOSTokenIDs are the ids that end generation. config.json has one int;
	// generation_config.json may have a list, which then takes precedence.
	EOSTokenIDs []int `json:"-"`
}

// GenerationConfig holds the sampling defaults of generation_config.json.
// Zero values mean the file did not set the field.
type GenerationConfig struct {
	BOSTokenID  int     `json:"bos_token_id"`
	EOSTokenIDs []int   `json:"-"`
	PadTokenID  int     `json:"pad_token_id"`
	DoSample    bool    `json:"do_sample"`
	Temperature float64 `json:"temperature"`
	TopK        int     `json:"top_k"`
	TopP        float64 `json:"top_p"`
}

// Qwen3_0_6B is the architecture of Qwen/Qwen3-0.6B, used by the
// random:qwen3-0.6b preset. Treat it as a constant: copy it (and clone
// EOSTokenIDs) before changing anything.
var Qwen3_0_6B = Config{
	VocabSize:             151936,
	HiddenSize:            1024,
	IntermediateSize:      3072,
	NumHiddenLayers:       28,
	NumAttentionHeads:     16,
	NumKeyValueHeads:      8,
	HeadDim:               128,
	RopeTheta:             1e6,
	RMSNormEps:            1e-6,
	MaxPositionEmbeddings: 40960,
	TieWordEmbeddings:     true,
	BOSTokenID:            151643,
	EOSTokenIDs:           []int{151645, 151643},
}

// rawConfig mirrors the config.json fields that need presence checks or
// polymorphic types.
type rawConfig struct {
	ModelType             string          `json:"model_type"`
	VocabSize             *int            `json:"vocab_size"`
	HiddenSize            *int            `json:"hidden_size"`
	IntermediateSize      *int            `json:"intermediate_size"`
	NumHiddenLayers       *int            `json:"num_hidden_layers"`
	NumAttentionHeads     *int            `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	HeadDim               *int            `json:"head_dim"`
	RopeTheta             *float64        `json:"rope_theta"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	MaxPositionEmbeddings *int            `json:"max_position_embeddings"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	BOSTokenID            *int            `json:"bos_token_id"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
	HiddenAct             *string         `json:"hidden_act"`
	AttentionBias         *bool           `json:"attention_bias"`
	UseSlidingWindow      *bool           `json:"use_sliding_window"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
}

// ParseConfig parses the contents of a Qwen3 config.json.
func ParseConfig(data []byte) (Config, error) {
	var r rawConfig
	if err := json.Unmarshal(data, &r); err != nil {
		return Config{}, fmt.Errorf("config.json: %w: %w", ErrInvalidConfig, err)
	}
	if r.ModelType != "qwen3" {
		return Config{}, fmt.Errorf("config.json: model_type %q: %w (only \"qwen3\")", r.ModelType, ErrUnsupported)
	}
	if r.HiddenAct != nil && *r.HiddenAct != "silu" {
		return Config{}, fmt.Errorf("config.json: hidden_act %q: %w (only \"silu\")", *r.HiddenAct, ErrUnsupported)
	}
	if r.AttentionBias != nil && *r.AttentionBias {
		return Config{}, fmt.Errorf("config.json: attention_bias true: %w", ErrUnsupported)
	}
	if r.UseSlidingWindow != nil && *r.UseSlidingWindow {
		return Config{}, fmt.Errorf("config.json: use_sliding_window true: %w", ErrUnsupported)
	}
	if len(r.RopeScaling) > 0 && string(r.RopeScaling) != "null" {
		return Config{}, fmt.Errorf("config.json: rope_scaling %s: %w", r.RopeScaling, ErrUnsupported)
	}
	var c Config
	ints := []struct {
		name string
		src  *int
		dst  *int
	}{
		{"vocab_size", r.VocabSize, &c.VocabSize},
		{"hidden_size", r.HiddenSize, &c.HiddenSize},
		{"intermediate_size", r.IntermediateSize, &c.IntermediateSize},
		{"num_hidden_layers", r.NumHiddenLayers, &c.NumHiddenLayers},
		{"num_attention_heads", r.NumAttentionHeads, &c.NumAttentionHeads},
		{"num_key_value_heads", r.NumKeyValueHeads, &c.NumKeyValueHeads},
		{"head_dim", r.HeadDim, &c.HeadDim},
		{"max_position_embeddings", r.MaxPositionEmbeddings, &c.MaxPositionEmbeddings},
	}
	for _, f := range ints {
		if f.src == nil {
			return Config{}, fmt.Errorf("config.json: missing %s: %w", f.name, ErrInvalidConfig)
		}
		*f.dst = *f.src
	}
	if r.RopeTheta == nil {
		return Config{}, fmt.Errorf("config.json: missing rope_theta: %w", ErrInvalidConfig)
	}
	c.RopeTheta = *r.RopeTheta
	if r.RMSNormEps == nil {
		return Config{}, fmt.Errorf("config.json: missing rms_norm_eps: %w", ErrInvalidConfig)
	}
	c.RMSNormEps = *r.RMSNormEps
	// transformers' PretrainedConfig defaults tie_word_embeddings to true.
	c.TieWordEmbeddings = r.TieWordEmbeddings == nil || *r.TieWordEmbeddings
	c.BOSTokenID = -1
	if r.BOSTokenID != nil {
		c.BOSTokenID = *r.BOSTokenID
	}
	eos, err := parseIDs(r.EOSTokenID)
	if err != nil {
		return Config{}, fmt.Errorf("config.json: eos_token_id: %w: %w", ErrInvalidConfig, err)
	}
	c.EOSTokenIDs = eos
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config.json: %w", err)
	}
	return c, nil
}

// Upper bounds of a config's dimensions. A config.json comes with a model
// from outside, and sizes derived from these (activation buffers, the
// largest context, the KV cache per token) are allocated; the bounds keep
// every such product far from overflowing and refuse absurd values with an
// error naming them, before anything is allocated. They are well above any
// published model: Qwen3-235B has hidden_size 4096, 94 layers and a
// context of 40,960 (131,072 with YaRN); Llama 4 Scout a context of 10M.
const (
	// MaxVocabSize bounds vocab_size.
	MaxVocabSize = 1 << 24
	// MaxHiddenSize bounds hidden_size.
	MaxHiddenSize = 1 << 16
	// MaxIntermediateSize bounds intermediate_size.
	MaxIntermediateSize = 1 << 20
	// MaxHiddenLayers bounds num_hidden_layers.
	MaxHiddenLayers = 1 << 12
	// MaxAttentionHeads bounds num_attention_heads and num_key_value_heads.
	MaxAttentionHeads = 1 << 12
	// MaxHeadDim bounds head_dim.
	MaxHeadDim = 1 << 12
	// MaxPositions bounds max_position_embeddings.
	MaxPositions = 1 << 24
)

// Validate checks that the dimensions are positive, within the bounds
// above, and consistent.
func (c Config) Validate() error {
	pos := []struct {
		name  string
		v     int
		limit int
	}{
		{"vocab_size", c.VocabSize, MaxVocabSize},
		{"hidden_size", c.HiddenSize, MaxHiddenSize},
		{"intermediate_size", c.IntermediateSize, MaxIntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers, MaxHiddenLayers},
		{"num_attention_heads", c.NumAttentionHeads, MaxAttentionHeads},
		{"num_key_value_heads", c.NumKeyValueHeads, MaxAttentionHeads},
		{"head_dim", c.HeadDim, MaxHeadDim},
		{"max_position_embeddings", c.MaxPositionEmbeddings, MaxPositions},
	}
	for _, p := range pos {
		if p.v <= 0 {
			return fmt.Errorf("%s = %d, want > 0: %w", p.name, p.v, ErrInvalidConfig)
		}
		if p.v > p.limit {
			return fmt.Errorf("%s = %d is above the limit of %d: %w", p.name, p.v, p.limit, ErrInvalidConfig)
		}
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return fmt.Errorf("num_attention_heads %d is not a multiple of num_key_value_heads %d: %w",
			c.NumAttentionHeads, c.NumKeyValueHeads, ErrInvalidConfig)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("head_dim %d is odd, RoPE needs pairs: %w", c.HeadDim, ErrInvalidConfig)
	}
	if !(c.RopeTheta > 0) {
		return fmt.Errorf("rope_theta = %v, want > 0: %w", c.RopeTheta, ErrInvalidConfig)
	}
	if !(c.RMSNormEps > 0) {
		return fmt.Errorf("rms_norm_eps = %v, want > 0: %w", c.RMSNormEps, ErrInvalidConfig)
	}
	for _, id := range c.EOSTokenIDs {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("eos_token_id %d outside vocab of %d: %w", id, c.VocabSize, ErrInvalidConfig)
		}
	}
	return nil
}

// parseIDs accepts a JSON int, a list of ints, or null/absent.
func parseIDs(raw json.RawMessage) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want an int or a list of ints, got %s", raw)
	}
	return many, nil
}

// ParseGenerationConfig parses the contents of generation_config.json.
func ParseGenerationConfig(data []byte) (GenerationConfig, error) {
	var g GenerationConfig
	if err := json.Unmarshal(data, &g); err != nil {
		return GenerationConfig{}, fmt.Errorf("generation_config.json: %w: %w", ErrInvalidConfig, err)
	}
	var r struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return GenerationConfig{}, fmt.Errorf("generation_config.json: %w: %w", ErrInvalidConfig, err)
	}
	eos, err := parseIDs(r.EOS)
	if err != nil {
		return GenerationConfig{}, fmt.Errorf("generation_config.json: eos_token_id: %w: %w", ErrInvalidConfig, err)
	}
	g.EOSTokenIDs = eos
	if g.Temperature < 0 || g.TopP < 0 || g.TopP > 1 || g.TopK < 0 {
		return GenerationConfig{}, fmt.Errorf("generation_config.json: temperature %v, top_p %v, top_k %d out of range: %w",
			g.Temperature, g.TopP, g.TopK, ErrInvalidConfig)
	}
	return g, nil
}

// LoadConfig reads dir/config.json and, when present, merges the EOS ids of
// dir/generation_config.json (which lists every stop id, where config.json
// has only one).
func LoadConfig(dir string) (Config, GenerationConfig, error) {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return Config{}, GenerationConfig{}, fmt.Errorf("qwen3: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, GenerationConfig{}, fmt.Errorf("qwen3: %s: %w", dir, err)
	}
	var gen GenerationConfig
	data, err = os.ReadFile(filepath.Join(dir, "generation_config.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		gen = GenerationConfig{BOSTokenID: cfg.BOSTokenID, EOSTokenIDs: cfg.EOSTokenIDs, Temperature: 1, TopP: 1}
	case err != nil:
		return Config{}, GenerationConfig{}, fmt.Errorf("qwen3: %w", err)
	default:
		gen, err = ParseGenerationConfig(data)
		if err != nil {
			return Config{}, GenerationConfig{}, fmt.Errorf("qwen3: %s: %w", dir, err)
		}
		if len(gen.EOSTokenIDs) > 0 {
			cfg.EOSTokenIDs = gen.EOSTokenIDs
			if err := cfg.Validate(); err != nil {
				return Config{}, GenerationConfig{}, fmt.Errorf("qwen3: %s: generation_config.json: %w", dir, err)
			}
		}
	}
	return cfg, gen, nil
}
