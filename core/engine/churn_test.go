package engine

import (
	"context"
	"math/rand/v2"
	"slices"
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
