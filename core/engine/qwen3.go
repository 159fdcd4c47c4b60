package engine

import (
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// Qwen3Model adapts a loaded Qwen3 model to ArgmaxModel.
func Qwen3Model(m *qwen3.Model) ArgmaxModel { return qwen3Model{m} }

type qwen3Model struct{ *qwen3.Model }

func (m qwen3Model) VocabSize() int { return m.Config().VocabSize }

// Qwen3Tokenizer adapts a Hugging Face tokenizer to Tokenizer. Output text
// skips special tokens, as vLLM does by default.
func Qwen3Tokenizer(t *tokenizer.Tokenizer) Tokenizer { return qwen3Tokenizer{t} }

type qwen3Tokenizer struct{ *tokenizer.Tokenizer }

func (t qwen3Tokenizer) NewTextDecoder() TextDecoder { return t.NewDecoder(true) }

// NewQwen3 builds an engine for a loaded Qwen3 model and its tokenizer (tok
// may be nil for token ids only). It fills in what the checkpoint knows:
// with no cfg.EOSTokenIDs, the eos_token_id list of generation_config.json;
// and the maximum sequence length is capped at max_position_embeddings.
func NewQwen3(m *qwen3.Model, tok *tokenizer.Tokenizer, cfg Config) (*Engine, error) {
	mc := m.Config()
	if cfg.EOSTokenIDs == nil {
		for _, id := range m.GenerationConfig().EOSTokenIDs {
			cfg.EOSTokenIDs = append(cfg.EOSTokenIDs, int32(id))
		}
	}
	if n := mc.MaxPositionEmbeddings; n > 0 && cfg.Scheduler.MaxModelLen > n {
		cfg.Scheduler.MaxModelLen = n
	}
	var t Tokenizer
	if tok != nil {
		t = Qwen3Tokenizer(tok)
	}
	return New(Qwen3Model(m), t, cfg)
}

// Qwen3DefaultParams returns the sampling parameters the model recommends in
// its generation_config.json: DefaultParams of its GenerationConfig.
func Qwen3DefaultParams(m *qwen3.Model) sampler.Params {
	return DefaultParams(m.GenerationConfig())
}

// DefaultParams returns the sampling parameters a generation_config.json
// recommends (for Qwen3: temperature 0.6, top-k 20, top-p 0.95), or greedy
// decoding if it does not sample. Every front end (the command line, the
// browser build) takes its defaults from here.
func DefaultParams(g qwen3.GenerationConfig) sampler.Params {
	return sampler.FromGenerationConfig(sampler.GenerationConfig{
		DoSample:    g.DoSample,
		Temperature: float32(g.Temperature),
		TopK:        g.TopK,
		TopP:        float32(g.TopP),
	})
}
