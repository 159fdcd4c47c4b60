package engine

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// TestSnapshot runs two requests whose prompts share a prefix (and a third
// that must wait for a free slot) and checks each snapshot against the
// block manager's and the scheduler's own state, and against counts worked
// out by hand for 4-token blocks.
func TestSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name           string
		prefix         int // tokens the two prompts share
		suffixA        int // then A's own tokens
		suffixB        int // and B's
		wantShared     int // blocks B finds in the prefix cache
		wantCachedFree int // A's blocks left in the prefix cache once it finished
	}{
		// A: 15 tokens, B: 17. B looks up its first (17-1)/4 = 4 blocks:
		// three hold the shared 12 tokens, the fourth is B's own.
		{"three shared blocks", 12, 3, 5, 3, 1},
		// 5 shared tokens fill one block; A's 2nd block holds its own.
		{"one shared block", 5, 10, 9, 1, 3},
		// Nothing in common: B computes its whole prompt.
		{"nothing shared", 0, 9, 9, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, newFakeModel(testVocab, nil), nil, func(c *Config) {
				c.Scheduler.MaxSeqs = 2 // the third request waits
			})
			ctx := context.Background()
			prefix := []int32{}
			for i := range tc.prefix {
				prefix = append(prefix, int32(10+i))
			}
			promptA := append(slices.Clone(prefix), seqOf(100, tc.suffixA)...)
			promptB := append(slices.Clone(prefix), seqOf(150, tc.suffixB)...)
			const maxA = 3 // A ends after 3 tokens; B and C run on
			a, err := e.AddRequest(ctx, Request{PromptIDs: promptA, Params: sampler.Params{MaxTokens: maxA, IgnoreEOS: true}})
			require.NoError(t, err)
			_, err = e.Step(ctx) // A's whole prompt: its full blocks join the prefix cache
			require.NoError(t, err)

			long := sampler.Params{MaxTokens: 40, IgnoreEOS: true}
			b, err := e.AddRequest(ctx, Request{PromptIDs: promptB, Params: long})
			require.NoError(t, err)
			c, err := e.AddRequest(ctx, Request{PromptIDs: seqOf(200, 6), Params: long})
			require.NoError(t, err)
			_, err = e.Step(ctx) // A decodes, B is admitted with its cached prefix
			require.NoError(t, err)

			s := e.Snapshot()
			checkSnapshot(t, e, s)
			require.Equal(t, 4, s.BlockSize)
			require.Equal(t, uint64(3), s.Requests)
			require.Equal(t, []uint64{a, b}, ids(s.Running))
			require.Equal(t, []uint64{c}, ids(s.Waiting))
			require.Equal(t, sequence.Waiting, s.Waiting[0].Status)
			require.Empty(t, s.Waiting[0].Blocks, "a waiting request holds no blocks")
			sb := s.Running[1]
			require.Equal(t, tc.wantShared*4, sb.Cached)
			require.Equal(t, len(promptB), sb.Computed)
			require.Equal(t, len(promptB)+1, sb.Len)
			require.Equal(t, s.Running[0].Blocks[:tc.wantShared], sb.Blocks[:tc.wantShared], "B's first blocks are A's")
			shared := 0
			for i, ref := range s.Pool.RefCounts {
				if ref > 1 {
					shared++
					require.Equal(t, a, s.Owners[i], "a shared block is listed under its first holder")
				}
			}
			require.Equal(t, tc.wantShared, shared)
			// The step: A decoded one token; B computed what the cache lacked.
			require.Equal(t, 2, s.LastBatch.Seqs)
			require.Equal(t, 1, s.LastBatch.DecodeSeqs)
			require.Equal(t, 1, s.LastBatch.DecodeTokens)
			require.Equal(t, len(promptB)-4*tc.wantShared, s.LastBatch.PrefillTokens)
			require.Equal(t, int64(len(promptA)+len(promptB)), s.Pool.Stats.PrefixQueryTokens)
			require.Equal(t, int64(4*tc.wantShared), s.Pool.Stats.PrefixHitTokens)

			// Run until A finishes: its private full blocks stay in the
			// prefix cache as cached-free blocks; C takes its slot.
			genA := slices.Clone(s.Pool.Gens)
			for e.reqs[a] != nil {
				_, err := e.Step(ctx)
				require.NoError(t, err)
			}
			_, err = e.Step(ctx) // C is admitted into A's place
			require.NoError(t, err)
			e.SnapshotInto(s) // reusing the same buffers
			checkSnapshot(t, e, s)
			require.Equal(t, []uint64{b, c}, ids(s.Running))
			require.Empty(t, s.Waiting)
			cachedFree := 0
			for i, st := range s.Pool.States {
				if st == block.Cached {
					cachedFree++
					require.Zero(t, s.Owners[i])
				}
			}
			require.Equal(t, tc.wantCachedFree, cachedFree)
			for i, ref := range s.Pool.RefCounts {
				require.LessOrEqual(t, ref, int32(1), "block %d: nothing is shared once A is gone", i)
			}
			// C's blocks were handed out since the first snapshot.
			for _, id := range s.Running[1].Blocks {
				require.Greater(t, s.Pool.Gens[id], genA[id], "block %d was allocated to C", id)
			}
		})
	}
}

