package sampler

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVerifyGreedy(t *testing.T) {
	s := New(5)
	logits := []float32{0.1, 2, -1, 2, 0.5} // arg max 1 (lowest id of the tie)
	p := Params{Logprobs: 1}
	for _, tc := range []struct {
		x        int32
		want     int32
		accepted bool
	}{
		{1, 1, true},
		{3, 1, false}, // as likely, but not the arg max
		{0, 1, false},
	} {
		res, ok, err := s.Verify(logits, &p, History{}, tc.x, nil, nil)
		require.NoError(t, err)
		require.Equal(t, tc.want, res.Token, "proposal %d", tc.x)
		require.Equal(t, tc.accepted, ok, "proposal %d", tc.x)
		want, err := s.Sample(logits, &p, History{}, nil)
		require.NoError(t, err)
		require.Equal(t, want, res, "the emitted token and its logprobs are Sample's")
	}
	// Penalties and suppressed tokens apply before the comparison.
	res, ok, err := s.Verify(logits, &Params{}, History{Suppress: []int32{1}}, 3, nil, nil)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int32(3), res.Token)
	_, _, err = s.Verify(logits, &Params{}, History{}, 5, nil, nil)
	require.ErrorContains(t, err, "proposed token 5 outside")
	_, _, err = s.Verify(logits, &Params{Temperature: 1}, History{}, 1, make([]float32, 4), NewRNG(1))
	require.ErrorContains(t, err, "4 entries")
}

// TestVerifyDistribution is the point of speculative sampling: whatever
// the proposer, the tokens Verify emits follow the request's own
// distribution. Proposals come from a deliberately poor draft (another
// random distribution) or from a deterministic guess; a chi-square test at
// alpha = 1e-6 compares the emitted tokens with the reference distribution
// computed independently (see reference), for several sampling settings.
func TestVerifyDistribution(t *testing.T) {
	if raceEnabled {
		t.Skip("single-goroutine statistics: nothing for the race detector, and ten times slower under it")
	}
	const z, draws = 4.753, 100_000
	for i, tc := range []struct {
		name  string
		vocab int
		p     Params
		draft string // "model": a poor draft distribution; "fixed": a deterministic guess
	}{
		{"temperature, draft model", 40, Params{Temperature: 0.8}, "model"},
		{"top-k and top-p, draft model", 200, Params{Temperature: 0.6, TopK: 20, TopP: 0.95}, "model"},
		{"min-p, draft model", 100, Params{Temperature: 1.3, MinP: 0.05}, "model"},
		{"temperature, fixed guess", 40, Params{Temperature: 1}, "fixed"},
		{"top-k, fixed guess outside it", 60, Params{Temperature: 0.7, TopK: 10}, "fixed-out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(i), 7))
			logits := randomLogits(r, tc.vocab, 2)
			want := reference(logits, tc.p)
			s := New(tc.vocab)
			var q []float32
			var fixed int32
			switch tc.draft {
			case "model":
				// The draft's own distribution: other logits, same params.
				q = make([]float32, tc.vocab)
				require.NoError(t, s.Probs(q, randomLogits(r, tc.vocab, 2), &tc.p, History{}))
			case "fixed":
				fixed = argmaxOf(want) // the likeliest token: often right
			case "fixed-out":
				for tok := range int32(tc.vocab) {
					if _, ok := want[tok]; !ok {
						fixed = tok // a token top-k drops: never right
						break
					}
				}
			}
			rng, draftRNG := NewRNG(uint64(100+i)), NewRNG(uint64(200+i))
			counts := map[int32]int{}
			accepted := 0
			for range draws {
				x := fixed
				if q != nil {
					x = DrawFrom(q, draftRNG)
				}
				res, ok, err := s.Verify(logits, &tc.p, History{}, x, q, rng)
				require.NoError(t, err)
				counts[res.Token]++
				if ok {
					accepted++
				}
			}
			for tok := range counts {
				_, ok := want[tok]
				require.True(t, ok, "token %d was filtered out but emitted", tok)
			}
			chi2 := 0.0
			for tok, pr := range want {
				e := pr * draws
				d := float64(counts[tok]) - e
				chi2 += d * d / e
			}
			limit := chiSquareCritical(max(3, len(want)-1), z)
			t.Logf("%d candidates, %.1f%% accepted, chi2 = %.1f, critical value %.1f", len(want), 100*float64(accepted)/draws, chi2, limit)
			require.Less(t, chi2, limit)
			switch tc.draft {
			case "fixed":
				// A fixed guess is accepted with probability p(guess).
				require.InDelta(t, want[fixed], float64(accepted)/draws, 0.01)
			case "fixed-out":
				require.Zero(t, accepted)
			}
		})
	}
}

func argmaxOf(dist map[int32]float64) int32 {
	best, bp := int32(-1), -1.0
	for tok, p := range dist {
		if p > bp || (p == bp && tok < best) {
			best, bp = tok, p
		}
	}
	return best
}

func TestProbsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	logits := randomLogits(r, 300, 1.5)
	for _, p := range []Params{{Temperature: 0.9}, {Temperature: 0.6, TopK: 20, TopP: 0.95}, {Temperature: 1, TopP: 0.8, MinP: 0.02}} {
		s := New(300)
		got := make([]float32, 300)
		require.NoError(t, s.Probs(got, logits, &p, History{}))
		want := reference(logits, p)
		for tok := range int32(300) {
			require.InDelta(t, want[tok], float64(got[tok]), 1e-6, "%+v token %d", p, tok)
		}
	}
	require.ErrorContains(t, New(4).Probs(make([]float32, 4), []float32{1, 2, 3, 4}, &Params{}, History{}), "greedy")
}

func TestDrawFrom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	counts := [4]int{}
	for range 40_000 {
		counts[DrawFrom([]float32{0.5, 0, 0.25, 0.25}, rng)]++
	}
	require.Zero(t, counts[1])
	require.InDelta(t, 20_000, counts[0], 600)
	require.InDelta(t, 10_000, counts[2], 500)
}
