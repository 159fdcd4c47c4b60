package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
	"github.com/stretchr/testify/require"
)

const testVocab = 300 // bytes, then specials; 299 is EOS

const testEOS = int32(testVocab - 1)

func testConfig() Config {
	return Config{
		Cache:       block.Config{BlockSize: 4, NumBlocks: 64, PrefixCaching: true},
		Scheduler:   scheduler.Config{MaxSeqs: 8, MaxBatchedTokens: 32, MaxModelLen: 128},
		EOSTokenIDs: []int32{testEOS},
		Seeds:       rand.NewPCG(1, 2),
	}
}

func newEngine(t *testing.T, m Model, tok Tokenizer, edit func(*Config)) *Engine {
	t.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	e, err := New(m, tok, cfg)
	require.NoError(t, err)
	return e
}

// reference generates one request alone, with no engine, scheduler or KV
// cache: the model's logits for the whole context at every step, and the
// sampler with a fresh random source of the same seed.
func reference(t *testing.T, next func([]int32) []float32, prompt []int32, p sampler.Params, seed uint64, stopIDs []int32, maxLen int) []int32 {
	t.Helper()
	s := sampler.New(testVocab)
	rng := sampler.NewRNG(seed)
	ctx := slices.Clone(prompt)
	var out []int32
	for {
		res, err := s.Sample(next(ctx), &p, sampler.History{Prompt: prompt, Output: out}, rng)
		require.NoError(t, err)
		out = append(out, res.Token)
		ctx = append(ctx, res.Token)
		if slices.Contains(stopIDs, res.Token) || (p.MaxTokens > 0 && len(out) >= p.MaxTokens) || len(ctx) >= maxLen {
			return out
		}
	}
}

func randomPrompt(rng *rand.Rand, prefix []int32, n int) []int32 {
	p := slices.Clone(prefix)
	for range n {
		p = append(p, int32(rng.IntN(256)))
	}
	return p
}

// TestGenerateMatchesReference runs many requests through continuous
// batching under a KV pool small enough to force chunked prefill, prefix
// sharing and preemption, and checks every request's tokens against a solo
// run of the same request: a request's output must not depend on what
// else shares its batches.
func TestGenerateMatchesReference(t *testing.T) {
	for _, withArgmax := range []bool{false, true} {
		t.Run(fmt.Sprintf("argmax=%v", withArgmax), func(t *testing.T) {
			fm := newFakeModel(testVocab, nil)
			var m Model = fm
			if withArgmax {
				m = argmaxModel{fm}
			}
			e := newEngine(t, m, byteTokenizer{}, func(c *Config) {
				c.Cache.NumBlocks = 40
				c.Scheduler.MaxSeqs = 6
				c.Scheduler.MaxBatchedTokens = 24
			})
			rng := rand.New(rand.NewPCG(9, 9))
			shared := randomPrompt(rng, nil, 9)
			var reqs []Request
			var seeds []uint64
			for i := range 40 {
				prefix := shared
				if i%3 == 0 {
					prefix = nil
				}
				seed := uint64(100 + i)
				p := sampler.Params{MaxTokens: 1 + rng.IntN(30), Seed: &seed}
				switch i % 4 {
				case 1:
					p.Temperature, p.TopK, p.TopP = 0.8, 20, 0.9
				case 2:
					p.Temperature, p.MinP, p.RepetitionPenalty, p.FrequencyPenalty = 1.2, 0.05, 1.3, 0.5
				case 3:
					p.IgnoreEOS = true
				}
				reqs = append(reqs, Request{PromptIDs: randomPrompt(rng, prefix, 1+rng.IntN(20)), Params: p})
				seeds = append(seeds, seed)
			}
			res, err := e.Generate(context.Background(), reqs)
			require.NoError(t, err)
			require.Len(t, res, len(reqs))
			for i, r := range res {
				stop := []int32{testEOS}
				if reqs[i].Params.IgnoreEOS {
					stop = nil
				}
				want := reference(t, fm.next, reqs[i].PromptIDs, reqs[i].Params, seeds[i], stop, 128)
				require.NoError(t, r.Err, "request %d", i)
				require.Equal(t, want, r.TokenIDs, "request %d", i)
				require.Equal(t, reqs[i].PromptIDs, r.PromptTokenIDs)
				wantReason := sequence.Length
				if slices.Contains(stop, want[len(want)-1]) {
					wantReason = sequence.Stop
				}
				require.Equal(t, wantReason, r.FinishReason, "request %d", i)
				require.Equal(t, len(want), r.Metrics.GeneratedTokens)
				require.Equal(t, len(reqs[i].PromptIDs), r.Metrics.PromptTokens)
			}
			st := e.Stats()
			var preemptions int64
			for _, r := range res {
				preemptions += int64(r.Metrics.Preemptions)
			}
			require.Equal(t, st.Preemptions, preemptions, "per-request preemption counts add up")
			require.Zero(t, st.Blocks.Used, "every block is released")
			require.Zero(t, st.Running+st.Waiting)
			require.False(t, e.HasUnfinished())
			require.Positive(t, st.Preemptions, "the pool was meant to force preemption")
			require.LessOrEqual(t, fm.maxTokens, 24)
			if withArgmax {
				require.Positive(t, fm.argmaxes, "all-greedy steps use ForwardArgmax")
			}
		})
	}
}

