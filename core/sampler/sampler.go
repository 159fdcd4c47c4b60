// Package sampler chooses the next token from a model's logits: greedy
// decoding, temperature, top-k, top-p and min-p filtering, the repetition,
// presence and frequency penalties, and per-request seeded randomness, with
// the same semantics as vLLM. It also detects stop strings in streamed text
// (see StopMatcher).
//
// The order of operations follows vLLM's sampler:
//
//  1. penalties (repetition over prompt and output, presence and frequency
//     over the output), applied to a copy of the logits;
//  2. greedy decoding stops here and takes the arg max;
//  3. temperature, then min-p, then top-k, then top-p over what top-k kept,
//     each renormalising what is left;
//  4. one uniform draw from the request's own random source picks a token
//     by inverse CDF over the surviving candidates.
//
// Log-probabilities, when asked for, are those of the raw model output
// (before step 1), as vLLM returns them by default.
package sampler

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// ErrBadLogits is returned when a row of logits has the wrong length or holds
// NaN or +Inf, which means the model, not the request, went wrong.
var ErrBadLogits = errors.New("bad logits")

// TokenLogprob is a token with its log-probability under the model's raw
// distribution. Its JSON form is {"token_id": 1, "logprob": -0.1}.
type TokenLogprob struct {
	Token   int32   `json:"token_id"`
	Logprob float32 `json:"logprob"`
}

// Result is one sampled token. Its JSON form is the logprobs entry of
// "nanovllm generate --json --logprobs N":
// {"token_id": 1, "logprob": -0.1, "top": [{"token_id": 1, "logprob": -0.1}, ...]}.
type Result struct {
	// Token is the chosen token id.
	Token int32 `json:"token_id"`
	// Logprob is the chosen token's log-probability; set only when
	// Params.Logprobs > 0.
	Logprob float32 `json:"logprob"`
	// Top are the Params.Logprobs most likely tokens with their
	// log-probabilities, most likely first (lowest id on a tie).
	Top []TokenLogprob `json:"top"`
}

// History is the context penalties look at: a request's prompt and the
// tokens it has generated so far. Both slices are only read.
type History struct {
	Prompt []int32
	Output []int32
	// Suppress lists tokens that must not be chosen at this step (the
	// engine's stop tokens while a request is short of Params.MinTokens).
	// They are excluded after the raw log-probabilities are taken, so
	// Logprobs still reports what the model predicted.
	Suppress []int32
}

