package sampler

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// dist runs the sampler's filters and returns the normalised distribution as
// a map from token to probability.
func dist(t *testing.T, logits []float32, p Params, h History) map[int32]float64 {
	t.Helper()
	s := New(len(logits))
	w, err := s.penalize(logits, &p, h)
	require.NoError(t, err)
	cand, weight, total, err := s.filter(w, &p)
	require.NoError(t, err)
	out := map[int32]float64{}
	for i, c := range cand {
		out[c] = weight[i] / total
	}
	return out
}

// TestFiltersExact checks each filter against probabilities worked out by
// hand from softmax([1, 2, 3, 4]) = [0.0320586, 0.0871443, 0.2368828, 0.6439143].
func TestFiltersExact(t *testing.T) {
	logits := []float32{1, 2, 3, 4}
	tests := []struct {
		name string
		p    Params
		want map[int32]float64
	}{
		{"temperature 1", Params{Temperature: 1},
			map[int32]float64{0: 0.0320586, 1: 0.0871443, 2: 0.2368828, 3: 0.6439143}},
		// logits/2 = [0.5, 1, 1.5, 2]: e^x = 1.648721, 2.718282, 4.481689,
		// 7.389056, sum 16.237748.
		{"temperature 2", Params{Temperature: 2},
			map[int32]float64{0: 0.1015363, 1: 0.1674051, 2: 0.2760043, 3: 0.4550542}},
		// softmax([3, 4]).
		{"top-k 2", Params{Temperature: 1, TopK: 2}, map[int32]float64{2: 0.2689414, 3: 0.7310586}},
		{"top-k 1", Params{Temperature: 1, TopK: 1}, map[int32]float64{3: 1}},
		{"top-k past vocab", Params{Temperature: 1, TopK: 10},
			map[int32]float64{0: 0.0320586, 1: 0.0871443, 2: 0.2368828, 3: 0.6439143}},
		// Mass before token 2 is 0.644 < 0.7: kept; before token 1 it is
		// 0.881: dropped.
		{"top-p 0.7", Params{Temperature: 1, TopP: 0.7}, map[int32]float64{2: 0.2689414, 3: 0.7310586}},
		{"top-p 0.6 keeps the best", Params{Temperature: 1, TopP: 0.6}, map[int32]float64{3: 1}},
		// Threshold 0.3 * 0.6439 = 0.193: tokens 2 and 3.
		{"min-p 0.3", Params{Temperature: 1, MinP: 0.3}, map[int32]float64{2: 0.2689414, 3: 0.7310586}},
		// Threshold 0.0644: tokens 1, 2, 3 over their sum 0.9679414.
		{"min-p 0.1", Params{Temperature: 1, MinP: 0.1},
			map[int32]float64{1: 0.0900306, 2: 0.2447285, 3: 0.6652410}},
		// top-k 3 gives softmax([2, 3, 4]) = [0.0900306, 0.2447285,
		// 0.6652410]; top-p 0.9 then drops token 1 (mass before it 0.9100).
		{"top-k then top-p", Params{Temperature: 1, TopK: 3, TopP: 0.9}, map[int32]float64{2: 0.2689414, 3: 0.7310586}},
		// Without top-k, top-p 0.9 on the full distribution keeps 1, 2, 3
		// (mass before token 1 is 0.8808 < 0.9).
		{"top-p 0.9 alone", Params{Temperature: 1, TopP: 0.9},
			map[int32]float64{1: 0.0900306, 2: 0.2447285, 3: 0.6652410}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := dist(t, logits, tc.p, History{})
			require.Len(t, got, len(tc.want))
			for tok, p := range tc.want {
				require.InDelta(t, p, got[tok], 1e-6, "token %d", tok)
			}
		})
	}
}

func TestMaskedLogitsNeverCandidates(t *testing.T) {
	ninf := float32(math.Inf(-1))
	got := dist(t, []float32{ninf, 0, ninf, 0}, Params{Temperature: 1}, History{})
	require.Equal(t, map[int32]float64{1: 0.5, 3: 0.5}, got)
}

