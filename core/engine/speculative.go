package engine

import (
	"fmt"
	"math/rand/v2"

	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
)

// Speculative configures speculative decoding: a cheap proposer guesses the
// next few tokens of every decoding request, and one model step verifies
// them all (a decode's last token plus K proposals are K+1 query tokens of
// the same paged attention), keeping the longest prefix the model agrees
// with plus one token of its own. Batch-1 decode is bound by reading the
// weights once per step, so every accepted proposal is a token almost for
// free. The output distribution is exactly the one without speculation
// (see sampler.Verify and docs/speculative.md).
type Speculative struct {
	// Proposer guesses tokens; nil turns speculative decoding off.
	Proposer Proposer
	// NumTokens is K, the most tokens proposed per request and step.
	NumTokens int
}

// MaxSpeculativeTokens bounds Speculative.NumTokens.
const MaxSpeculativeTokens = 32

func (s Speculative) validate() error {
	if s.Proposer == nil {
		return nil
	}
	if s.NumTokens < 1 || s.NumTokens > MaxSpeculativeTokens {
		return fmt.Errorf("engine: Config.Speculative.NumTokens = %d, want 1 to %d: %w", s.NumTokens, MaxSpeculativeTokens, ErrInvalidConfig)
	}
	return nil
}

// Proposer guesses the tokens that follow requests, for speculative
// decoding. The engine calls Propose once per step, from the goroutine
// running the step and without its lock, with every decoding request that
// may speculate; a proposer need not be safe for concurrent use.
type Proposer interface {
	// Propose fills each proposal's Tokens with at most Max guesses (fewer,
	// or none, when it has no good guess). A proposer that samples its
	// guesses from a distribution (a draft model serving a request with
	// temperature > 0) also fills Probs, one distribution over the
	// vocabulary per guess, and must then use the request's RNG.
	Propose(ps []Proposal) error
	// Release forgets a finished request's state.
	Release(id uint64)
}

// Proposal is one request's part of a Propose call.
type Proposal struct {
	// ID is the request's id.
	ID uint64
	// Context is the request's tokens so far, prompt then output. It is
	// read-only and valid during the call only.
	Context []int32
	// Max is the most guesses wanted.
	Max int
	// Params are the request's sampling parameters; RNG its random source
	// (nil for a greedy request).
	Params *sampler.Params
	RNG    *rand.Rand

	// Tokens are the guesses, appended by the proposer.
	Tokens []int32
	// Probs, when not nil, holds the proposer's distribution for each
	// guess (Verify's q); nil means the guesses are deterministic.
	Probs [][]float32
}

// specState is one request's speculative decoding state: how many tokens
// to propose, and the backoff that stops proposing when proposals keep
// failing (each failed verification costs a step a little longer than a
// plain decode).
type specState struct {
	// ewma is a moving average of the proposals accepted per step.
	ewma float64
	// pause is how many more steps to decode without proposals, and
	// backoff how often in a row proposing was paused.
	pause, backoff int
	// Per-request totals for Metrics.
	steps, proposed, accepted int
}

// specResume is the acceptance average a request starts (and resumes after
// a pause) with, and specMinAccepted the average below which proposing
// pauses: a verification step that accepts nothing costs about a third of
// a decode step more at batch 1, so proposals that keep failing would make
// decoding slower than without them.
const (
	specResume      = 1.0
	specMinAccepted = 0.3
)

// update records a verification that accepted accepted of proposed tokens.
func (s *specState) update(proposed, accepted int) {
	s.steps++
	s.proposed += proposed
	s.accepted += accepted
	s.ewma = 0.5*s.ewma + 0.5*float64(accepted)
	switch {
	case s.ewma < specMinAccepted:
		s.pause = 1 << min(s.backoff, 6)
		s.backoff++
		s.ewma = specResume / 2
	case accepted > 0:
		s.backoff = 0
	}
}