func TestAddRequestErrors(t *testing.T) {
	e := newEngine(t, newFakeModel(testVocab, nil), byteTokenizer{}, func(c *Config) {
		c.Cache.NumBlocks = 8 // 32 tokens
		c.Scheduler.MaxModelLen = 40
	})
	noTok := newEngine(t, newFakeModel(testVocab, nil), nil, nil)
	ctx := context.Background()
	tests := []struct {
		name string
		e    *Engine
		req  Request
		want error
		msg  string
	}{
		{"empty", e, Request{}, ErrInvalidRequest, "empty prompt"},
		{"token outside vocab", e, Request{PromptIDs: []int32{1, testVocab}}, ErrInvalidRequest, "position 1"},
		{"negative token", e, Request{PromptIDs: []int32{-1}}, ErrInvalidRequest, "position 0"},
		{"bad params", e, Request{Prompt: "hi", Params: sampler.Params{TopP: 2}}, sampler.ErrInvalidParams, "top_p"},
		{"stop id outside vocab", e, Request{Prompt: "hi", Params: sampler.Params{StopTokenIDs: []int32{testVocab}}}, ErrInvalidRequest, "stop_token_ids[0]"},
		{"too long", e, Request{PromptIDs: make([]int32, 41)}, ErrPromptTooLong, "41"},
		{"bigger than the pool", e, Request{PromptIDs: make([]int32, 33)}, ErrOutOfBlocks, "33"},
		{"text without tokenizer", noTok, Request{Prompt: "hi"}, ErrInvalidRequest, "tokenizer"},
		{"stop strings without tokenizer", noTok, Request{PromptIDs: []int32{1}, Params: sampler.Params{Stop: []string{"x"}}}, ErrInvalidRequest, "tokenizer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.e.AddRequest(ctx, tc.req)
			require.ErrorIs(t, err, tc.want)
			require.ErrorContains(t, err, tc.msg)
			require.Zero(t, id)
		})
	}
	require.False(t, e.HasUnfinished(), "rejected requests leave nothing behind")
}

