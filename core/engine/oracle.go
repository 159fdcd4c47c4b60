package engine

import (
	"fmt"
	"math/rand/v2"
)

// Oracle proposes a known continuation corrupted at a chosen rate: the
// honest way to measure speculative decoding on random weights, where no
// real proposer's acceptance rate means anything. Truth returns the
// expected tokens of a request (prompt, then what the model will generate:
// a greedy run without speculation gives them); each proposed token is
// right with probability Acceptance and otherwise replaced by another
// token. Proposals stop where the request has left the truth.
type Oracle struct {
	Truth      func(id uint64) []int32
	Acceptance float64
	Vocab      int
	rng        *rand.Rand
}

// NewOracle returns an oracle proposer with a fixed seed, so that runs are
// comparable.
func NewOracle(truth func(id uint64) []int32, acceptance float64, vocab int) (*Oracle, error) {
	if !(acceptance >= 0 && acceptance <= 1) || vocab < 2 || truth == nil {
		return nil, fmt.Errorf("engine: oracle with acceptance %v over %d tokens: %w", acceptance, vocab, ErrInvalidConfig)
	}
	return &Oracle{Truth: truth, Acceptance: acceptance, Vocab: vocab, rng: rand.New(rand.NewPCG(1, 2))}, nil
}

// Propose implements Proposer.
func (o *Oracle) Propose(ps []Proposal) error {
	for i := range ps {
		p := &ps[i]
		p.Tokens, p.Probs = p.Tokens[:0], nil
		truth := o.Truth(p.ID)
		n := len(p.Context)
		if n > len(truth) || !equal(truth[:n], p.Context) {
			continue
		}
		for _, t := range truth[n:min(len(truth), n+p.Max)] {
			if o.rng.Float64() >= o.Acceptance {
				t = (t + 1 + o.rng.Int32N(int32(o.Vocab-1))) % int32(o.Vocab)
			}
			p.Tokens = append(p.Tokens, t)
		}
	}
	return nil
}

// Release implements Proposer.
func (o *Oracle) Release(uint64) {}
