package engine

import (
	"context"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/stretchr/testify/require"
)

func TestNGramLookup(t *testing.T) {
	g, err := NewNGram(1, 3)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		ctx  []int32
		k    int
		want []int32
	}{
		{"longest suffix wins", []int32{1, 2, 3, 9, 2, 3, 7, 8, 1, 2, 3}, 2, []int32{9, 2}},
		{"latest match of a shorter suffix", []int32{5, 6, 4, 5, 7, 0, 5}, 3, []int32{7, 0, 5}},
		{"follow is cut at the end", []int32{4, 1, 4}, 5, []int32{1, 4}},
		{"no earlier occurrence", []int32{1, 2, 3, 4}, 3, nil},
		{"a single token", []int32{1}, 3, nil},
	} {
		ps := []Proposal{{Context: tc.ctx, Max: tc.k}}
		require.NoError(t, g.Propose(ps), tc.name)
		if tc.want == nil {
			require.Empty(t, ps[0].Tokens, tc.name)
		} else {
			require.Equal(t, tc.want, ps[0].Tokens, tc.name)
		}
		require.Nil(t, ps[0].Probs)
	}
	_, err = NewNGram(0, 3)
	require.ErrorIs(t, err, ErrInvalidConfig)
	_, err = NewNGram(4, 3)
	require.ErrorIs(t, err, ErrInvalidConfig)
}

func TestSpecStatePicksK(t *testing.T) {
	for _, tc := range []struct {
		name             string
		accepted, tested float64
		want             int
	}{
		// With the cost model 1.12 + 0.07k: at α = 1/2, k = 1, 2, 3, 4 give
		// 1.26, 1.39, 1.41, 1.38 tokens per unit of cost.
		{"no history: a coin flip", 0, 0, 3},
		{"always right", 40, 40, 8},
		{"half right", 20, 40, 3},
		{"one in five", 8, 40, 1}, // α = 0.21: one proposal still pays, 1.02 per unit
		{"rarely right", 2, 40, 0},
	} {
		s := specState{accepted: tc.accepted, tested: tc.tested}
		require.Equal(t, tc.want, s.next(8), tc.name)
	}
	// Never more than allowed.
	s := specState{accepted: 40, tested: 40}
	require.Equal(t, 3, s.next(3))
}

func TestSpecStateBacksOff(t *testing.T) {
	s := specState{}
	proposals := 0
	for range 200 {
		if k := s.next(4); k > 0 {
			proposals += k
			s.update(k, 0) // every proposal fails
		}
	}
	// Estimating that proposals fail takes a few steps; after that only
	// probes of one token, ever rarer.
	require.Less(t, proposals, 40)
	require.Equal(t, 6, min(s.backoff, 6), "pauses grow to the longest")
	// Then the text turns predictable: proposing resumes within the
	// longest pause.
	resumed := -1
	for step := range 200 {
		if k := s.next(4); k > 0 {
			s.update(k, k)
			if k > 1 && resumed < 0 {
				resumed = step
			}
		}
	}
	require.GreaterOrEqual(t, resumed, 0)
	require.LessOrEqual(t, resumed, 80)
	require.Equal(t, 4, s.next(4))
}

// TestSpecStateAccounting: the totals Metrics reports, and the tested
// count (a rejection tests one proposal more than it accepts).
func TestSpecStateAccounting(t *testing.T) {
	s := specState{}
	s.update(4, 1)
	s.update(4, 4)
	require.Equal(t, 2, s.steps)
	require.Equal(t, 8, s.proposedTotal)
	require.Equal(t, 5, s.acceptedTotal)
	require.InDelta(t, specDecay*2+4, s.tested, 1e-9)
	require.InDelta(t, specDecay*1+4, s.accepted, 1e-9)
}