// TestBadRequestsDoNotStopOthers mixes requests the engine must reject with
// good ones in one Generate call.
func TestBadRequestsDoNotStopOthers(t *testing.T) {
	fm := newFakeModel(testVocab, nil)
	e := newEngine(t, fm, byteTokenizer{}, func(c *Config) {
		c.Cache.NumBlocks = 8
		c.Scheduler.MaxModelLen = 30
	})
	good := Request{Prompt: "hello", Params: sampler.Params{MaxTokens: 5, IgnoreEOS: true}}
	res, err := e.Generate(context.Background(), []Request{
		good,
		{PromptIDs: make([]int32, 31)},
		{Prompt: "x", Params: sampler.Params{Temperature: -1}},
		{PromptIDs: make([]int32, 29)}, // fits the length but not the 8-block pool once it grows... 29 tokens = 8 blocks
		good,
	})
	require.NoError(t, err)
	require.ErrorIs(t, res[1].Err, ErrPromptTooLong)
	require.ErrorIs(t, res[2].Err, sampler.ErrInvalidParams)
	for _, i := range []int{1, 2} {
		require.Equal(t, sequence.Error, res[i].FinishReason)
		require.Zero(t, res[i].ID)
	}
	want := reference(t, fm.next, byteTokenizer{}.Encode("hello"), good.Params, 0, nil, 30)
	for _, i := range []int{0, 4} {
		require.NoError(t, res[i].Err)
		require.Equal(t, want, res[i].TokenIDs)
	}
	// The 29-token prompt fits the pool alone but cannot grow past its 32
	// slots: it ends with Length at 30 tokens (MaxModelLen) or an
	// out-of-blocks error, never a hang.
	require.Contains(t, []sequence.FinishReason{sequence.Length, sequence.Error}, res[3].FinishReason)
	require.Zero(t, e.Stats().Blocks.Used)
}

// TestPoolExhaustedMidGeneration: a request that fits at first but outgrows
// the whole pool fails with ErrOutOfBlocks; the request beside it finishes.
func TestPoolExhaustedMidGeneration(t *testing.T) {
	fm := newFakeModel(testVocab, nil)
	e := newEngine(t, fm, nil, func(c *Config) {
		c.Cache.NumBlocks = 6 // 24 tokens
		c.Scheduler.MaxModelLen = 100
	})
	res, err := e.Generate(context.Background(), []Request{
		{PromptIDs: make([]int32, 20), Params: sampler.Params{IgnoreEOS: true}},
		{PromptIDs: []int32{1, 2}, Params: sampler.Params{MaxTokens: 3, IgnoreEOS: true}},
	})
	require.NoError(t, err)
	require.Equal(t, sequence.Error, res[0].FinishReason)
	require.ErrorIs(t, res[0].Err, ErrOutOfBlocks)
	require.NoError(t, res[1].Err)
	require.Len(t, res[1].TokenIDs, 3)
	require.Zero(t, e.Stats().Blocks.Used)
}

func TestAbortMidFlight(t *testing.T) {
	e := newEngine(t, newFakeModel(testVocab, nil), nil, nil)
	ctx := context.Background()
	long := sampler.Params{IgnoreEOS: true, MaxTokens: 50}
	a, err := e.AddRequest(ctx, Request{PromptIDs: []int32{1, 2, 3, 4, 5, 6, 7}, Params: long})
	require.NoError(t, err)
	b, err := e.AddRequest(ctx, Request{PromptIDs: []int32{9, 8, 7}, Params: long})
	require.NoError(t, err)
	for range 3 {
		_, err := e.Step(ctx)
		require.NoError(t, err)
	}
	before := e.Stats().Blocks.Used
	require.NoError(t, e.Abort(a))
	require.Less(t, e.Stats().Blocks.Used, before, "Abort frees blocks at once")
	require.ErrorIs(t, e.Abort(a), ErrUnknownRequest)
	require.ErrorIs(t, e.Abort(12345), ErrUnknownRequest)

	outs, err := e.Step(ctx)
	require.NoError(t, err)
	var sawA, sawB bool
	for _, o := range outs {
		switch o.ID {
		case a:
			sawA = true
			require.True(t, o.Finished)
			require.Equal(t, sequence.Aborted, o.FinishReason)
			require.ErrorIs(t, o.Err, ErrAborted)
			require.Empty(t, o.TokenIDs)
		case b:
			sawB = true
			require.False(t, o.Finished)
		}
	}
	require.True(t, sawA && sawB)
	for e.HasUnfinished() {
		_, err := e.Step(ctx)
		require.NoError(t, err)
	}
	require.Zero(t, e.Stats().Blocks.Used)
}