func TestPenaltiesExact(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		p      Params
		h      History
		want   []float32
	}{
		// Seen tokens 0 (prompt) and 1 (output): 2/2 = 1 and -1*2 = -2.
		{"repetition", []float32{2, -1, 0.5, 3}, Params{RepetitionPenalty: 2},
			History{Prompt: []int32{0}, Output: []int32{1, 1}}, []float32{1, -2, 0.5, 3}},
		// Output only: token 1 twice: 1 - 2*0.5 - 0.25; token 2 once:
		// 1 - 0.5 - 0.25. Prompt token 0 is not penalised.
		{"frequency and presence", []float32{1, 1, 1, 1}, Params{FrequencyPenalty: 0.5, PresencePenalty: 0.25},
			History{Prompt: []int32{0}, Output: []int32{1, 2, 1}}, []float32{1, -0.25, 0.25, 1}},
		// Repetition first (4 -> 2, -1 -> -2), then frequency 1 per
		// occurrence: token 3 seen twice in output: 2 - 2; token 1 once: -3.
		{"all three", []float32{0, -1, 0, 4}, Params{RepetitionPenalty: 2, FrequencyPenalty: 1},
			History{Output: []int32{3, 1, 3}}, []float32{0, -3, 0, 0}},
		{"negative presence encourages", []float32{0, 0}, Params{PresencePenalty: -1},
			History{Output: []int32{1}}, []float32{0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(len(tc.logits))
			orig := slices.Clone(tc.logits)
			w, err := s.penalize(tc.logits, &tc.p, tc.h)
			require.NoError(t, err)
			require.Equal(t, tc.want, w)
			require.Equal(t, orig, tc.logits, "input logits must not change")
			// Scratch state is reset: a second call gives the same answer.
			w, err = s.penalize(tc.logits, &tc.p, tc.h)
			require.NoError(t, err)
			require.Equal(t, tc.want, w)
		})
	}
}

func TestGreedy(t *testing.T) {
	s := New(5)
	res, err := s.Sample([]float32{1, 3, 0, 3, -2}, &Params{}, History{}, nil)
	require.NoError(t, err)
	require.Equal(t, int32(1), res.Token, "lowest id wins a tie")

	// Penalties apply to greedy decoding too, as in vLLM.
	res, err = s.Sample([]float32{1, 3, 0, 2.5, -2}, &Params{RepetitionPenalty: 2}, History{Output: []int32{1}}, nil)
	require.NoError(t, err)
	require.Equal(t, int32(3), res.Token)
}

func TestBadInput(t *testing.T) {
	s := New(3)
	_, err := s.Sample([]float32{1, 2}, &Params{}, History{}, nil)
	require.ErrorIs(t, err, ErrBadLogits)
	for _, p := range []Params{{}, {Temperature: 1}, {Temperature: 1, TopK: 2}, {Temperature: 1, TopK: 2, MinP: 0.1}, {Logprobs: 1}} {
		_, err = s.Sample([]float32{1, float32(math.NaN()), 0}, &p, History{}, NewRNG(1))
		require.ErrorIs(t, err, ErrBadLogits)
		ninf := float32(math.Inf(-1))
		_, err = s.Sample([]float32{ninf, ninf, ninf}, &p, History{}, NewRNG(1))
		require.ErrorIs(t, err, ErrBadLogits)
	}
	_, err = s.Sample([]float32{1, 2, 3}, &Params{Temperature: 1}, History{}, nil)
	require.Error(t, err)
	_, err = s.Sample([]float32{1, 2, 3}, &Params{RepetitionPenalty: 2}, History{Output: []int32{3}}, nil)
	require.ErrorContains(t, err, "outside vocabulary")
}