// specEngines runs the same requests through an engine without and with
// speculative decoding (the n-gram proposer, K=4) on fixture fx, with a
// small pool and step budget so that prefill is chunked and sequences are
// preempted, and returns both results and the speculative engine's stats.
func specEngines(t *testing.T, fx string, numBlocks int, prop func(t *testing.T) Proposer, reqs []Request) (plain, spec []Result, st Stats) {
	t.Helper()
	m := loadQwen3(t, fx)
	run := func(p Proposer) ([]Result, Stats) {
		cfg := qwen3Config(numBlocks)
		cfg.Scheduler = scheduler.Config{MaxSeqs: 8, MaxBatchedTokens: 24, MaxModelLen: 256}
		if p != nil {
			cfg.Speculative = Speculative{Proposer: p, NumTokens: 4}
		}
		e, err := NewQwen3(m, nil, cfg)
		require.NoError(t, err)
		res, err := e.Generate(context.Background(), reqs)
		require.NoError(t, err)
		st := e.Stats()
		require.Zero(t, st.Blocks.Used, "every KV block returns to the pool")
		require.NoError(t, e.sched.Blocks().Check(nil))
		return res, st
	}
	plain, _ = run(nil)
	spec, st = run(prop(t))
	return plain, spec, st
}

func ngram(t *testing.T) Proposer {
	g, err := NewNGram(1, 4)
	require.NoError(t, err)
	return g
}

// TestSpeculativeGreedyEqualsPlain: with speculative decoding, greedy
// output is transformers' greedy output token for token, for every fixture
// prompt, all requests batched together (some opted out of speculation),
// with chunked prefill and preemption in a small pool.
func TestSpeculativeGreedyEqualsPlain(t *testing.T) {
	if testing.Short() {
		t.Skip("loads checkpoints")
	}
	for _, fx := range []string{"qwen3-tiny", "qwen3-tiny-untied"} {
		t.Run(fx, func(t *testing.T) {
			cases := loadCases(t, fx)
			var reqs []Request
			for i, c := range cases {
				reqs = append(reqs, Request{PromptIDs: c.Prompt, Params: fixtureGreedy(i%3 == 2), NoSpeculation: i%4 == 3})
			}
			plain, spec, st := specEngines(t, fx, 24, ngram, reqs)
			for i, c := range cases {
				require.NoError(t, spec[i].Err)
				require.Equal(t, c.Greedy.Tokens, plain[i].TokenIDs, "case %d without speculation", i)
				require.Equal(t, c.Greedy.Tokens, spec[i].TokenIDs, "case %d with speculation", i)
				requireLogprobsClose(t, plain[i].Logprobs, spec[i].Logprobs, "case %d", i)
				if m := spec[i].Metrics; reqs[i].NoSpeculation {
					require.Zero(t, m.SpecProposed, "case %d opted out", i)
				} else {
					require.LessOrEqual(t, m.SpecAccepted, m.SpecProposed)
					require.LessOrEqual(t, m.SpecSteps, m.SpecProposed)
				}
			}
			require.Positive(t, st.SpecSteps)
			if fx == "qwen3-tiny" {
				// Its first case's output repeats itself (428 428 428 ...):
				// n-grams must hit there. (qwen3-tiny-untied's outputs do
				// not repeat; TestSpeculativeOracle accepts on it.)
				require.Positive(t, st.SpecAccepted)
			}
			var steps, proposed, accepted int
			for _, r := range spec {
				steps, proposed, accepted = steps+r.Metrics.SpecSteps, proposed+r.Metrics.SpecProposed, accepted+r.Metrics.SpecAccepted
			}
			require.Equal(t, st.SpecSteps, int64(steps), "the requests' counts add up to the engine's")
			require.Equal(t, st.SpecProposed, int64(proposed))
			require.Equal(t, st.SpecAccepted, int64(accepted))
			require.Positive(t, st.Preemptions, "the small pool must preempt")
			t.Logf("%s: %d verifications, %d of %d proposals accepted, %d preemptions", fx, st.SpecSteps, st.SpecAccepted, st.SpecProposed, st.Preemptions)
		})
	}
}