func TestContextCancelAbortsOnlyThatRequest(t *testing.T) {
	fm := newFakeModel(testVocab, nil)
	e := newEngine(t, fm, nil, nil)
	cctx, cancel := context.WithCancel(context.Background())
	p := sampler.Params{IgnoreEOS: true, MaxTokens: 20}
	var got []Output
	victim, err := e.AddRequest(cctx, Request{PromptIDs: []int32{5, 6}, Params: p, OnOutput: func(o Output) {
		got = append(got, o)
		if len(got) == 3 {
			cancel()
		}
	}})
	require.NoError(t, err)
	res, err := e.Generate(context.Background(), []Request{{PromptIDs: []int32{7, 8, 9}, Params: p}})
	require.NoError(t, err)
	require.Equal(t, reference(t, fm.next, []int32{7, 8, 9}, p, 0, nil, 128), res[0].TokenIDs)
	for e.HasUnfinished() {
		_, err := e.Step(context.Background())
		require.NoError(t, err)
	}
	last := got[len(got)-1]
	require.Equal(t, victim, last.ID)
	require.Equal(t, sequence.Aborted, last.FinishReason)
	require.ErrorIs(t, last.Err, context.Canceled)
	require.Len(t, got, 4, "three tokens, then the abort")
	require.Zero(t, e.Stats().Blocks.Used)
}

func TestGenerateContextCancelled(t *testing.T) {
	e := newEngine(t, newFakeModel(testVocab, nil), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err := e.Generate(ctx, []Request{{PromptIDs: []int32{1}, Params: sampler.Params{IgnoreEOS: true, MaxTokens: 100},
		OnOutput: func(Output) {
			if n++; n == 5 {
				cancel()
			}
		}}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, sequence.Aborted, res[0].FinishReason)
	require.Len(t, res[0].TokenIDs, 5)
	require.False(t, e.HasUnfinished())
	require.Zero(t, e.Stats().Blocks.Used)
}

func TestStopTokens(t *testing.T) {
	prompt := []int32{'h', 'i'}
	next := script(testVocab, len(prompt), "abcdefgh", testEOS)
	e := newEngine(t, newFakeModel(testVocab, next), byteTokenizer{}, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		p      sampler.Params
		tokens string
		eos    bool
		text   string
		reason sequence.FinishReason
	}{
		{"eos", sampler.Params{}, "abcdefgh", true, "abcdefgh", sequence.Stop},
		{"max tokens", sampler.Params{MaxTokens: 3}, "abc", false, "abc", sequence.Length},
		{"stop token id", sampler.Params{StopTokenIDs: []int32{'d'}}, "abcd", false, "abc", sequence.Stop},
		// Past the script the model keeps proposing EOS; ignoring it, the
		// request runs to MaxTokens.
		{"ignore eos", sampler.Params{IgnoreEOS: true, MaxTokens: 10}, "abcdefgh", false, "abcdefgh", sequence.Length},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Generate(ctx, []Request{{PromptIDs: prompt, Params: tc.p}})
			require.NoError(t, err)
			r := res[0]
			want := byteTokenizer{}.Encode(tc.tokens)
			if tc.eos {
				want = append(want, testEOS)
			}
			if tc.name == "ignore eos" {
				want = append(want, testEOS, testEOS)
			}
			require.Equal(t, want, r.TokenIDs)
			require.Equal(t, tc.text, r.Text)
			require.Equal(t, tc.reason, r.FinishReason)
		})
	}
}

