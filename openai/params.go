package openai

import (
	"encoding/json"
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
)

// sampling is what a request asks of every sequence it starts, once its
// fields are checked.
type sampling struct {
	params sampler.Params
	// maxTokens is the request's max_tokens, 0 if it gave none.
	maxTokens int
	// n is the number of choices per prompt.
	n      int
	stream bool
	usage  bool // stream_options.include_usage
}

// parseSampling checks the fields chat and completions share and turns
// them into sampler.Params over defaults (the model's generation config),
// with OpenAI's and vLLM's ranges; each error names its field. logprobs is
// the number of alternatives to report per token, or -1 for none.
func (s *Server) parseSampling(r *samplingRequest, maxTokens *int, maxTokensParam string, logprobs int) (sampling, error) {
	p := s.opts.Defaults.Clone()
	p.Stop, p.StopTokenIDs = nil, nil
	p.MaxTokens, p.MinTokens, p.Logprobs = 0, 0, 0
	p.IgnoreEOS, p.IncludeStopStrInOutput = false, false
	out := sampling{n: 1, stream: r.Stream}

	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if v := r.Temperature; v != nil {
		if !finite(*v) || *v < 0 {
			return out, badParam("temperature", "temperature %v must be a number >= 0 (0 is greedy decoding)", *v)
		}
		p.Temperature = float32(*v)
	}
	if v := r.TopP; v != nil {
		if !finite(*v) || *v <= 0 || *v > 1 {
			return out, badParam("top_p", "top_p %v must be in (0, 1]", *v)
		}
		p.TopP = float32(*v)
	}
	if v := r.TopK; v != nil {
		switch {
		case *v == -1:
			p.TopK = 0 // vLLM's spelling of "off"
		case *v < 0:
			return out, badParam("top_k", "top_k %d must be -1 or 0 (off) or positive", *v)
		default:
			p.TopK = *v
		}
	}
	if v := r.MinP; v != nil {
		if !finite(*v) || *v < 0 || *v > 1 {
			return out, badParam("min_p", "min_p %v must be in [0, 1]", *v)
		}
		p.MinP = float32(*v)
	}
	for _, f := range []struct {
		name string
		v    *float64
		dst  *float32
	}{{"presence_penalty", r.Presence, &p.PresencePenalty}, {"frequency_penalty", r.Frequency, &p.FrequencyPenalty}} {
		if f.v == nil {
			continue
		}
		if !finite(*f.v) || *f.v < -2 || *f.v > 2 {
			return out, badParam(f.name, "%s %v must be in [-2, 2]", f.name, *f.v)
		}
		*f.dst = float32(*f.v)
	}
	if v := r.Repetition; v != nil {
		if !finite(*v) || *v <= 0 {
			return out, badParam("repetition_penalty", "repetition_penalty %v must be a number > 0 (1 is off)", *v)
		}
		p.RepetitionPenalty = float32(*v)
	}
	if v := r.Seed; v != nil {
		seed := uint64(*v)
		p.Seed = &seed
	}
	if maxTokens != nil {
		if *maxTokens < 1 {
			return out, badParam(maxTokensParam, "%s %d must be at least 1", maxTokensParam, *maxTokens)
		}
		out.maxTokens = *maxTokens
	}
	if v := r.MinTokens; v != nil {
		if *v < 0 {
			return out, badParam("min_tokens", "min_tokens %d must be >= 0", *v)
		}
		if out.maxTokens > 0 && *v > out.maxTokens {
			return out, badParam("min_tokens", "min_tokens %d must be at most %s %d", *v, maxTokensParam, out.maxTokens)
		}
		p.MinTokens = *v
	}
	stop, err := parseStop(r.Stop)
	if err != nil {
		return out, err
	}
	p.Stop = stop
	if len(stop) > 0 && s.tok == nil {
		return out, badParam("stop", "stop strings need a tokenizer, and this model has none (use stop_token_ids)")
	}
	// The engine checks the ids against the vocabulary.
	p.StopTokenIDs = r.StopTokenIDs
	p.IncludeStopStrInOutput = r.IncludeStop
	p.IgnoreEOS = r.IgnoreEOS
	if logprobs >= 0 {
		// The engine reports the sampled token's logprob only alongside at
		// least one alternative; the response trims the list to logprobs.
		p.Logprobs = max(logprobs, 1)
	}

	if v := r.N; v != nil {
		if *v < 1 || *v > s.opts.MaxSequences {
			return out, badParam("n", "n %d must be in [1, %d]", *v, s.opts.MaxSequences)
		}
		out.n = *v
	}
	if v := r.BestOf; v != nil && *v != out.n {
		return out, unsupported("best_of", "best_of other than n")
	}
	if len(r.LogitBias) > 0 {
		return out, unsupported("logit_bias", "logit_bias")
	}
	if r.StreamOptions != nil {
		if !r.Stream {
			return out, badParam("stream_options", "stream_options is only allowed when stream is true")
		}
		out.usage = r.StreamOptions.IncludeUsage
	}
	if err := p.Validate(); err != nil {
		return out, badParam(samplerParam(err), "%s", err.Error())
	}
	out.params = p
	return out, nil
}

// parseStop reads stop: null, a string, or a list of strings.
func parseStop(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, badParam("stop", "stop must not be empty")
		}
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, badParam("stop", "stop must be a string or a list of strings")
	}
	for i, s := range list {
		if s == "" {
			return nil, badParam("stop", "stop[%d] is empty", i)
		}
	}
	return list, nil
}

// fitContext checks that a prompt of n tokens leaves room for the
// completion in the context and returns the completion's length limit: the
// request's max_tokens, or all the room left when it gave none.
func (s *Server) fitContext(n, maxTokens int, promptParam, maxTokensParam string) (int, error) {
	limit := s.maxModelLen
	if n >= limit {
		return 0, badParam(promptParam, "this model's maximum context length is %d tokens, and the prompt has %d: "+
			"no room is left for the completion; shorten the %s", limit, n, promptParam)
	}
	if maxTokens == 0 {
		return limit - n, nil
	}
	if n+maxTokens > limit {
		return 0, badParam(maxTokensParam, "this model's maximum context length is %d tokens; you requested %d "+
			"(%d in the %s, %d in the completion): reduce the length of the %s or the completion",
			limit, n+maxTokens, n, promptParam, maxTokens, promptParam)
	}
	return maxTokens, nil
}