// TestSpeculativeStopsExactly: stop tokens, max_tokens, min_tokens and
// seeded sampling behave exactly as without speculation: never a token
// past a stop, the same finish reasons, reproducible seeds.
func TestSpeculativeStopsExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a checkpoint")
	}
	cases := loadCases(t, "qwen3-tiny")
	greedy := cases[0].Greedy.Tokens // 428 428 428 330 391 363 385 ...
	seed := uint64(7)
	var reqs []Request
	for _, p := range []sampler.Params{
		{MaxTokens: 24, StopTokenIDs: []int32{385}}, // stops after 7 tokens
		{MaxTokens: 5}, // max_tokens inside an accepted run
		{MaxTokens: 24, StopTokenIDs: []int32{428}, MinTokens: 3},                    // a stop token suppressed below min_tokens
		{MaxTokens: 20, Temperature: 0.8, TopK: 5, Seed: &seed},                      // seeded sampling
		{MaxTokens: 20, Temperature: 0.8, Seed: &seed, Logprobs: 3, IgnoreEOS: true}, // with logprobs
	} {
		reqs = append(reqs, Request{PromptIDs: cases[0].Prompt, Params: p})
	}
	plain, spec, st := specEngines(t, "qwen3-tiny", 64, ngram, reqs)
	require.Equal(t, greedy[:7], plain[0].TokenIDs, "the stop token ends the output")
	require.Equal(t, greedy[:5], plain[1].TokenIDs)
	for i := range reqs[:3] {
		require.Equal(t, plain[i].TokenIDs, spec[i].TokenIDs, "request %d", i)
		require.Equal(t, plain[i].FinishReason, spec[i].FinishReason, "request %d", i)
	}
	require.Equal(t, sequence.Stop, spec[0].FinishReason)
	require.Equal(t, sequence.Length, spec[1].FinishReason)
	require.GreaterOrEqual(t, len(spec[2].TokenIDs), 3)
	require.Positive(t, st.SpecAccepted)
	// Sampled requests: same seed, same speculative output, every time.
	_, again, _ := specEngines(t, "qwen3-tiny", 64, ngram, reqs)
	for i := 3; i < len(reqs); i++ {
		require.Equal(t, spec[i].TokenIDs, again[i].TokenIDs, "request %d is seeded", i)
		require.Len(t, spec[i].TokenIDs, 20)
	}
	require.Len(t, spec[4].Logprobs, 20)
}

// requireLogprobsClose compares logprobs of the same tokens computed in
// steps of different shapes (a verification step computes several rows
// where a plain decode computes one, with other kernels): equal ids, values
// within the fixtures' tolerance.
func requireLogprobsClose(t *testing.T, want, got []sampler.Result, format string, args ...any) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Token, got[i].Token)
		require.InDelta(t, want[i].Logprob, got[i].Logprob, 1e-4)
		require.Len(t, got[i].Top, len(want[i].Top))
		for j := range want[i].Top {
			require.Equal(t, want[i].Top[j].Token, got[i].Top[j].Token)
			require.InDelta(t, want[i].Top[j].Logprob, got[i].Top[j].Logprob, 1e-4)
		}
	}
}

func draftOf(fx string) func(t *testing.T) Proposer {
	return func(t *testing.T) Proposer {
		m := loadQwen3(t, fx)
		d, err := NewDraft(Qwen3Model(m), 64, 16, m.Config().MaxPositionEmbeddings)
		require.NoError(t, err)
		return d
	}
}

// TestSpeculativeDraftModel: qwen3-tiny drafts for qwen3-tiny-untied (both
// have the 512-token vocabulary) and for itself. Greedy output equals the
// plain engine's token for token; drafting for itself, nearly every
// proposal is accepted, which checks that the draft's own paged cache
// follows the requests through acceptances and rejections.
func TestSpeculativeDraftModel(t *testing.T) {
	if testing.Short() {
		t.Skip("loads checkpoints")
	}
	for _, tc := range []struct{ target, draft string }{
		{"qwen3-tiny-untied", "qwen3-tiny"},
		{"qwen3-tiny", "qwen3-tiny"},
	} {
		t.Run(tc.draft+" for "+tc.target, func(t *testing.T) {
			cases := loadCases(t, tc.target)
			var reqs []Request
			for i, c := range cases {
				reqs = append(reqs, Request{PromptIDs: c.Prompt, Params: fixtureGreedy(i%3 == 2), NoSpeculation: i == 1})
			}
			plain, spec, st := specEngines(t, tc.target, 24, draftOf(tc.draft), reqs)
			for i, c := range cases {
				require.NoError(t, spec[i].Err)
				require.Equal(t, c.Greedy.Tokens, plain[i].TokenIDs, "case %d without speculation", i)
				require.Equal(t, c.Greedy.Tokens, spec[i].TokenIDs, "case %d with speculation", i)
				requireLogprobsClose(t, plain[i].Logprobs, spec[i].Logprobs, "case %d", i)
			}
			require.Positive(t, st.SpecSteps)
			if tc.target == tc.draft {
				require.Greater(t, float64(st.SpecAccepted), 0.9*float64(st.SpecProposed), "a model drafting for itself")
			}
			t.Logf("%d verifications, %d of %d proposals accepted (%.2f per verification)", st.SpecSteps, st.SpecAccepted, st.SpecProposed, float64(st.SpecAccepted)/float64(st.SpecSteps))
		})
	}
}