// TestStopStringAcrossTokens: the model spells "ab<|x|>cd" one byte per
// token; the stop string "<|x|>" spans five tokens. No streamed delta may
// carry any of it, and the text ends before it.
func TestStopStringAcrossTokens(t *testing.T) {
	prompt := []int32{'q'}
	e := newEngine(t, newFakeModel(testVocab, script(testVocab, 1, "ab<|x|>cd", testEOS)), byteTokenizer{}, nil)
	var deltas []string
	res, err := e.Stream(context.Background(), Request{PromptIDs: prompt, Params: sampler.Params{Stop: []string{"<|x|>", "zz"}}},
		func(o Output) error {
			deltas = append(deltas, o.Text)
			return nil
		})
	require.NoError(t, err)
	require.Equal(t, sequence.StopString, res.FinishReason)
	require.Equal(t, "ab", res.Text)
	require.Equal(t, "ab", strings.Join(deltas, ""))
	for _, d := range deltas {
		require.NotContains(t, d, "<")
	}
	// Generation stops at the token that completes the stop string.
	require.Equal(t, byteTokenizer{}.Encode("ab<|x|>"), res.TokenIDs)

	// A false start ("<|" then "y") is released once it cannot match.
	e = newEngine(t, newFakeModel(testVocab, script(testVocab, 1, "a<|y", testEOS)), byteTokenizer{}, nil)
	res, err = e.Stream(context.Background(), Request{PromptIDs: prompt, Params: sampler.Params{Stop: []string{"<|x|>"}}}, nil)
	require.NoError(t, err)
	require.Equal(t, sequence.Stop, res.FinishReason)
	require.Equal(t, "a<|y", res.Text)

	// Held-back text is released when the request ends for another reason.
	e = newEngine(t, newFakeModel(testVocab, script(testVocab, 1, "a<|", testEOS)), byteTokenizer{}, nil)
	res, err = e.Stream(context.Background(), Request{PromptIDs: prompt, Params: sampler.Params{Stop: []string{"<|x|>"}}}, nil)
	require.NoError(t, err)
	require.Equal(t, "a<|", res.Text)
}