// reference is a deliberately plain implementation of the filters: a full
// softmax in float64 and a full sort, following vLLM's order (temperature,
// min-p, top-k, top-p).
func reference(logits []float32, p Params) map[int32]float64 {
	n := len(logits)
	ids := make([]int32, n)
	prob := make([]float64, n)
	maxv := math.Inf(-1)
	for _, v := range logits {
		maxv = math.Max(maxv, float64(v))
	}
	z := 0.0
	for i, v := range logits {
		ids[i] = int32(i)
		prob[i] = math.Exp((float64(v) - maxv) / float64(p.Temperature))
		z += prob[i]
	}
	for i := range prob {
		prob[i] /= z
	}
	sort.SliceStable(ids, func(a, b int) bool { return prob[ids[a]] > prob[ids[b]] })
	keep := ids
	if p.MinP > 0 {
		keep = slices.DeleteFunc(slices.Clone(keep), func(t int32) bool { return prob[t] < float64(p.MinP)*prob[ids[0]] })
	}
	if p.TopK > 0 && p.TopK < len(keep) {
		keep = keep[:p.TopK]
	}
	renorm := func() {
		s := 0.0
		for _, t := range keep {
			s += prob[t]
		}
		for _, t := range keep {
			prob[t] /= s
		}
	}
	renorm()
	if p.TopP > 0 && p.TopP < 1 {
		mass := 0.0
		for i, t := range keep {
			if mass >= float64(p.TopP) {
				keep = keep[:i]
				break
			}
			mass += prob[t]
		}
		renorm()
	}
	out := map[int32]float64{}
	for _, t := range keep {
		out[t] = prob[t]
	}
	return out
}

func randomLogits(rng *rand.Rand, n int, scale float64) []float32 {
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(rng.NormFloat64() * scale)
	}
	return l
}

// TestFilterMatchesReference compares the sampler's filtered distribution
// with the plain reference on many random rows, including rows large enough
// for the unsorted top-p path to need several selection rounds.
func TestFilterMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		n := 2 + rng.IntN(40)
		if i%10 == 0 {
			n = 500 + rng.IntN(3000)
		}
		logits := randomLogits(rng, n, 0.5+3*rng.Float64())
		p := Params{Temperature: float32(0.2 + 1.5*rng.Float64())}
		if rng.IntN(2) == 0 {
			p.TopK = 1 + rng.IntN(n+5)
		}
		if rng.IntN(2) == 0 {
			p.TopP = float32(rng.Float64())
		}
		if rng.IntN(3) == 0 {
			p.MinP = float32(rng.Float64() * 0.3)
		}
		want := reference(logits, p)
		got := dist(t, logits, p, History{})
		require.Equal(t, len(want), len(got), "case %d %+v", i, p)
		for tok, pr := range want {
			require.InDelta(t, pr, got[tok], 1e-9, "case %d token %d", i, tok)
		}
	}
}

// chiSquareCritical is the upper alpha quantile of the chi-square
// distribution with k degrees of freedom, by the Wilson-Hilferty
// approximation (accurate to well under 1% for k >= 3 at these tails).
func chiSquareCritical(k int, z float64) float64 {
	kf := float64(k)
	a := 2 / (9 * kf)
	return kf * math.Pow(1-a+z*math.Sqrt(a), 3)
}

