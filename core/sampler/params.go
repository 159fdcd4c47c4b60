package sampler

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalidParams is wrapped by every error Params.Validate returns, so a
// server can answer such a request with "400 Bad Request" while other errors
// stay "500".
var ErrInvalidParams = errors.New("invalid sampling parameters")

// MaxLogprobs is the largest number of alternatives Params.Logprobs may ask
// for, as in vLLM's default max_logprobs.
const MaxLogprobs = 20

// Params are the sampling parameters of one request.
//
// The zero value is greedy decoding with no penalties, no stop conditions
// other than the model's end-of-sequence tokens and no length limit other
// than the model's maximum length. Fields whose "off" value would otherwise
// be 1 (TopP, RepetitionPenalty) also treat 0 as off, so that the zero value
// is useful.
type Params struct {
	// Temperature divides the logits before sampling. 0 selects greedy
	// decoding: the most likely token (lowest id on a tie), no randomness.
	Temperature float32
	// TopK keeps only the K most likely tokens. 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// adds up to at least TopP ("nucleus sampling"). 0 or 1 keeps all.
	TopP float32
	// MinP drops tokens whose probability is below MinP times that of the
	// most likely token. 0 keeps all.
	MinP float32

	// RepetitionPenalty, as in Hugging Face transformers and vLLM, divides
	// the positive logits and multiplies the negative logits of every token
	// that appears in the prompt or the output so far. Values above 1
	// discourage repetition. 0 or 1 is off.
	RepetitionPenalty float32
	// PresencePenalty, as in the OpenAI API, is subtracted from the logit of
	// every token that appears in the output so far. In [-2, 2].
	PresencePenalty float32
	// FrequencyPenalty, as in the OpenAI API, is subtracted from the logit of
	// every token once per time it appears in the output so far. In [-2, 2].
	FrequencyPenalty float32

	// Seed, when set, makes sampling reproducible: the same prompt, Params
	// and model give the same output, whatever else runs in the same batch.
	// A request without a seed gets a fresh one from its engine.
	Seed *uint64

	// MaxTokens limits the number of generated tokens. 0 means up to the
	// model's maximum sequence length.
	MaxTokens int
	// MinTokens is the fewest tokens to generate before generation may
	// stop, as vLLM's min_tokens: until then the stop tokens (the model's
	// end-of-sequence tokens unless IgnoreEOS, and StopTokenIDs) are never
	// sampled, and stop strings count only within the text of the
	// MinTokens-th and later tokens. At most MaxTokens when that is set.
	MinTokens int
	// StopTokenIDs end generation when sampled, in addition to the model's
	// end-of-sequence tokens. The stop token is part of the output token ids
	// but not of the output text.
	StopTokenIDs []int32
	// Stop strings end generation when they appear in the output text. The
	// text returned ends just before the stop string, which never appears in
	// streamed text either, even when it is split across tokens.
	Stop []string
	// IncludeStopStrInOutput keeps the stop string that ended generation at
	// the end of the output text, as vLLM's include_stop_str_in_output.
	IncludeStopStrInOutput bool
	// IgnoreEOS keeps generating past the model's end-of-sequence tokens
	// (StopTokenIDs still apply). Useful for benchmarks.
	IgnoreEOS bool

	// Logprobs asks for the log-probability of each generated token and of
	// the Logprobs most likely alternatives at that step, taken from the
	// model's raw distribution (before penalties, temperature and filters),
	// as vLLM returns them. 0 returns none. At most MaxLogprobs.
	Logprobs int
}

// Greedy reports whether p selects the most likely token at every step.
func (p *Params) Greedy() bool { return p.Temperature == 0 }

// Validate reports the first field of p that is out of range, wrapping
// ErrInvalidParams. It does not know the vocabulary size; the engine checks
// StopTokenIDs against it.
func (p *Params) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidParams, fmt.Sprintf(format, args...))
	}
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	switch {
	case !finite(p.Temperature) || p.Temperature < 0:
		return bad("temperature %v must be a finite number >= 0", p.Temperature)
	case p.TopK < 0:
		return bad("top_k %d must be >= 0 (0 disables it)", p.TopK)
	case !finite(p.TopP) || p.TopP < 0 || p.TopP > 1:
		return bad("top_p %v must be in [0, 1] (0 or 1 disables it)", p.TopP)
	case !finite(p.MinP) || p.MinP < 0 || p.MinP > 1:
		return bad("min_p %v must be in [0, 1]", p.MinP)
	case !finite(p.RepetitionPenalty) || p.RepetitionPenalty < 0:
		return bad("repetition_penalty %v must be a finite number > 0 (0 or 1 disables it)", p.RepetitionPenalty)
	case !finite(p.PresencePenalty) || p.PresencePenalty < -2 || p.PresencePenalty > 2:
		return bad("presence_penalty %v must be in [-2, 2]", p.PresencePenalty)
	case !finite(p.FrequencyPenalty) || p.FrequencyPenalty < -2 || p.FrequencyPenalty > 2:
		return bad("frequency_penalty %v must be in [-2, 2]", p.FrequencyPenalty)
	case p.MaxTokens < 0:
		return bad("max_tokens %d must be >= 0 (0 means up to the model's maximum length)", p.MaxTokens)
	case p.MinTokens < 0:
		return bad("min_tokens %d must be >= 0", p.MinTokens)
	case p.MaxTokens > 0 && p.MinTokens > p.MaxTokens:
		return bad("min_tokens %d must be at most max_tokens %d", p.MinTokens, p.MaxTokens)
	case p.Logprobs < 0 || p.Logprobs > MaxLogprobs:
		return bad("logprobs %d must be in [0, %d]", p.Logprobs, MaxLogprobs)
	}
	for i, id := range p.StopTokenIDs {
		if id < 0 {
			return bad("stop_token_ids[%d] = %d must be >= 0", i, id)
		}
	}
	for i, s := range p.Stop {
		if s == "" {
			return bad("stop[%d] is empty", i)
		}
	}
	return nil
}

// GenerationConfig holds the sampling defaults a model ships in its
// generation_config.json. A zero field means the file does not set it.
// Package sampler takes these plain values rather than parsing the file, so
// that it depends on no model package.
type GenerationConfig struct {
	DoSample          bool
	Temperature       float32
	TopK              int
	TopP              float32
	MinP              float32
	RepetitionPenalty float32
}

// FromGenerationConfig returns the Params a model recommends, the way
// transformers' generate and vLLM's "generation_config=auto" read
// generation_config.json: with do_sample false decoding is greedy whatever
// the other fields say; otherwise temperature (1 if unset), top_k, top_p,
// min_p and repetition_penalty are taken as given. Qwen3 ships do_sample
// true, temperature 0.6, top_k 20 and top_p 0.95.
func FromGenerationConfig(g GenerationConfig) Params {
	if !g.DoSample {
		return Params{RepetitionPenalty: g.RepetitionPenalty}
	}
	p := Params{
		Temperature:       g.Temperature,
		TopK:              g.TopK,
		TopP:              g.TopP,
		MinP:              g.MinP,
		RepetitionPenalty: g.RepetitionPenalty,
	}
	if p.Temperature == 0 {
		p.Temperature = 1
	}
	return p
}

// Clone returns a copy of p that shares no slices or pointers with it, so
// that an engine can keep a request's Params while the caller reuses its own.
func (p Params) Clone() Params {
	if p.Seed != nil {
		s := *p.Seed
		p.Seed = &s
	}
	p.StopTokenIDs = append([]int32(nil), p.StopTokenIDs...)
	p.Stop = append([]string(nil), p.Stop...)
	return p
}