func TestStreamNeverSplitsCharacters(t *testing.T) {
	text := "né😀!"
	e := newEngine(t, newFakeModel(testVocab, script(testVocab, 1, text, testEOS)), byteTokenizer{}, nil)
	var deltas []string
	res, err := e.Stream(context.Background(), Request{PromptIDs: []int32{1}}, func(o Output) error {
		require.True(t, utf8.ValidString(o.Text), "%q", o.Text)
		if !o.Finished {
			require.Len(t, o.TokenIDs, 1)
		}
		deltas = append(deltas, o.Text)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, text, res.Text)
	require.Equal(t, text, strings.Join(deltas, ""))
	require.Contains(t, deltas, "", "a character's first bytes wait for its last")
}

func TestStreamCallbackErrorAborts(t *testing.T) {
	e := newEngine(t, newFakeModel(testVocab, nil), nil, nil)
	stop := errors.New("client went away")
	n := 0
	res, err := e.Stream(context.Background(), Request{PromptIDs: []int32{3}, Params: sampler.Params{IgnoreEOS: true}},
		func(o Output) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
	require.ErrorIs(t, err, stop)
	require.Equal(t, sequence.Aborted, res.FinishReason)
	require.Len(t, res.TokenIDs, 2)
	require.False(t, e.HasUnfinished())
	require.Zero(t, e.Stats().Blocks.Used)
}

func TestModelErrorFailsOnlyThatStep(t *testing.T) {
	fm := newFakeModel(testVocab, nil)
	fm.failAt[3] = errFakeDevice
	e := newEngine(t, fm, nil, nil)
	ctx := context.Background()
	p := sampler.Params{IgnoreEOS: true, MaxTokens: 5}
	a, err := e.AddRequest(ctx, Request{PromptIDs: []int32{1, 2}, Params: p})
	require.NoError(t, err)
	var failed []uint64
	for i := 0; e.HasUnfinished(); i++ {
		if i == 3 { // a request arriving after the failure is unaffected
			_, err := e.AddRequest(ctx, Request{PromptIDs: []int32{4}, Params: p})
			require.NoError(t, err)
		}
		outs, err := e.Step(ctx)
		if i == 2 {
			require.ErrorIs(t, err, errFakeDevice)
		} else {
			require.NoError(t, err)
		}
		for _, o := range outs {
			if o.Finished && o.FinishReason == sequence.Error {
				require.ErrorIs(t, o.Err, errFakeDevice)
				failed = append(failed, o.ID)
			}
		}
	}
	require.Equal(t, []uint64{a}, failed)
	require.Zero(t, e.Stats().Blocks.Used)
}

func TestLogprobs(t *testing.T) {
	fm := newFakeModel(testVocab, nil)
	e := newEngine(t, fm, nil, nil)
	prompt := []int32{10, 20, 30}
	res, err := e.Generate(context.Background(), []Request{{PromptIDs: prompt,
		Params: sampler.Params{MaxTokens: 4, IgnoreEOS: true, Logprobs: 3, Temperature: 1, Seed: new(uint64)}}})
	require.NoError(t, err)
	r := res[0]
	require.Len(t, r.Logprobs, 4)
	ctx := slices.Clone(prompt)
	for i, lp := range r.Logprobs {
		want := logSoftmax(fm.next(ctx))
		require.Equal(t, r.TokenIDs[i], lp.Token)
		require.InDelta(t, want[lp.Token], lp.Logprob, 1e-5)
		require.Len(t, lp.Top, 3)
		for _, tl := range lp.Top {
			require.InDelta(t, want[tl.Token], tl.Logprob, 1e-5)
		}
		best := slices.Max(want)
		require.InDelta(t, best, lp.Top[0].Logprob, 1e-5)
		ctx = append(ctx, r.TokenIDs[i])
	}
}

// TestMetrics uses a clock that advances one second per reading, so every
// duration is a whole, checkable number of ticks.
func TestMetrics(t *testing.T) {
	var tick time.Duration
	clock := func() time.Time { tick += time.Second; return time.Unix(0, 0).Add(tick) }
	e := newEngine(t, newFakeModel(testVocab, nil), nil, func(c *Config) { c.Clock = clock })
	shared := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	p := sampler.Params{MaxTokens: 6, IgnoreEOS: true}
	res, err := e.Generate(context.Background(), []Request{{PromptIDs: shared, Params: p}})
	require.NoError(t, err)
	m := res[0].Metrics
	require.Equal(t, 10, m.PromptTokens)
	require.Zero(t, m.CachedTokens)
	require.Equal(t, 6, m.GeneratedTokens)
	require.Positive(t, m.TimeToFirstToken())
	require.Positive(t, m.TimePerOutputToken())
	require.True(t, !m.Finished.Before(m.LastToken) && m.LastToken.After(m.FirstToken) && m.FirstToken.After(m.Arrival))
	// 6 tokens over 6 steps: the last token is 5 steps after the first,
	// and each step reads the clock a fixed number of times.
	require.Equal(t, m.LastToken.Sub(m.FirstToken)/5, m.TimePerOutputToken())

	// The same 10-token prefix again: its two full 4-token blocks come from
	// the prefix cache.
	res, err = e.Generate(context.Background(), []Request{{PromptIDs: append(slices.Clone(shared), 99), Params: p}})
	require.NoError(t, err)
	require.Equal(t, 8, res[0].Metrics.CachedTokens)
}

func TestConfigValidate(t *testing.T) {
	m := newFakeModel(testVocab, nil)
	tests := []struct {
		name string
		edit func(*Config)
		msg  string
	}{
		{"block size", func(c *Config) { c.Cache.BlockSize = 0 }, "BlockSize"},
		{"no memory", func(c *Config) { c.Cache.NumBlocks = 0; c.Cache.MemoryBudget = 0 }, "MemoryBudget"},
		{"max seqs", func(c *Config) { c.Scheduler.MaxSeqs = 0 }, "MaxSeqs"},
		{"negative eos", func(c *Config) { c.EOSTokenIDs = []int32{-2} }, "EOSTokenIDs[0]"},
		{"eos outside vocab", func(c *Config) { c.EOSTokenIDs = []int32{1, testVocab} }, "EOSTokenIDs[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.edit(&cfg)
			_, err := New(m, nil, cfg)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.ErrorContains(t, err, tc.msg)
		})
	}
	// A memory budget sizes the pool from the model's bytes per token.
	cfg := testConfig()
	cfg.Cache.NumBlocks, cfg.Cache.MemoryBudget = 0, 64*4*10
	e, err := New(m, nil, cfg)
	require.NoError(t, err)
	require.Equal(t, 10, e.NumBlocks())
	require.NoError(t, DefaultConfig().Validate())
}

// TestUnseededRequestsUseTheInjectedSource: without Params.Seed, seeds come
// from Config.Seeds, so the same source replays the same outputs.
func TestUnseededRequestsUseTheInjectedSource(t *testing.T) {
	run := func(seed uint64) [][]int32 {
		e := newEngine(t, newFakeModel(testVocab, nil), nil, func(c *Config) { c.Seeds = rand.NewPCG(seed, 0) })
		var reqs []Request
		for i := range 4 {
			reqs = append(reqs, Request{PromptIDs: []int32{int32(i)}, Params: sampler.Params{Temperature: 1, MaxTokens: 8, IgnoreEOS: true}})
		}
		res, err := e.Generate(context.Background(), reqs)
		require.NoError(t, err)
		var out [][]int32
		for _, r := range res {
			out = append(out, r.TokenIDs)
		}
		return out
	}
	require.Equal(t, run(1), run(1))
	require.NotEqual(t, run(1), run(2))
}

// TestConcurrentCallers has several goroutines generate, stream and abort
// at once; run with -race. Each caller's results must still equal the solo
// reference.
func TestConcurrentCallers(t *testing.T) {
	fm := newFakeModel(testVocab, nil)
	e := newEngine(t, fm, byteTokenizer{}, nil)
	p := sampler.Params{MaxTokens: 12, IgnoreEOS: true}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prompt := []int32{int32(g), int32(g + 1)}
			want := reference(t, fm.next, prompt, p, 0, nil, 128)
			for range 3 {
				var got []int32
				if g%2 == 0 {
					res, err := e.Generate(context.Background(), []Request{{PromptIDs: prompt, Params: p}})
					if err != nil {
						errs <- err
						return
					}
					got = res[0].TokenIDs
				} else {
					res, err := e.Stream(context.Background(), Request{PromptIDs: prompt, Params: p}, nil)
					if err != nil {
						errs <- err
						return
					}
					got = res.TokenIDs
				}
				if !slices.Equal(want, got) {
					errs <- fmt.Errorf("caller %d: got %v want %v", g, got, want)
				}
				// A request added and aborted from this goroutine while
				// others drive the engine.
				id, err := e.AddRequest(context.Background(), Request{PromptIDs: prompt, Params: p})
				if err != nil {
					errs <- err
					return
				}
				_ = e.Abort(id) // may have finished already
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for e.HasUnfinished() {
		_, err := e.Step(context.Background())
		require.NoError(t, err)
	}
	require.Zero(t, e.Stats().Blocks.Used)
}

// TestMinTokensAndIncludeStopStr: MinTokens keeps the stop token from
// being sampled and stop strings from counting until enough tokens exist;
// IncludeStopStrInOutput keeps the stop string in the text.
func TestMinTokensAndIncludeStopStr(t *testing.T) {
	ctx := context.Background()
	prompt := []int32{'q'}
	gen := func(text string, p sampler.Params) Result {
		t.Helper()
		e := newEngine(t, newFakeModel(testVocab, script(testVocab, 1, text, testEOS)), byteTokenizer{}, nil)
		res, err := e.Generate(ctx, []Request{{PromptIDs: prompt, Params: p}})
		require.NoError(t, err)
		return res[0]
	}
	// The script ends with EOS after "abc"; with EOS suppressed every other
	// logit is 0, so greedy decoding picks token 0 until EOS is allowed.
	r := gen("abc", sampler.Params{MinTokens: 5})
	require.Equal(t, []int32{'a', 'b', 'c', 0, 0, testEOS}, r.TokenIDs)
	require.Equal(t, sequence.Stop, r.FinishReason)
	// The same through the sampler (temperature > 0 takes the logits path).
	r = gen("abc", sampler.Params{MinTokens: 5, Temperature: 1e-3, Seed: new(uint64)})
	require.Len(t, r.TokenIDs, 6)
	require.NotContains(t, r.TokenIDs[:5], testEOS)
	require.Equal(t, testEOS, r.TokenIDs[5])
	// EOS as the fourth token needs MinTokens <= 3: then nothing changes.
	require.Equal(t, []int32{'a', 'b', 'c', testEOS}, gen("abc", sampler.Params{MinTokens: 3}).TokenIDs)
	require.Equal(t, []int32{'a', 'b', 'c', 0, testEOS}, gen("abc", sampler.Params{MinTokens: 4}).TokenIDs)
	// Stop token ids are held off the same way.
	r = gen("abcd", sampler.Params{MinTokens: 3, StopTokenIDs: []int32{'b'}})
	require.Equal(t, []int32{'a', 0, 'c', 'd', testEOS}, r.TokenIDs, "'b' is suppressed while below MinTokens")

	// "ab<|x|>cd": the stop string is complete at token 7.
	r = gen("ab<|x|>cd", sampler.Params{Stop: []string{"<|x|>"}})
	require.Equal(t, "ab", r.Text)
	r = gen("ab<|x|>cd", sampler.Params{Stop: []string{"<|x|>"}, IncludeStopStrInOutput: true})
	require.Equal(t, "ab<|x|>", r.Text)
	require.Equal(t, sequence.StopString, r.FinishReason)
	// With MinTokens 8 the stop string ends too early to count.
	r = gen("ab<|x|>cd", sampler.Params{Stop: []string{"<|x|>"}, MinTokens: 8})
	require.Equal(t, "ab<|x|>cd", r.Text)
	require.Equal(t, sequence.Stop, r.FinishReason)
	// Only text from the MinTokens-th token on is searched: with MinTokens
	// 3 the stop string lies entirely there.
	r = gen("ab<|x|>cd", sampler.Params{Stop: []string{"<|x|>"}, MinTokens: 3})
	require.Equal(t, "ab", r.Text)

	// Bad values are refused with the request, not the engine.
	e := newEngine(t, newFakeModel(testVocab, nil), byteTokenizer{}, nil)
	_, err := e.AddRequest(ctx, Request{PromptIDs: prompt, Params: sampler.Params{MinTokens: 5, MaxTokens: 4}})
	require.ErrorIs(t, err, sampler.ErrInvalidParams)
	require.ErrorContains(t, err, "min_tokens")
}

func TestPromptTooLongToEncode(t *testing.T) {
	e := newEngine(t, newFakeModel(testVocab, nil), byteTokenizer{}, nil)
	_, err := e.AddRequest(context.Background(), Request{Prompt: strings.Repeat("a", tokenizer.MaxEncodeBytes+1)})
	require.ErrorIs(t, err, ErrInvalidRequest)
	require.ErrorContains(t, err, "more than tokenizer.MaxEncodeBytes")
}