// TestEmpiricalDistribution draws many seeded samples from fixed logits and
// checks with a chi-square test that their frequencies match the reference
// distribution. The critical value is the chi-square quantile at
// alpha = 1e-6 (z = 4.753): a correct sampler fails one run in a million,
// while a wrong renormalisation or an off-by-one filter fails every time.
func TestEmpiricalDistribution(t *testing.T) {
	if raceEnabled {
		t.Skip("single-goroutine statistics: nothing for the race detector, and ten times slower under it")
	}
	const z = 4.753
	tests := []struct {
		name  string
		vocab int
		scale float64
		draws int
		p     Params
	}{
		{"temperature", 50, 2, 200_000, Params{Temperature: 0.8}},
		{"qwen defaults", 1000, 2, 200_000, Params{Temperature: 0.6, TopK: 20, TopP: 0.95}},
		{"min-p and top-k", 200, 1, 200_000, Params{Temperature: 1.3, TopK: 40, MinP: 0.1}},
		{"top-p without top-k", 300, 1.5, 100_000, Params{Temperature: 1, TopP: 0.8}},
		{"all filters", 500, 1.5, 100_000, Params{Temperature: 0.9, TopK: 100, TopP: 0.9, MinP: 0.01}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logits := randomLogits(rand.New(rand.NewPCG(uint64(i), 99)), tc.vocab, tc.scale)
			want := reference(logits, tc.p)
			s := New(tc.vocab)
			rng := NewRNG(uint64(1000 + i))
			counts := map[int32]int{}
			for range tc.draws {
				res, err := s.Sample(logits, &tc.p, History{}, rng)
				require.NoError(t, err)
				counts[res.Token]++
			}
			chiSquare := func(want map[int32]float64) float64 {
				chi2 := 0.0
				for tok, pr := range want {
					e := pr * float64(tc.draws)
					d := float64(counts[tok]) - e
					chi2 += d * d / e
				}
				return chi2
			}
			for tok := range counts {
				_, ok := want[tok]
				require.True(t, ok, "token %d was filtered out but drawn", tok)
			}
			df := len(want) - 1
			require.Greater(t, df, 2)
			limit := chiSquareCritical(df, z)
			chi2 := chiSquare(want)
			t.Logf("%d candidates, chi2 = %.1f, critical value %.1f", len(want), chi2, limit)
			require.Less(t, chi2, limit)

			// The test has the power to notice a subtly wrong sampler: the
			// same draws are far from a distribution whose temperature is
			// off by 10% (over the same candidates).
			off := tc.p
			off.Temperature *= 1.1
			wrong := reference(logits, off)
			mass := 0.0
			for tok, pr := range wrong {
				if _, ok := want[tok]; !ok {
					delete(wrong, tok)
				} else {
					mass += pr
				}
			}
			for tok := range wrong {
				wrong[tok] /= mass
			}
			require.Greater(t, chiSquare(wrong), limit, "the chi-square test cannot tell a 10%% temperature error")
		})
	}
}

func TestSeedReproducible(t *testing.T) {
	logits := randomLogits(rand.New(rand.NewPCG(5, 6)), 300, 1.5)
	p := Params{Temperature: 1, TopK: 50, TopP: 0.9}
	run := func(seed uint64) []int32 {
		s := New(len(logits))
		rng := NewRNG(seed)
		var out []int32
		for range 64 {
			r, err := s.Sample(logits, &p, History{}, rng)
			require.NoError(t, err)
			out = append(out, r.Token)
		}
		return out
	}
	require.Equal(t, run(42), run(42))
	require.NotEqual(t, run(42), run(43))
}

func TestLogprobs(t *testing.T) {
	logits := []float32{1, 2, 3, 4, 3}
	// log-softmax by hand: logsumexp = 4 + ln(1 + 2e^-1 + e^-2 + e^-3)
	// = 4 + ln(1.920881) = 4.652784.
	lse := 4.652784
	s := New(len(logits))
	// The penalty makes token 2 the greedy choice, but logprobs stay those
	// of the raw logits.
	res, err := s.Sample(logits, &Params{Logprobs: 3, RepetitionPenalty: 4}, History{Prompt: []int32{3}}, nil)
	require.NoError(t, err)
	require.Equal(t, int32(2), res.Token)
	require.InDelta(t, 3-lse, res.Logprob, 1e-5)
	require.Len(t, res.Top, 3)
	wantIDs := []int32{3, 2, 4} // tie between 2 and 4: lower id first
	for i, tl := range res.Top {
		require.Equal(t, wantIDs[i], tl.Token)
		require.InDelta(t, float64(logits[tl.Token])-lse, tl.Logprob, 1e-5)
	}
	// None asked for, none computed.
	res, err = s.Sample(logits, &Params{}, History{}, nil)
	require.NoError(t, err)
	require.Nil(t, res.Top)
	require.Zero(t, res.Logprob)
}