// TestSpeculativeDraftSampled: sampled requests with a draft model are
// reproducible under a seed, and their tokens stay in the vocabulary the
// filters allow (top-k 3: every token is among the row's 3 most likely,
// which logprobs let us check).
func TestSpeculativeDraftSampled(t *testing.T) {
	if testing.Short() {
		t.Skip("loads checkpoints")
	}
	cases := loadCases(t, "qwen3-tiny")
	seed := uint64(11)
	var reqs []Request
	for _, c := range cases[:3] {
		reqs = append(reqs, Request{PromptIDs: c.Prompt, Params: sampler.Params{MaxTokens: 16, Temperature: 0.7, TopK: 3, Seed: &seed, Logprobs: 3, IgnoreEOS: true}})
	}
	_, a, st := specEngines(t, "qwen3-tiny", 64, draftOf("qwen3-tiny"), reqs)
	_, b, _ := specEngines(t, "qwen3-tiny", 64, draftOf("qwen3-tiny"), reqs)
	require.Positive(t, st.SpecAccepted)
	for i := range reqs {
		require.Equal(t, a[i].TokenIDs, b[i].TokenIDs, "request %d is seeded", i)
		require.Len(t, a[i].TokenIDs, 16)
		for j, lp := range a[i].Logprobs {
			var top []int32
			for _, tl := range lp.Top {
				top = append(top, tl.Token)
			}
			require.Contains(t, top, lp.Token, "request %d token %d is outside top-k", i, j)
		}
	}
}

// TestSpeculativeOracle proposes the true greedy continuation with every
// token corrupted at rate 1-A, so that verifications accept everything,
// part or nothing: the output must still be transformers' greedy output,
// and the acceptance rate what the oracle was set to.
func TestSpeculativeOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("loads checkpoints")
	}
	cases := loadCases(t, "qwen3-tiny-untied")
	var reqs []Request
	truth := map[uint64][]int32{}
	for i, c := range cases {
		reqs = append(reqs, Request{PromptIDs: c.Prompt, Params: fixtureGreedy(false)})
		truth[uint64(i+1)] = append(append([]int32(nil), c.Prompt...), c.Greedy.Tokens...)
	}
	for _, a := range []float64{1, 0.7} {
		oracle := func(t *testing.T) Proposer {
			o, err := NewOracle(func(id uint64) []int32 { return truth[id] }, a, 512)
			require.NoError(t, err)
			return o
		}
		_, spec, st := specEngines(t, "qwen3-tiny-untied", 24, oracle, reqs)
		for i, c := range cases {
			require.Equal(t, c.Greedy.Tokens, spec[i].TokenIDs, "acceptance %v case %d", a, i)
		}
		rate := float64(st.SpecAccepted) / float64(st.SpecProposed)
		t.Logf("acceptance %v: %d verifications, %d of %d proposals accepted, %d preemptions", a, st.SpecSteps, st.SpecAccepted, st.SpecProposed, st.Preemptions)
		if a == 1 {
			require.Equal(t, st.SpecProposed, st.SpecAccepted)
		} else {
			// Only a proposal whose predecessors all stood is tested, so
			// the accepted share is below a but well above a^K.
			require.Greater(t, rate, 0.3)
			require.Less(t, rate, a)
		}
	}
}
