package engine

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// Request is one generation request.
type Request struct {
	// Prompt is the prompt text, encoded with the engine's tokenizer. It is
	// ignored when PromptIDs is set.
	Prompt string
	// PromptIDs is the prompt as token ids, for callers that tokenized it
	// themselves (a chat template, a benchmark).
	PromptIDs []int32
	// Params are the sampling parameters. The engine keeps its own copy.
	Params sampler.Params
	// Priority orders requests under scheduler.Priority: higher first.
	Priority int
	// NoSpeculation opts the request out of speculative decoding, when the
	// engine has it on.
	NoSpeculation bool
	// OnOutput, when set, is called with every Output of this request, in
	// order, from the goroutine running the step, once the step has
	// released the engine's state: it may call AddRequest or Abort, but not
	// Step, Generate or Stream (the step is still in progress, and they
	// would wait for it forever). It should return quickly, since it delays
	// every other request's next step.
	OnOutput func(Output)
}

// Output is what one Step produced for one request.
type Output struct {
	// ID is the request's id, as AddRequest returned it.
	ID uint64
	// TokenIDs are the tokens generated in this step: none or one, or
	// several with speculative decoding. A stop token is included here,
	// though its text is not.
	TokenIDs []int32
	// Logprobs, when the request asked for them, hold one entry per token
	// of TokenIDs.
	Logprobs []sampler.Result
	// Text is the new text that is safe to show: complete UTF-8 characters
	// only, and never any part of a stop string. Concatenating the Text of
	// every Output of a request gives its final text.
	Text string
	// Finished is set on the request's last Output.
	Finished bool
	// FinishReason says why the request finished: Stop (a stop token),
	// Length (MaxTokens or the model's maximum length), StopString,
	// Aborted (Abort or a cancelled context) or Error.
	FinishReason sequence.FinishReason
	// Err explains FinishReason Aborted and Error.
	Err error
	// Metrics are the request's counters so far; final when Finished.
	Metrics Metrics
}

// Metrics are the timings and token counts of one request.
type Metrics struct {
	// Arrival is when AddRequest accepted the request.
	Arrival time.Time
	// FirstToken is when its first output token was sampled; zero before.
	FirstToken time.Time
	// LastToken is when its latest output token was sampled.
	LastToken time.Time
	// Finished is when it finished; zero before.
	Finished time.Time
	// PromptTokens is the prompt's length in tokens.
	PromptTokens int
	// CachedTokens is how many prompt tokens the prefix cache supplied, so
	// that their keys and values were not computed, when the request was
	// first scheduled.
	CachedTokens int
	// GeneratedTokens is the number of output tokens, a stop token included.
	GeneratedTokens int
	// Preemptions counts how often the request lost its KV cache to make
	// room for others and had to be recomputed.
	Preemptions int
	// SpecSteps counts the steps in which speculative decoding verified
	// proposals for the request, SpecProposed and SpecAccepted the tokens
	// it proposed and the ones the model accepted: SpecAccepted/SpecSteps
	// is the mean number of extra tokens a verification gave.
	SpecSteps, SpecProposed, SpecAccepted int
}

// TimeToFirstToken is the latency until the first output token (TTFT), or
// zero if none was generated.
func (m Metrics) TimeToFirstToken() time.Duration {
	if m.FirstToken.IsZero() {
		return 0
	}
	return m.FirstToken.Sub(m.Arrival)
}

// TimePerOutputToken is the mean time between output tokens after the first
// (TPOT, the decode speed one user sees), or zero with fewer than two tokens.
func (m Metrics) TimePerOutputToken() time.Duration {
	if m.GeneratedTokens < 2 {
		return 0
	}
	return m.LastToken.Sub(m.FirstToken) / time.Duration(m.GeneratedTokens-1)
}