func TestNoAllocsPerToken(t *testing.T) {
	const vocab = 151936
	logits := randomLogits(rand.New(rand.NewPCG(7, 8)), vocab, 3)
	s := New(vocab)
	rng := NewRNG(1)
	h := History{Prompt: []int32{1, 2, 3}, Output: []int32{4, 5, 4}}
	for _, p := range []Params{
		{},
		{Temperature: 0.6, TopK: 20, TopP: 0.95},
		{Temperature: 0.7, TopP: 0.8, RepetitionPenalty: 1.1, PresencePenalty: 0.5, FrequencyPenalty: 0.3},
		{Temperature: 1, MinP: 0.1},
	} {
		_, err := s.Sample(logits, &p, h, rng) // grow the scratch once
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(5, func() { _, _ = s.Sample(logits, &p, h, rng) })
		require.Zero(t, allocs, "%+v", p)
	}
}

func benchmarkSample(b *testing.B, p Params) {
	const vocab = 151936
	logits := randomLogits(rand.New(rand.NewPCG(7, 8)), vocab, 3)
	s := New(vocab)
	rng := NewRNG(1)
	for b.Loop() {
		if _, err := s.Sample(logits, &p, History{}, rng); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGreedy is the floor: one pass over the vocabulary.
func BenchmarkGreedy(b *testing.B) { benchmarkSample(b, Params{}) }
func BenchmarkQwenDefaults(b *testing.B) {
	benchmarkSample(b, Params{Temperature: 0.6, TopK: 20, TopP: 0.95})
}
func BenchmarkTopPOnly(b *testing.B)    { benchmarkSample(b, Params{Temperature: 0.6, TopP: 0.95}) }
func BenchmarkTemperature(b *testing.B) { benchmarkSample(b, Params{Temperature: 1}) }

// BenchmarkFullSort is the naive alternative the selection avoids: sorting
// the vocabulary by logit for every token.
func BenchmarkFullSort(b *testing.B) {
	const vocab = 151936
	logits := randomLogits(rand.New(rand.NewPCG(7, 8)), vocab, 3)
	ids := make([]int32, vocab)
	for b.Loop() {
		for i := range ids {
			ids[i] = int32(i)
		}
		slices.SortFunc(ids, func(a, c int32) int {
			switch {
			case logits[a] > logits[c]:
				return -1
			case logits[a] < logits[c]:
				return 1
			}
			return int(a - c)
		})
	}
}

func TestResultJSON(t *testing.T) {
	r := Result{Token: 7, Logprob: -0.5, Top: []TokenLogprob{{Token: 7, Logprob: -0.5}, {Token: 2, Logprob: -1.25}}}
	data, err := json.Marshal(r)
	require.NoError(t, err)
	require.JSONEq(t, `{"token_id": 7, "logprob": -0.5, "top": [{"token_id": 7, "logprob": -0.5}, {"token_id": 2, "logprob": -1.25}]}`, string(data))
}

func TestSuppress(t *testing.T) {
	s := New(8)
	logits := []float32{0, 5, 1, 4, 0, 0, 0, 0}
	raw := append([]float32(nil), logits...)
	greedy := Params{Logprobs: 2}
	res, err := s.Sample(logits, &greedy, History{Suppress: []int32{1}}, nil)
	require.NoError(t, err)
	require.Equal(t, int32(3), res.Token, "the best token is suppressed: the next best wins")
	require.Equal(t, raw, logits, "the caller's logits are not modified")
	// Log-probabilities are the model's: token 1 is still the most likely.
	require.Equal(t, int32(1), res.Top[0].Token)

	// With penalties (a scratch copy already) and with sampling.
	pen := Params{PresencePenalty: 0.5}
	res, err = s.Sample(logits, &pen, History{Output: []int32{3}, Suppress: []int32{1}}, nil)
	require.NoError(t, err)
	require.Equal(t, int32(3), res.Token, "4 - 0.5 still beats 1")
	hot := Params{Temperature: 1}
	rng := NewRNG(1)
	for range 200 {
		res, err = s.Sample(logits, &hot, History{Suppress: []int32{1, 3}}, rng)
		require.NoError(t, err)
		require.NotContains(t, []int32{1, 3}, res.Token)
	}

	_, err = s.Sample(logits, &greedy, History{Suppress: []int32{8}}, nil)
	require.ErrorContains(t, err, "outside vocabulary")
}
