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

// specState is one request's speculative decoding state: an estimate of
// how often its proposals are right, from which it picks how many tokens to
// propose, and the backoff that stops proposing when proposals keep
// failing.
//
// The estimate is the acceptance rate per tested proposal: a verification
// that accepts a of k proposals tested a+1 of them when it rejected one, a
// when it accepted all. Counts decay by specDecay per verification, so the
// estimate follows the text, and a uniform prior keeps it away from 0 and 1
// early on.
type specState struct {
	accepted, tested float64 // decayed counts
	pause, backoff   int     // steps left without proposals; pauses in a row
	probe            bool    // after a pause, try one proposal
	// Totals for Metrics.
	steps, proposedTotal, acceptedTotal int
}

// The cost model behind specState.next: a step that verifies k proposals
// costs 1 + specCostFixed + specCostPerToken·k plain decode steps.
// Measured on the CPU at batch 1 with Qwen3-0.6B (nanovllm bench spec at
// acceptance 0 with every K forced): 1.19 decode steps for k = 1, 1.30 for
// 2, 1.35 for 4, 1.67 for 8. Reading the weights dominates a decode step,
// so extra rows are cheap, but any second row costs something (the batch-1
// matmul kernels are the fastest).
const (
	specCostFixed    = 0.12
	specCostPerToken = 0.07
	specDecay        = 0.97
)

// rate is the estimated probability that a proposal is right.
func (s *specState) rate() float64 { return (s.accepted + 1) / (s.tested + 2) }

// next returns how many tokens to propose this step, at most kmax: the k
// that maximises the expected tokens per unit of step cost,
// (1 + α + α² + ... + α^k) / (1 + specCostFixed + specCostPerToken·k), or 0
// when no k beats plain decoding. Then it pauses for 1, 2, 4, ... up to 64 steps, and
// probes with one proposal after each pause, so that a request whose text
// becomes predictable again gets proposals again.
func (s *specState) next(kmax int) int {
	if s.pause > 0 {
		s.pause--
		return 0
	}
	alpha := s.rate()
	best, bestK := 1.0, 0
	gain, pk := 1.0, 1.0
	for k := 1; k <= kmax; k++ {
		pk *= alpha
		gain += pk
		if v := gain / (1 + specCostFixed + specCostPerToken*float64(k)); v > best {
			best, bestK = v, k
		}
	}
	switch {
	case bestK > 0:
		s.backoff, s.probe = 0, false
		return bestK
	case s.probe:
		s.probe = false
		return min(1, kmax)
	}
	s.pause = 1<<min(s.backoff, 6) - 1 // this step is the first of the pause
	s.backoff++
	s.probe = true
	return 0
}

// update records a verification that accepted accepted of proposed tokens.
func (s *specState) update(proposed, accepted int) {
	s.steps++
	s.proposedTotal += proposed
	s.acceptedTotal += accepted
	tested := accepted
	if accepted < proposed {
		tested++
	}
	s.accepted = specDecay*s.accepted + float64(accepted)
	s.tested = specDecay*s.tested + float64(tested)
}