// Result is a finished request, as Generate returns it.
type Result struct {
	// ID is the request's id, 0 if AddRequest rejected it.
	ID uint64
	// PromptTokenIDs is the prompt as the model saw it.
	PromptTokenIDs []int32
	// TokenIDs are the generated tokens, a stop token included.
	TokenIDs []int32
	// Logprobs hold one entry per generated token when the request asked
	// for them.
	Logprobs []sampler.Result
	// Text is the generated text: special tokens and the stop token left
	// out, cut before a stop string.
	Text string
	// FinishReason says why the request finished; Err explains Aborted and
	// Error, including a request AddRequest rejected.
	FinishReason sequence.FinishReason
	Err          error
	// Metrics are the request's final counters.
	Metrics Metrics
}

// collector accumulates the Outputs of one request into a Result.
type collector struct {
	res  Result
	text []byte
	done bool
}

func (c *collector) add(o Output) {
	c.res.ID = o.ID
	c.res.TokenIDs = append(c.res.TokenIDs, o.TokenIDs...)
	c.res.Logprobs = append(c.res.Logprobs, o.Logprobs...)
	c.text = append(c.text, o.Text...)
	c.res.Metrics = o.Metrics
	if o.Finished {
		c.res.Text = string(c.text)
		c.res.FinishReason = o.FinishReason
		c.res.Err = o.Err
		c.done = true
	}
}

// live is the engine's state for one request it is running.
type live struct {
	id      uint64
	ctx     context.Context
	seq     *sequence.Sequence
	params  sampler.Params
	rng     *rand.Rand
	stopIDs []int32
	decoder TextDecoder
	stop    *sampler.StopMatcher
	sink    func(Output)
	metrics Metrics
	// scheduled is set once the request has been in a batch, to record
	// the prefix-cache hit of its first admission only.
	scheduled bool
	// preempted is set while the sequence waits to be recomputed.
	preempted bool
	// err is why the engine, rather than the scheduler, failed it.
	err error
	// Speculative decoding: the backoff state, the proposer's buffer of
	// guesses and, for sampled guesses, their distributions.
	noSpec     bool
	spec       specState
	specTokens []int32
	specProbs  [][]float32
}

// suppress returns the tokens seq must not sample at the j-th token it
// emits this step (j = 0 for an ordinary decode): its stop tokens while it
// is short of MinTokens, else nil.
func (r *live) suppress(seq *sequence.Sequence, j int) []int32 {
	if seq.NumOutputTokens()+j < r.params.MinTokens && len(r.stopIDs) > 0 {
		return r.stopIDs
	}
	return nil
}

// sample picks what seq emits from its step's logits rows (rows holds them
// from the sequence's first, vocab wide): the proposals the rows accept,
// then one token of the model's own. Row j sees the proposals before it in
// the history its penalties count.
func (r *live) sample(s *sampler.Sampler, seq *sequence.Sequence, props []int32, probs [][]float32, rows []float32, vocab int, emit []sampler.Result) ([]sampler.Result, error) {
	out := seq.Output()
	if len(props) > 0 {
		out = append(slices.Clone(out), props...)
	}
	for j := 0; ; j++ {
		row := rows[j*vocab : (j+1)*vocab]
		h := sampler.History{Prompt: seq.Prompt(), Output: out[:seq.NumOutputTokens()+j], Suppress: r.suppress(seq, j)}
		if j == len(props) {
			res, err := s.Sample(row, &r.params, h, r.rng)
			return append(emit, res), err
		}
		var q []float32
		if probs != nil {
			q = probs[j]
		}
		res, ok, err := s.Verify(row, &r.params, h, props[j], q, r.rng)
		if err != nil {
			return emit, err
		}
		if emit = append(emit, res); !ok {
			return emit, nil
		}
	}
}

// emittable is how many of the tokens seq emits this step may be kept:
// up to and including a stop token, and no more than MaxTokens allows.
// (Stop strings are found as the text is decoded, in emitLocked.)
func (r *live) emittable(seq *sequence.Sequence, emit []sampler.Result) int {
	n := len(emit)
	if r.params.MaxTokens > 0 {
		n = min(n, max(1, r.params.MaxTokens-seq.NumOutputTokens()))
	}
	for j, res := range emit[:n] {
		if slices.Contains(r.stopIDs, res.Token) {
			return j + 1
		}
	}
	return n
}
