package qwen3

import (
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/stretchr/testify/require"
)

// TestSchedulerSteps drives the model with the real scheduler and block
// manager: every prompt of a fixture twice (the second copy finds the
// first's full blocks in the prefix cache), chunked prefill under a small
// token budget, and a KV cache too small for everything at once, so that
// sequences are preempted and recomputed. Every continuation must equal
// transformers' greedy tokens.
func TestSchedulerSteps(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx, func(t *testing.T) {
			ref := loadReference(t, fx)
			m := loadModel(t, fx, cpuDefault)
			const numBlocks, bs = 12, 16
			require.NoError(t, m.NewKVCache(numBlocks, bs))
			blocks, err := block.NewManager(numBlocks, bs, true)
			require.NoError(t, err)
			sched, err := scheduler.New(scheduler.Config{
				MaxSeqs: 6, MaxBatchedTokens: 37, MaxModelLen: 256, Policy: scheduler.FCFS,
			}, blocks)
			require.NoError(t, err)
			want := map[uint64][]int32{}
			seqs := map[uint64]*sequence.Sequence{}
			id := uint64(0)
			for range 2 {
				for _, c := range ref.Cases {
					id++
					s := sequence.New(id, c.Prompt)
					require.NoError(t, sched.Add(s))
					seqs[id], want[id] = s, c.Greedy.Tokens
				}
			}
			for steps := 0; sched.HasUnfinished(); steps++ {
				require.Less(t, steps, 5000, "scheduler made no progress")
				b := sched.Schedule()
				if b.NumTokens() == 0 {
					continue
				}
				ids, err := m.ForwardArgmax(b.Step)
				require.NoError(t, err)
				require.NoError(t, sched.Postprocess(b, ids))
				for _, s := range seqs {
					if !s.IsFinished() && s.NumOutputTokens() == greedySteps {
						require.NoError(t, sched.Finish(s, sequence.Length))
					}
				}
			}
			for sid, s := range seqs {
				require.Equal(t, want[sid], s.Output(), "sequence %d", sid)
			}
			require.Positive(t, sched.Stats().Preemptions, "the test should exercise preemption")
			require.Positive(t, blocks.Stats().PrefixHitTokens, "the test should exercise the prefix cache")
			t.Logf("%s: %d preemptions, %d prefix-cache hit tokens", fx, sched.Stats().Preemptions, blocks.Stats().PrefixHitTokens)
		})
	}
}
