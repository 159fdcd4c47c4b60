package sampler

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Verify decides whether a proposed token x stands at this row of logits,
// as speculative sampling does (Leviathan et al., "Fast Inference from
// Transformers via Speculative Decoding", arXiv 2211.17192, and vLLM's
// rejection sampler), and returns the token the row emits:
//
//   - greedy (temperature 0): x if it is the arg max of the row, else the
//     arg max;
//   - sampled: x with probability min(1, p(x)/q(x)), where p is the
//     request's distribution after every sampling parameter (penalties,
//     temperature, min-p, top-k, top-p) and q the proposer's; otherwise a
//     token drawn from max(p − q, 0), renormalised.
//
// Either way the emitted token is distributed exactly as Sample's would be:
// proposals change the speed, never the output distribution. q holds the
// proposer's probabilities over the vocabulary, or is nil for a
// deterministic proposer (prompt lookup), whose q is all on x. accepted
// reports whether the token emitted is x. A sampled row draws one or two
// Float64s from rng; a greedy row none.
func (s *Sampler) Verify(logits []float32, p *Params, h History, x int32, q []float32, rng *rand.Rand) (res Result, accepted bool, err error) {
	if x < 0 || int(x) >= s.vocab {
		return Result{}, false, fmt.Errorf("sampler: proposed token %d outside vocabulary of %d", x, s.vocab)
	}
	if q != nil && len(q) != s.vocab {
		return Result{}, false, fmt.Errorf("sampler: proposal distribution of %d entries for a vocabulary of %d", len(q), s.vocab)
	}
	w, err := s.prepare(logits, p, h)
	if err != nil {
		return Result{}, false, err
	}
	if p.Greedy() {
		res.Token, err = argmax(w)
	} else {
		if rng == nil {
			return Result{}, false, errors.New("sampler: temperature > 0 needs a random source")
		}
		res.Token, err = s.verifyDraw(w, p, x, q, rng)
	}
	if err != nil {
		return Result{}, false, err
	}
	if p.Logprobs > 0 {
		s.logprobs(logits, p.Logprobs, &res)
	}
	return res, res.Token == x, nil
}

// verifyDraw is Verify's sampled case over prepared logits w.
func (s *Sampler) verifyDraw(w []float32, p *Params, x int32, q []float32, rng *rand.Rand) (int32, error) {
	cand, weight, total, err := s.filter(w, p)
	if err != nil {
		return 0, err
	}
	px := 0.0
	for i, t := range cand {
		if t == x {
			px = weight[i] / total
			break
		}
	}
	qx := 1.0
	if q != nil {
		qx = float64(q[x])
	}
	if px > 0 && (qx <= px || rng.Float64()*qx < px) {
		return x, nil
	}
	// Rejected: draw from the residual max(p − q, 0). With q all on x,
	// that is p without x.
	residual := func(i int) float64 {
		t := cand[i]
		pt := weight[i] / total
		switch {
		case q != nil:
			return max(pt-float64(q[t]), 0)
		case t == x:
			return 0
		}
		return pt
	}
	rest := 0.0
	for i := range cand {
		rest += residual(i)
	}
	if !(rest > 0) {
		// p and q agree to rounding: any token of p will do, and p's own
		// draw keeps the distribution right.
		u := rng.Float64() * total
		for i, wt := range weight {
			if u -= wt; u < 0 {
				return cand[i], nil
			}
		}
		return cand[len(cand)-1], nil
	}
	u := rng.Float64() * rest
	last := int32(-1)
	for i := range cand {
		r := residual(i)
		if r <= 0 {
			continue
		}
		last = cand[i]
		if u -= r; u < 0 {
			return cand[i], nil
		}
	}
	return last, nil // rounding left u a hair above zero
}

// Probs writes into dst (len VocabSize) the distribution Sample draws from
// for this row: the probability of every token after every sampling
// parameter, zero for the tokens the filters drop. A draft model proposer
// draws its proposals from it and hands it to Verify as q. p must not be
// greedy.
func (s *Sampler) Probs(dst []float32, logits []float32, p *Params, h History) error {
	if len(dst) != s.vocab {
		return fmt.Errorf("sampler: %d probabilities for a vocabulary of %d", len(dst), s.vocab)
	}
	if p.Greedy() {
		return errors.New("sampler: a greedy row has no distribution to draw from")
	}
	w, err := s.prepare(logits, p, h)
	if err != nil {
		return err
	}
	cand, weight, total, err := s.filter(w, p)
	if err != nil {
		return err
	}
	clear(dst)
	for i, t := range cand {
		dst[t] = float32(weight[i] / total)
	}
	return nil
}

// DrawFrom draws a token from probabilities probs (as Probs writes them)
// with one Float64 from rng.
func DrawFrom(probs []float32, rng *rand.Rand) int32 {
	total := 0.0
	for _, v := range probs {
		total += float64(v)
	}
	u := rng.Float64() * total
	last := int32(0)
	for i, v := range probs {
		if v <= 0 {
			continue
		}
		last = int32(i)
		if u -= float64(v); u < 0 {
			return int32(i)
		}
	}
	return last
}
