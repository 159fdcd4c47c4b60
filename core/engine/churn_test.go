package engine

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/stretchr/testify/require"
)

// TestRandomChurn drives the engine step by step while requests arrive,
// get aborted and have their contexts cancelled at random moments, over a
// pool small enough to preempt. After every step the KV pool must account
// for every block; in the end every request has finished exactly once,
// every completed one equals its solo reference, every aborted one is a
// prefix of it, and no block is held.
func TestRandomChurn(t *testing.T) {
	fm := newFakeModel(testVocab, nil)
	e := newEngine(t, fm, byteTokenizer{}, func(c *Config) {
		c.Cache.NumBlocks = 30
		c.Scheduler.MaxSeqs = 5
		c.Scheduler.MaxBatchedTokens = 20
	})
	rng := rand.New(rand.NewPCG(42, 42))
	type tracked struct {
		req      Request
		seed     uint64
		cancel   context.CancelFunc
		tokens   []int32
		text     string
		finished int
		reason   sequence.FinishReason
	}
	all := map[uint64]*tracked{}
	var order []uint64
	shared := randomPrompt(rng, nil, 8)
	add := func() {
		seed := rng.Uint64()
		p := sampler.Params{MaxTokens: 1 + rng.IntN(25), Seed: &seed}
		if rng.IntN(2) == 0 {
			p.Temperature, p.TopK = 1, 50
		}
		var prefix []int32
		if rng.IntN(2) == 0 {
			prefix = shared
		}
		tr := &tracked{req: Request{PromptIDs: randomPrompt(rng, prefix, 1+rng.IntN(15)), Params: p}, seed: seed}
		ctx, cancel := context.WithCancel(context.Background())
		tr.cancel = cancel
		tr.req.OnOutput = func(o Output) {
			tr.tokens = append(tr.tokens, o.TokenIDs...)
			tr.text += o.Text
			if o.Finished {
				tr.finished++
				tr.reason = o.FinishReason
			}
		}
		id, err := e.AddRequest(ctx, tr.req)
		require.NoError(t, err)
		all[id] = tr
		order = append(order, id)
	}
	for step := 0; step < 2000 && (len(all) < 120 || e.HasUnfinished()); step++ {
		if len(all) < 120 && rng.IntN(3) == 0 {
			add()
		}
		if len(order) > 0 && rng.IntN(15) == 0 {
			id := order[rng.IntN(len(order))]
			if rng.IntN(2) == 0 {
				_ = e.Abort(id) // may have finished already
			} else {
				all[id].cancel()
			}
		}
		_, err := e.Step(context.Background())
		require.NoError(t, err)
		st := e.Stats().Blocks
		require.Equal(t, st.Total, st.Free+st.Used, "step %d", step)
	}
	require.False(t, e.HasUnfinished())
	require.Zero(t, e.Stats().Blocks.Used)
	require.Len(t, all, 120)
	aborted := 0
	for id, tr := range all {
		require.Equal(t, 1, tr.finished, "request %d finished once", id)
		want := reference(t, fm.next, tr.req.PromptIDs, tr.req.Params, tr.seed, []int32{testEOS}, 128)
		if tr.reason == sequence.Aborted {
			aborted++
			require.True(t, len(tr.tokens) <= len(want) && slices.Equal(want[:len(tr.tokens)], tr.tokens), "request %d", id)
			continue
		}
		require.Equal(t, want, tr.tokens, "request %d", id)
	}
	require.Positive(t, aborted)
	require.Positive(t, e.Stats().Preemptions)
	for _, tr := range all {
		tr.cancel()
	}
}

// TestRandomChurnSpeculative is TestRandomChurn with speculative decoding:
// greedy requests verify proposals (the true continuation, corrupted at
// random) while requests arrive, preempt each other, and are aborted, some
// from another goroutine while steps run. Every completed request equals
// its solo reference, every aborted one is a prefix of it, and the pool is
// whole after every step.
func TestRandomChurnSpeculative(t *testing.T) {
	fm := newFakeModel(testVocab, nil)
	rng := rand.New(rand.NewPCG(7, 7))
	type tracked struct {
		req      Request
		want     []int32 // prompt, then the reference continuation
		tokens   []int32
		finished int
		reason   sequence.FinishReason
	}
	var mu sync.Mutex // guards all: the truth is read by the proposer during Step
	all := map[uint64]*tracked{}
	oracle, err := NewOracle(func(id uint64) []int32 {
		mu.Lock()
		defer mu.Unlock()
		if tr := all[id]; tr != nil {
			return tr.want
		}
		return nil
	}, 0.7, testVocab)
	require.NoError(t, err)
	e := newEngine(t, fm, byteTokenizer{}, func(c *Config) {
		c.Cache.NumBlocks = 16
		c.Scheduler.MaxSeqs = 6
		c.Scheduler.MaxBatchedTokens = 20
		c.Speculative = Speculative{Proposer: oracle, NumTokens: 5}
	})
	var order []uint64
	add := func() {
		p := sampler.Params{MaxTokens: 1 + rng.IntN(30)}
		tr := &tracked{req: Request{PromptIDs: randomPrompt(rng, nil, 1+rng.IntN(15)), Params: p}}
		ref := reference(t, fm.next, tr.req.PromptIDs, p, 0, []int32{testEOS}, 128)
		tr.want = append(slices.Clone(tr.req.PromptIDs), ref...)
		tr.req.OnOutput = func(o Output) {
			tr.tokens = append(tr.tokens, o.TokenIDs...)
			if o.Finished {
				tr.finished++
				tr.reason = o.FinishReason
			}
		}
		mu.Lock()
		defer mu.Unlock()
		id, err := e.AddRequest(context.Background(), tr.req)
		require.NoError(t, err)
		all[id] = tr
		order = append(order, id)
	}
	// Aborts from another goroutine, racing the steps.
	aborts := make(chan uint64, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for id := range aborts {
			_ = e.Abort(id) // may have finished already
		}
	}()
	for step := 0; step < 2000 && (len(order) < 80 || e.HasUnfinished()); step++ {
		if len(order) < 80 && rng.IntN(3) == 0 {
			add()
		}
		if len(order) > 0 && rng.IntN(12) == 0 {
			aborts <- order[rng.IntN(len(order))]
		}
		_, err := e.Step(context.Background())
		require.NoError(t, err)
		st := e.Stats().Blocks
		require.Equal(t, st.Total, st.Free+st.Used, "step %d", step)
	}
	close(aborts)
	<-done
	for e.HasUnfinished() { // aborts that landed after the last step
		_, err := e.Step(context.Background())
		require.NoError(t, err)
	}
	require.Zero(t, e.Stats().Blocks.Used)
	aborted := 0
	for id, tr := range all {
		require.Equal(t, 1, tr.finished, "request %d finished once", id)
		want := tr.want[len(tr.req.PromptIDs):]
		if tr.reason == sequence.Aborted {
			aborted++
			require.True(t, len(tr.tokens) <= len(want) && slices.Equal(want[:len(tr.tokens)], tr.tokens), "request %d", id)
			continue
		}
		require.Equal(t, want, tr.tokens, "request %d", id)
	}
	st := e.Stats()
	require.Positive(t, aborted)
	require.Positive(t, st.SpecAccepted)
	require.Positive(t, st.Preemptions)
	t.Logf("%d requests, %d aborted, %d preemptions, %d verifications, %d of %d proposals accepted",
		len(all), aborted, st.Preemptions, st.SpecSteps, st.SpecAccepted, st.SpecProposed)
}