// checkSnapshot compares s with the block manager's per-block state and
// the block tables of the engine's live requests.
func checkSnapshot(t *testing.T, e *Engine, s *Snapshot) {
	t.Helper()
	m := e.sched.Blocks()
	st := m.Stats()
	require.Equal(t, st, s.Pool.Stats)
	require.Len(t, s.Pool.States, m.NumBlocks())
	holders := map[int32][]uint64{}
	for id, r := range e.reqs {
		for _, b := range r.seq.Blocks.Blocks() {
			holders[b] = append(holders[b], id)
		}
	}
	counts := map[block.State]int{}
	for i := range s.Pool.States {
		id := int32(i)
		blk := m.Block(id)
		want := block.Empty
		switch {
		case blk.RefCount > 0:
			want = block.Used
		case blk.Registered:
			want = block.Cached
		}
		require.Equal(t, want, s.Pool.States[i], "block %d", i)
		counts[want]++
		require.Equal(t, blk.RefCount, int(s.Pool.RefCounts[i]), "block %d", i)
		require.Equal(t, blk.Registered, s.Pool.Hashed[i], "block %d", i)
		require.Len(t, holders[id], blk.RefCount, "block %d: one reference per table holding it", i)
		if blk.RefCount == 0 {
			require.Zero(t, s.Owners[i], "block %d", i)
		} else {
			require.Contains(t, holders[id], s.Owners[i], "block %d", i)
		}
	}
	require.Equal(t, st.Used, counts[block.Used])
	require.Equal(t, st.Cached, counts[block.Cached])
	require.Equal(t, st.Free, counts[block.Empty]+counts[block.Cached])
	for _, q := range [][]SeqSnapshot{s.Running, s.Waiting} {
		for _, q := range q {
			r := e.reqs[q.ID]
			require.NotNil(t, r, "request %d is live", q.ID)
			require.Equal(t, r.seq.Status(), q.Status)
			require.Equal(t, append([]int32{}, r.seq.Blocks.Blocks()...), append([]int32{}, q.Blocks...), "request %d's block table", q.ID)
			require.Equal(t, r.seq.NumComputed, q.Computed)
		}
	}
	sst := e.sched.Stats()
	require.Len(t, s.Running, sst.Running)
	require.Len(t, s.Waiting, sst.Waiting)
}

func seqOf(start int32, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = start + int32(i)
	}
	return out
}

func ids(q []SeqSnapshot) []uint64 {
	out := make([]uint64, len(q))
	for i, s := range q {
		out[i] = s.ID
	}
	return out
}

// TestSnapshotIntoReusesBuffers checks that a snapshot taken into the same
// Snapshot again allocates nothing: cheap enough to take every step.
func TestSnapshotIntoReusesBuffers(t *testing.T) {
	e := newEngine(t, newFakeModel(testVocab, nil), nil, nil)
	ctx := context.Background()
	for i := range 4 {
		_, err := e.AddRequest(ctx, Request{PromptIDs: seqOf(int32(10*i), 9), Params: sampler.Params{MaxTokens: 30, IgnoreEOS: true}})
		require.NoError(t, err)
	}
	for range 3 {
		_, err := e.Step(ctx)
		require.NoError(t, err)
	}
	var s Snapshot
	e.SnapshotInto(&s)
	require.Len(t, s.Running, 4)
	allocs := testing.AllocsPerRun(20, func() { e.SnapshotInto(&s) })
	require.Zero(t, allocs)
}
