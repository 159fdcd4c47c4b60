package engine

import "fmt"

// NGram is prompt lookup decoding, as vLLM's n-gram proposer does it: find
// the most recent earlier occurrence of the sequence's last n tokens, for n
// from Max down to Min, and propose the tokens that followed it. It costs
// no model and shines when the output repeats its input (code edits,
// summaries quoting the text, retrieval-augmented answers).
type NGram struct {
	// Min and Max bound the length of the suffix looked up
	// (prompt_lookup_min and prompt_lookup_max).
	Min, Max int
}

// NewNGram returns an n-gram proposer looking up suffixes of min to max
// tokens.
func NewNGram(min, max int) (*NGram, error) {
	if min < 1 || max < min || max > 64 {
		return nil, fmt.Errorf("engine: n-gram lookup of %d to %d tokens, want 1 <= min <= max <= 64: %w", min, max, ErrInvalidConfig)
	}
	return &NGram{Min: min, Max: max}, nil
}

// Propose implements Proposer.
func (g *NGram) Propose(ps []Proposal) error {
	for i := range ps {
		p := &ps[i]
		p.Tokens = append(p.Tokens[:0], g.lookup(p.Context, p.Max)...)
		p.Probs = nil
	}
	return nil
}

// Release implements Proposer: prompt lookup keeps no state.
func (g *NGram) Release(uint64) {}

// lookup returns up to k tokens that followed the latest earlier
// occurrence of the longest suffix of ctx (Max down to Min tokens) found
// earlier in ctx. The slice aliases ctx.
func (g *NGram) lookup(ctx []int32, k int) []int32 {
	n := len(ctx)
	for size := min(g.Max, n-1); size >= g.Min; size-- {
		suffix := ctx[n-size:]
		// The latest match first: recent context predicts best.
		for start := n - size - 1; start >= 0; start-- {
			if equal(ctx[start:start+size], suffix) {
				follow := ctx[start+size : min(n, start+size+k)]
				if len(follow) > 0 {
					return follow
				}
			}
		}
	}
	return nil
}

func equal(a, b []int32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