// NewRNG returns the random source for one request with the given seed.
// Every request owns its source, so its draws do not depend on which other
// requests share a batch, and the same seed replays the same draws on every
// platform (PCG is specified bit for bit).
func NewRNG(seed uint64) *rand.Rand {
	// The second PCG word only needs to differ from the first; a fixed odd
	// constant keeps seed 0 from being a degenerate state.
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// Sampler turns rows of logits into tokens. It keeps scratch buffers sized
// to the vocabulary so that sampling a token allocates nothing (except the
// Top slice of a Result when logprobs are asked for). A Sampler is not safe
// for concurrent use; an engine drives it from its one step loop.
type Sampler struct {
	vocab int

	work   []float32 // penalised logits
	cand   []int32   // candidate token ids
	weight []float64 // unnormalised probabilities of cand
	heap   []int32   // top-k selection
	binOf  []uint16  // top-p bucket of each candidate
	counts []int32   // occurrences of each token in the output
	stamp  []uint32  // stamp[t] == gen marks token t as seen
	gen    uint32
}

// New returns a Sampler for a vocabulary of vocabSize tokens.
func New(vocabSize int) *Sampler {
	if vocabSize <= 0 {
		vocabSize = 1
	}
	return &Sampler{
		vocab:  vocabSize,
		work:   make([]float32, vocabSize),
		cand:   make([]int32, vocabSize),
		weight: make([]float64, vocabSize),
		counts: make([]int32, vocabSize),
		stamp:  make([]uint32, vocabSize),
		binOf:  make([]uint16, vocabSize),
	}
}

// VocabSize is the number of logits Sample expects.
func (s *Sampler) VocabSize() int { return s.vocab }

// Sample chooses the next token from one row of logits. p must be valid (see
// Params.Validate). rng supplies the randomness and may be nil only for
// greedy decoding; a sampled token consumes exactly one Float64 from it.
// logits is not modified.
func (s *Sampler) Sample(logits []float32, p *Params, h History, rng *rand.Rand) (Result, error) {
	if len(logits) != s.vocab {
		return Result{}, fmt.Errorf("%w: got %d logits, vocabulary has %d", ErrBadLogits, len(logits), s.vocab)
	}
	var res Result
	raw := logits
	if p.Logprobs > 0 {
		if err := checkFinite(raw); err != nil {
			return Result{}, err
		}
	}
	w, err := s.prepare(logits, p, h)
	if err != nil {
		return Result{}, err
	}
	if p.Greedy() {
		res.Token, err = argmax(w)
	} else {
		if rng == nil {
			return Result{}, errors.New("sampler: temperature > 0 needs a random source")
		}
		res.Token, err = s.draw(w, p, rng)
	}
	if err != nil {
		return Result{}, err
	}
	if p.Logprobs > 0 {
		s.logprobs(raw, p.Logprobs, &res)
	}
	return res, nil
}

// prepare applies the penalties and the suppressed tokens of h to logits:
// logits itself when there are none, else a scratch copy.
func (s *Sampler) prepare(logits []float32, p *Params, h History) ([]float32, error) {
	if len(logits) != s.vocab {
		return nil, fmt.Errorf("%w: got %d logits, vocabulary has %d", ErrBadLogits, len(logits), s.vocab)
	}
	w, err := s.penalize(logits, p, h)
	if err != nil {
		return nil, err
	}
	if len(h.Suppress) > 0 {
		if &w[0] == &logits[0] {
			w = s.work
			copy(w, logits)
		}
		for _, t := range h.Suppress {
			if t < 0 || int(t) >= s.vocab {
				return nil, fmt.Errorf("sampler: suppressed token %d outside vocabulary of %d", t, s.vocab)
			}
			w[t] = float32(math.Inf(-1))
		}
	}
	return w, nil
}

// checkFinite rejects rows the model should never produce. -Inf is allowed:
// it is how a logit is masked.
func checkFinite(logits []float32) error {
	for i, v := range logits {
		if v != v || v > math.MaxFloat32 {
			return fmt.Errorf("%w: logit of token %d is %v", ErrBadLogits, i, v)
		}
	}
	return nil
}

// penalize returns the logits with the penalties of p applied: logits itself
// when p has none, else a scratch copy.
func (s *Sampler) penalize(logits []float32, p *Params, h History) ([]float32, error) {
	rep := p.RepetitionPenalty
	hasRep := rep != 0 && rep != 1
	hasPF := p.PresencePenalty != 0 || p.FrequencyPenalty != 0
	if !hasRep && !hasPF {
		return logits, nil
	}
	w := s.work
	copy(w, logits)
	for _, ids := range [2][]int32{h.Prompt, h.Output} {
		for _, t := range ids {
			if t < 0 || int(t) >= s.vocab {
				return nil, fmt.Errorf("sampler: history token %d outside vocabulary of %d", t, s.vocab)
			}
		}
	}
	if hasRep {
		s.gen++
		if s.gen == 0 { // wrapped: old stamps could collide
			clear(s.stamp)
			s.gen = 1
		}
		for _, ids := range [2][]int32{h.Prompt, h.Output} {
			for _, t := range ids {
				if s.stamp[t] == s.gen {
					continue
				}
				s.stamp[t] = s.gen
				if w[t] > 0 {
					w[t] /= rep
				} else {
					w[t] *= rep
				}
			}
		}
	}
	if hasPF {
		for _, t := range h.Output {
			s.counts[t]++
		}
		for _, t := range h.Output {
			c := s.counts[t]
			if c == 0 { // already applied for an earlier occurrence
				continue
			}
			w[t] -= p.FrequencyPenalty*float32(c) + p.PresencePenalty
			s.counts[t] = 0
		}
	}
	return w, nil
}

// argmax returns the index of the largest logit, the lowest on a tie.
func argmax(w []float32) (int32, error) {
	best := int32(-1)
	bv := float32(math.Inf(-1))
	for i, v := range w {
		if v <= bv {
			continue // most logits; NaN and +Inf never take this branch
		}
		if v != v || v > math.MaxFloat32 {
			return 0, fmt.Errorf("%w: logit of token %d is %v", ErrBadLogits, i, v)
		}
		best, bv = int32(i), v
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: every logit is -Inf", ErrBadLogits)
	}
	return best, nil
}

// draw samples a token from w under temperature, min-p, top-k and top-p.
func (s *Sampler) draw(w []float32, p *Params, rng *rand.Rand) (int32, error) {
	cand, weight, total, err := s.filter(w, p)
	if err != nil {
		return 0, err
	}
	u := rng.Float64() * total
	for i, wt := range weight {
		u -= wt
		if u < 0 {
			return cand[i], nil
		}
	}
	// Rounding can leave u a hair above zero after the last candidate.
	return cand[len(cand)-1], nil
}

// filter returns the candidates that survive p's filters with their
// unnormalised probabilities exp((w - max) / T) and the sum of those. When
// top-k or top-p is on, the candidates come sorted by decreasing probability
// (lowest id first on a tie); otherwise in increasing id order.
func (s *Sampler) filter(w []float32, p *Params) ([]int32, []float64, float64, error) {
	temp := float64(p.Temperature)
	topK := p.TopK > 0 && p.TopK < s.vocab
	topP := p.TopP > 0 && p.TopP < 1

	var (
		maxv  float32
		floor = -math.MaxFloat64 // excludes -Inf: masked tokens are never candidates
		cand  []int32
		err   error
	)
	if topK && p.MinP == 0 {
		// The common case (Qwen3's defaults) needs one pass only: the
		// heap's best is the maximum.
		if cand, err = s.topK(w, p.TopK, floor); err != nil {
			return nil, nil, 0, err
		}
		if len(cand) == 0 {
			return nil, nil, 0, fmt.Errorf("%w: every logit is -Inf", ErrBadLogits)
		}
		maxv = w[cand[0]]
	} else {
		maxv = float32(math.Inf(-1))
		for i, v := range w {
			if v != v || v > math.MaxFloat32 {
				return nil, nil, 0, fmt.Errorf("%w: logit of token %d is %v", ErrBadLogits, i, v)
			}
			if v > maxv {
				maxv = v
			}
		}
		if math.IsInf(float64(maxv), -1) {
			return nil, nil, 0, fmt.Errorf("%w: every logit is -Inf", ErrBadLogits)
		}
		// min-p keeps p_i >= minP * p_max, that is (w_i - max)/T >=
		// ln(minP): a threshold on logits, so it needs no softmax over the
		// vocabulary.
		if p.MinP > 0 {
			floor = float64(maxv) + temp*math.Log(float64(p.MinP))
		}
		if topK {
			cand, _ = s.topK(w, p.TopK, floor) // the row is known finite
		} else {
			cand = s.cand[:0]
			for i, v := range w {
				if float64(v) >= floor {
					cand = append(cand, int32(i))
				}
			}
		}
	}
	weightOf := func(t int32) float64 { return math.Exp((float64(w[t]) - float64(maxv)) / temp) }

	weight := s.weight[:len(cand)]
	total := 0.0
	for i, t := range cand {
		weight[i] = weightOf(t)
		total += weight[i]
	}
	if !topP {
		return cand, weight, total, nil
	}
	need := float64(p.TopP) * total
	if topK {
		n := keepMass(weight, need)
		return cand[:n], weight[:n], sum(weight[:n]), nil
	}
	// Without top-k the candidates are unsorted, and sorting all of them
	// would cost O(V log V) per token. Instead, bucket them by how far below
	// the best their log-probability is (a quarter nat per bin) and add up
	// each bin's mass. Every token in a bin before the one where the running
	// mass reaches need is kept, every token after it dropped; only the
	// tokens up to that bin need sorting.
	var bins [topPBins]float64
	binOf := s.binOf[:len(cand)]
	scale := topPBinsPerNat / temp
	for i, t := range cand {
		b := topPBins - 1
		if d := (float64(maxv) - float64(w[t])) * scale; d < topPBins-1 {
			b = int(d)
		}
		binOf[i] = uint16(b)
		bins[b] += weight[i]
	}
	last, mass := topPBins-1, 0.0
	for b, m := range bins {
		mass += m
		if mass >= need {
			last = b
			break
		}
	}
	kept := cand[:0] // filtering in place: kept never overtakes the reader
	for i, t := range cand {
		if int(binOf[i]) <= last {
			kept = append(kept, t)
		}
	}
	slices.SortFunc(kept, func(a, b int32) int {
		if better(w, a, b) {
			return -1
		}
		if better(w, b, a) {
			return 1
		}
		return 0
	})
	weight = s.weight[:len(kept)]
	for i, t := range kept {
		weight[i] = weightOf(t)
	}
	n := keepMass(weight, need)
	return kept[:n], weight[:n], sum(weight[:n]), nil
}

// Top-p's buckets: a quarter nat wide, the last one collecting everything
// more than 64 nats (a factor of 6e27) below the most likely token.
const (
	topPBinsPerNat = 4
	topPBins       = 64*topPBinsPerNat + 1
)

// keepMass returns how many of the sorted weights top-p keeps: a token is
// kept while the mass of the tokens before it is below need, so at least
// one always is. This is vLLM's rule (drop the tokens whose ascending
// cumulative probability is <= 1 - p).
func keepMass(weight []float64, need float64) int {
	mass := 0.0
	for i, wt := range weight {
		if mass >= need {
			return i
		}
		mass += wt
	}
	return len(weight)
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

// better orders tokens by logit, the lower id first on a tie, so that every
// selection below is deterministic.
func better(w []float32, a, b int32) bool {
	return w[a] > w[b] || (w[a] == w[b] && a < b)
}

// topK returns the (up to) k best tokens of w whose logit is at least floor,
// sorted best first, in s.cand. It keeps a size-k heap instead of sorting
// the vocabulary: O(V log k), and close to O(V) in practice because most
// logits lose to the heap's root at the first comparison.
//
// NaN and +Inf logits are reported as ErrBadLogits. Checking them costs
// nothing: they fail the fast rejection below, so they always reach the
// slow path.
func (s *Sampler) topK(w []float32, k int, floor float64) ([]int32, error) {
	h := s.heap[:0]
	if cap(h) < k {
		h = make([]int32, 0, k)
	}
	// root is the logit of the heap's worst token once the heap is full:
	// the one comparison most tokens get.
	root := float32(math.Inf(-1))
	for i, v := range w {
		if v < root || float64(v) < floor {
			continue
		}
		if v != v || v > math.MaxFloat32 {
			s.heap = h
			return nil, fmt.Errorf("%w: logit of token %d is %v", ErrBadLogits, i, v)
		}
		t := int32(i)
		if len(h) < k {
			h = append(h, t)
			siftUp(w, h, len(h)-1)
			if len(h) == k {
				root = w[h[0]]
			}
			continue
		}
		if better(w, t, h[0]) {
			h[0] = t
			siftDown(w, h, 0)
			root = w[h[0]]
		}
	}
	s.heap = h
	// Pop worst first into the back of cand, leaving it sorted best first.
	cand := s.cand[:len(h)]
	for n := len(h); n > 0; n-- {
		cand[n-1] = h[0]
		h[0] = h[n-1]
		h = h[:n-1]
		siftDown(w, h, 0)
	}
	return cand, nil
}

// The heap keeps its worst token at the root.
func siftUp(w []float32, h []int32, i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !better(w, h[parent], h[i]) {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func siftDown(w []float32, h []int32, i int) {
	for {
		worst := i
		l, r := 2*i+1, 2*i+2
		if l < len(h) && better(w, h[worst], h[l]) {
			worst = l
		}
		if r < len(h) && better(w, h[worst], h[r]) {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}

// logprobs fills res with log-probabilities under the raw distribution of
// logits: log_softmax(logits)[t] = logits[t] - logsumexp(logits).
func (s *Sampler) logprobs(logits []float32, n int, res *Result) {
	maxv := float32(math.Inf(-1))
	for _, v := range logits {
		maxv = max(maxv, v)
	}
	z := 0.0
	for _, v := range logits {
		z += math.Exp(float64(v - maxv))
	}
	lse := float64(maxv) + math.Log(z)
	lp := func(t int32) float32 { return float32(float64(logits[t]) - lse) }
	res.Logprob = lp(res.Token)
	top, _ := s.topK(logits, min(n, s.vocab), -math.MaxFloat64) // checked finite by Sample
	res.Top = make([]TokenLogprob, len(top))
	for i, t := range top {
		res.Top[i] = TokenLogprob{Token: t, Logprob: lp(t)}
	}
}
