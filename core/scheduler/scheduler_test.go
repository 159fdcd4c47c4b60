package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

func newScheduler(t testing.TB, cfg Config, numBlocks, blockSize int) *Scheduler {
	t.Helper()
	m, err := block.NewManager(numBlocks, blockSize, true)
	require.NoError(t, err)
	s, err := New(cfg, m)
	require.NoError(t, err)
	return s
}

// span returns n tokens start, start+1, ...
func span(start, n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(start + i)
	}
	return s
}

// newSeq makes a sequence that arrives at time id, so arrival order is
// deterministic.
func newSeq(id uint64, prompt []int32) *sequence.Sequence {
	seq := sequence.New(id, prompt)
	seq.Arrival = time.Unix(0, int64(id))
	return seq
}

func add(t testing.TB, s *Scheduler, id uint64, prompt []int32) *sequence.Sequence {
	t.Helper()
	seq := newSeq(id, prompt)
	require.NoError(t, s.Add(seq))
	return seq
}

// stepWith runs one step and postprocesses it with the given samples.
func stepWith(t testing.TB, s *Scheduler, sampled ...int32) *Plan {
	t.Helper()
	b := s.Schedule()
	require.NoError(t, s.Postprocess(b, sampled))
	return b
}

// view is a deep copy of a plan's step, the part a device reads, for
// comparisons across steps.
func view(b *Plan) step.Step {
	c := func(s []int32) []int32 { return append([]int32{}, s...) }
	st := b.Step
	return step.Step{TokenIDs: c(st.TokenIDs), Positions: c(st.Positions), Slots: c(st.Slots), TokenSeqs: c(st.TokenSeqs),
		QueryStarts: c(st.QueryStarts), ContextLens: c(st.ContextLens), BlockTables: c(st.BlockTables),
		BlockTableStride: st.BlockTableStride, BlockSize: st.BlockSize, LogitsRows: c(st.LogitsRows), LogitsSeqs: c(st.LogitsSeqs)}
}

func ids(seqs []*sequence.Sequence) []uint64 {
	out := []uint64{}
	for _, s := range seqs {
		out = append(out, s.ID)
	}
	return out
}

// TestBatchLayout follows two sequences through four steps and checks every
// field of every batch against values worked out by hand (block size 4,
// 8 tokens per step).
func TestBatchLayout(t *testing.T) {
	s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 8, MaxModelLen: 64}, 16, 4)
	a := add(t, s, 1, span(10, 6))
	b := add(t, s, 2, span(20, 5))

	// Step 1: a's whole prompt (blocks 0, 1) and the first 2 tokens of b's
	// (blocks 2, 3): 8 tokens. Only a is done prefilling.
	b1 := s.Schedule()
	require.Equal(t, []uint64{1, 2}, ids(b1.Seqs))
	require.Equal(t, 4, b1.Step.BlockSize)
	require.Equal(t, step.Step{
		TokenIDs:         []int32{10, 11, 12, 13, 14, 15, 20, 21},
		Positions:        []int32{0, 1, 2, 3, 4, 5, 0, 1},
		Slots:            []int32{0, 1, 2, 3, 4, 5, 8, 9},
		TokenSeqs:        []int32{0, 0, 0, 0, 0, 0, 1, 1},
		QueryStarts:      []int32{0, 6, 8},
		ContextLens:      []int32{6, 2},
		BlockTables:      []int32{0, 1, 2, 3},
		BlockTableStride: 2,
		BlockSize:        4,
		LogitsRows:       []int32{5},
		LogitsSeqs:       []int32{0},
	}, view(b1))
	require.NoError(t, s.Postprocess(b1, []int32{100}))
	require.Equal(t, []int32{100}, a.Output())
	require.Equal(t, 6, a.NumComputed)
	require.Equal(t, 2, b.NumComputed)

	// Step 2: a decodes 100 at position 6; b prefills its last 3 tokens.
	b2 := s.Schedule()
	require.Equal(t, step.Step{
		TokenIDs:         []int32{100, 22, 23, 24},
		Positions:        []int32{6, 2, 3, 4},
		Slots:            []int32{6, 10, 11, 12},
		TokenSeqs:        []int32{0, 1, 1, 1},
		QueryStarts:      []int32{0, 1, 4},
		ContextLens:      []int32{7, 5},
		BlockTables:      []int32{0, 1, 2, 3},
		BlockTableStride: 2,
		BlockSize:        4,
		LogitsRows:       []int32{0, 3},
		LogitsSeqs:       []int32{0, 1},
	}, view(b2))
	require.NoError(t, s.Postprocess(b2, []int32{101, 200}))

	// Step 3: both decode.
	b3 := stepWith(t, s, 102, 201)
	require.Equal(t, []int32{101, 200}, b3.Step.TokenIDs)
	require.Equal(t, []int32{7, 5}, b3.Step.Positions)
	require.Equal(t, []int32{7, 13}, b3.Step.Slots)
	require.Equal(t, []int32{8, 6}, b3.Step.ContextLens)

	// Step 4: a's position 8 opens block 4; tables are padded with -1.
	b4 := s.Schedule()
	require.Equal(t, []int32{102, 201}, b4.Step.TokenIDs)
	require.Equal(t, []int32{8, 6}, b4.Step.Positions)
	require.Equal(t, []int32{16, 14}, b4.Step.Slots)
	require.Equal(t, 3, b4.Step.BlockTableStride)
	require.Equal(t, []int32{0, 1, 4, 2, 3, -1}, b4.Step.BlockTables)
	require.NoError(t, s.Postprocess(b4, []int32{103, 202}))
	require.Equal(t, []int32{100, 101, 102, 103}, a.Output())
	require.Equal(t, []int32{200, 201, 202}, b.Output())
	require.NoError(t, s.Blocks().Check([]*block.Table{&a.Blocks, &b.Blocks}))
}

func TestChunkedPrefill(t *testing.T) {
	s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 8, MaxModelLen: 64}, 16, 4)
	seq := add(t, s, 1, span(0, 20))
	for _, want := range []struct {
		first, n int32
		logits   bool
	}{{0, 8, false}, {8, 8, false}, {16, 4, true}} {
		b := s.Schedule()
		require.Equal(t, span(int(want.first), int(want.n)), b.Step.TokenIDs)
		require.Equal(t, span(int(want.first), int(want.n)), b.Step.Positions)
		require.Equal(t, []int32{want.first + want.n}, b.Step.ContextLens)
		var sampled []int32
		if want.logits {
			require.Equal(t, []int32{want.n - 1}, b.Step.LogitsRows)
			sampled = []int32{99}
		} else {
			require.Empty(t, b.Step.LogitsRows)
		}
		require.NoError(t, s.Postprocess(b, sampled))
	}
	require.Equal(t, []int32{99}, seq.Output())
	b := s.Schedule()
	require.Equal(t, []int32{99}, b.Step.TokenIDs, "then it decodes")
	require.Equal(t, []int32{20}, b.Step.Positions)
}

func TestDecodesGoBeforePrefill(t *testing.T) {
	s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 4, MaxModelLen: 64}, 32, 4)
	dec := add(t, s, 2, span(0, 2))
	stepWith(t, s, 7)
	// p arrived before dec (it was held up elsewhere), so it is served
	// before dec, but its long prefill must not starve dec's decode.
	p := add(t, s, 1, span(100, 30))
	b := stepWith(t, s, 8) // dec decodes, p is admitted with the 3 tokens left
	require.Equal(t, []uint64{2, 1}, ids(b.Seqs))
	require.Equal(t, 3, p.NumComputed)
	for range 3 {
		b = stepWith(t, s, 9)
		require.Equal(t, []uint64{2, 1}, ids(b.Seqs), "the decode goes first")
		require.Equal(t, []int32{0, 1, 4}, b.Step.QueryStarts, "the prefill takes the rest of the budget")
	}
	require.Equal(t, []int32{7, 8, 9, 9, 9}, dec.Output())
}

func TestPrefixCacheHitsCountAsComputed(t *testing.T) {
	sys := span(500, 8) // two blocks of 4
	tests := []struct {
		name       string
		second     []int32
		wantCached int
	}{
		{name: "shared system prompt", second: append(append([]int32{}, sys...), 1, 2, 3), wantCached: 8},
		// Whole prompt cached: the last block is recomputed.
		{name: "identical, block aligned", second: sys, wantCached: 4},
		{name: "no overlap", second: span(0, 9), wantCached: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 64, MaxModelLen: 64}, 16, 4)
			first := add(t, s, 1, sys)
			stepWith(t, s, 1)
			second := add(t, s, 2, tt.second)
			b := s.Schedule()
			require.Equal(t, []uint64{1, 2}, ids(b.Seqs))
			require.Equal(t, tt.wantCached, second.NumCached)
			require.Equal(t, tt.wantCached, second.NumComputed)
			// Only the uncached tail is computed, and its logits are read.
			require.Equal(t, tt.second[tt.wantCached:], b.Step.TokenIDs[1:])
			require.Equal(t, span(tt.wantCached, len(tt.second)-tt.wantCached), b.Step.Positions[1:])
			require.Equal(t, []int32{0, int32(b.NumTokens() - 1)}, b.Step.LogitsRows)
			nShared := tt.wantCached / 4
			require.Equal(t, first.Blocks.Blocks()[:nShared], second.Blocks.Blocks()[:nShared])
			require.NoError(t, s.Postprocess(b, []int32{2, 3}))
			require.NoError(t, s.Blocks().Check([]*block.Table{&first.Blocks, &second.Blocks}))
		})
	}
}

func TestPreemptionPicksTheLastServed(t *testing.T) {
	tests := []struct {
		name       string
		policy     Policy
		priorities []int // of sequences 1, 2, 3
		victim     uint64
	}{
		{name: "fcfs: latest arrival", policy: FCFS, priorities: []int{0, 0, 0}, victim: 3},
		{name: "fcfs ignores priority", policy: FCFS, priorities: []int{0, 0, 9}, victim: 3},
		{name: "priority: lowest priority", policy: Priority, priorities: []int{5, 1, 5}, victim: 2},
		{name: "priority: ties go to arrival", policy: Priority, priorities: []int{1, 3, 1}, victim: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 6 blocks of 2: three 4-token prompts fill them, and the
			// first decode, at position 4, needs a seventh.
			s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 16, MaxModelLen: 64, Policy: tt.policy}, 6, 2)
			var seqs []*sequence.Sequence
			for i, p := range tt.priorities {
				seq := newSeq(uint64(i+1), span(10*i, 4))
				seq.Priority = p
				require.NoError(t, s.Add(seq))
				seqs = append(seqs, seq)
			}
			stepWith(t, s, 1, 1, 1) // all three prefill and sample a 5th token
			require.Zero(t, s.Blocks().NumFree())
			b := s.Schedule() // the first served decode needs a block
			victim := seqs[tt.victim-1]
			require.Equal(t, sequence.Preempted, victim.Status())
			require.Zero(t, victim.Blocks.Len(), "a victim loses its blocks at once")
			require.Zero(t, victim.NumComputed)
			require.NotContains(t, ids(b.Seqs), tt.victim)
			require.Len(t, b.Seqs, 2)
			require.Equal(t, int64(1), s.Stats().Preemptions)
			require.Equal(t, Stats{Waiting: 1, Running: 2, Preemptions: 1}, s.Stats())
			require.NoError(t, s.Postprocess(b, []int32{2, 2}))
			require.Equal(t, []int32{1}, victim.Output(), "generated tokens survive preemption")
		})
	}
}

func TestPreemptedSequenceIsRecomputed(t *testing.T) {
	s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 16, MaxModelLen: 64}, 4, 2)
	a := add(t, s, 1, span(0, 4))
	b := add(t, s, 2, span(10, 4))
	stepWith(t, s, 50, 60)
	stepWith(t, s, 51) // a needs a fifth block for position 4: b is preempted
	require.Equal(t, sequence.Preempted, b.Status())
	require.Equal(t, 1, s.Stats().Waiting)
	// a finishes and b comes back to recompute its prompt and its first
	// output token. Its blocks were cached when freed, tail first; a's new
	// block evicted the tail, so only the head is still there.
	require.NoError(t, s.Finish(a, sequence.Stop))
	nb := s.Schedule()
	require.Equal(t, []uint64{2}, ids(nb.Seqs))
	require.Equal(t, 2, b.NumCached)
	require.Equal(t, []int32{12, 13, 60}, nb.Step.TokenIDs)
	require.Equal(t, []int32{2, 3, 4}, nb.Step.Positions)
	require.NoError(t, s.Postprocess(nb, []int32{61}))
	require.Equal(t, []int32{60, 61}, b.Output())
}

func TestSequenceThatCanNeverFitFinishesWithAnError(t *testing.T) {
	// 2 blocks of 2 tokens: a 3-token prompt can decode 1 token, then its
	// 5th position needs a third block the pool does not have.
	s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 16, MaxModelLen: 64}, 2, 2)
	seq := add(t, s, 1, span(0, 3))
	stepWith(t, s, 7)
	stepWith(t, s, 8)
	b := s.Schedule()
	require.Zero(t, b.NumTokens())
	require.Equal(t, []uint64{1}, ids(b.Finished))
	require.Equal(t, sequence.Error, seq.FinishReason())
	require.ErrorIs(t, seq.Err(), block.ErrOutOfBlocks)
	require.Equal(t, []int32{7, 8}, seq.Output())
	require.False(t, s.HasUnfinished())
	require.Zero(t, s.Blocks().Stats().Used)
	require.NoError(t, s.Postprocess(b, nil))
}

func TestAdd(t *testing.T) {
	running := newSeq(9, span(0, 2))
	require.NoError(t, running.SetStatus(sequence.Running))
	tests := []struct {
		name    string
		seq     *sequence.Sequence
		wantErr error
	}{
		{name: "ok", seq: newSeq(1, span(0, 16))},
		{name: "empty", seq: newSeq(1, nil), wantErr: ErrEmptyPrompt},
		{name: "longer than the model", seq: newSeq(1, span(0, 33)), wantErr: ErrPromptTooLong},
		{name: "longer than the pool", seq: newSeq(1, span(0, 17)), wantErr: block.ErrOutOfBlocks},
		{name: "not new", seq: running},
		{name: "nil", seq: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 4 blocks of 4: prompts up to 16 tokens fit.
			s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 16, MaxModelLen: 32}, 4, 4)
			err := s.Add(tt.seq)
			switch {
			case tt.name == "ok":
				require.NoError(t, err)
				require.True(t, s.HasUnfinished())
				got, ok := s.Lookup(1)
				require.True(t, ok)
				require.Same(t, tt.seq, got)
				require.ErrorIs(t, s.Add(newSeq(1, span(0, 2))), ErrDuplicateRequest)
			case tt.wantErr != nil:
				require.ErrorIs(t, err, tt.wantErr)
				require.False(t, s.HasUnfinished())
			default:
				require.Error(t, err)
				require.False(t, s.HasUnfinished())
			}
		})
	}
}

func TestAddSetsArrival(t *testing.T) {
	s := newScheduler(t, DefaultConfig(), 4, 4)
	seq := sequence.New(1, []int32{1})
	seq.Arrival = time.Time{}
	require.NoError(t, s.Add(seq))
	require.False(t, seq.Arrival.IsZero())
}

func TestAbortInEveryState(t *testing.T) {
	cfg := Config{MaxSeqs: 4, MaxBatchedTokens: 4, MaxModelLen: 64}
	tests := []struct {
		name  string
		setup func(t *testing.T, s *Scheduler) *sequence.Sequence
	}{
		{name: "waiting", setup: func(t *testing.T, s *Scheduler) *sequence.Sequence {
			return add(t, s, 1, span(0, 5))
		}},
		{name: "mid prefill", setup: func(t *testing.T, s *Scheduler) *sequence.Sequence {
			seq := add(t, s, 1, span(0, 7))
			stepWith(t, s)
			require.Equal(t, 4, seq.NumComputed)
			return seq
		}},
		{name: "decoding", setup: func(t *testing.T, s *Scheduler) *sequence.Sequence {
			seq := add(t, s, 1, span(0, 3))
			stepWith(t, s, 5)
			return seq
		}},
		{name: "between Schedule and Postprocess", setup: func(t *testing.T, s *Scheduler) *sequence.Sequence {
			seq := add(t, s, 1, span(0, 3))
			s.Schedule()
			return seq
		}},
		{name: "preempted", setup: func(t *testing.T, s *Scheduler) *sequence.Sequence {
			add(t, s, 2, span(100, 3)) // arrives first, is never the victim
			seq := add(t, s, 3, span(0, 3))
			for range 20 {
				if seq.Status() == sequence.Preempted {
					break
				}
				b := s.Schedule()
				require.NoError(t, s.Postprocess(b, make([]int32, len(b.Step.LogitsRows))))
			}
			require.Equal(t, sequence.Preempted, seq.Status())
			return seq
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(t, cfg, 4, 2)
			seq := tt.setup(t, s)
			require.NoError(t, s.Abort(seq.ID))
			require.Equal(t, sequence.Aborted, seq.FinishReason())
			require.ErrorIs(t, seq.Err(), ErrAborted)
			require.Zero(t, seq.Blocks.Len(), "blocks are released at once")
			var tables []*block.Table
			for id := range uint64(4) {
				if other, ok := s.Lookup(id); ok {
					tables = append(tables, &other.Blocks)
				}
			}
			require.NoError(t, s.Blocks().Check(tables))
			require.ErrorIs(t, s.Abort(seq.ID), ErrUnknownRequest, "twice")
			// The scheduler carries on without it.
			for range 10 {
				b := s.Schedule()
				require.NotContains(t, b.Seqs, seq)
				require.NoError(t, s.Postprocess(b, make([]int32, len(b.Step.LogitsRows))))
			}
		})
	}
	s := newScheduler(t, cfg, 4, 2)
	require.ErrorIs(t, s.Abort(42), ErrUnknownRequest)
}

func TestFinish(t *testing.T) {
	s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 16, MaxModelLen: 64}, 8, 4)
	seq := add(t, s, 1, span(0, 6))
	stepWith(t, s, 9)
	require.NoError(t, s.Finish(seq, sequence.Stop))
	require.Equal(t, sequence.Stop, seq.FinishReason())
	require.NoError(t, seq.Err())
	require.Zero(t, s.Blocks().Stats().Used)
	require.Equal(t, 1, s.Blocks().Stats().Cached, "its full first block stays cached")
	require.ErrorIs(t, s.Finish(seq, sequence.Stop), ErrUnknownRequest)
	require.ErrorIs(t, s.Finish(newSeq(5, span(0, 1)), sequence.Stop), ErrUnknownRequest)
	require.ErrorIs(t, s.Finish(nil, sequence.Stop), ErrUnknownRequest)
	require.Equal(t, Stats{}, s.Stats())
}

func TestPostprocessRejectsMisuse(t *testing.T) {
	s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 16, MaxModelLen: 64}, 8, 4)
	add(t, s, 1, span(0, 3))
	b := s.Schedule()
	require.ErrorContains(t, s.Postprocess(b, nil), "1 logits rows")
	require.ErrorIs(t, s.Postprocess(&Plan{}, nil), ErrStalePlan)
	require.NoError(t, s.Postprocess(b, []int32{1}))
	require.ErrorIs(t, s.Postprocess(b, []int32{1}), ErrStalePlan, "twice")
}

func TestScheduleAgainRepeatsAnUnfinishedStep(t *testing.T) {
	s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 16, MaxModelLen: 64}, 8, 4)
	add(t, s, 1, span(0, 5))
	first := view(s.Schedule())
	// The step failed (say the device errored): schedule it again.
	require.Equal(t, first, view(s.Schedule()))
}

func TestMaxModelLenFinishesWithLength(t *testing.T) {
	s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 16, MaxModelLen: 6}, 8, 4)
	seq := add(t, s, 1, span(0, 4))
	stepWith(t, s, 1) // 5 tokens
	b := stepWith(t, s, 2)
	require.Equal(t, []int32{4}, b.Step.Positions)
	require.True(t, seq.IsFinished())
	require.Equal(t, sequence.Length, seq.FinishReason())
	require.Equal(t, 6, seq.Len())
	require.False(t, s.HasUnfinished())

	// A prompt of exactly MaxModelLen tokens still gets its one token.
	full := add(t, s, 2, span(0, 6))
	b = stepWith(t, s, 3)
	require.Equal(t, int32(5), b.Step.Positions[len(b.Step.Positions)-1])
	require.Equal(t, []int32{3}, full.Output())
	require.Equal(t, sequence.Length, full.FinishReason())
}

func TestMaxSeqs(t *testing.T) {
	s := newScheduler(t, Config{MaxSeqs: 2, MaxBatchedTokens: 64, MaxModelLen: 64}, 32, 4)
	for id := range uint64(5) {
		add(t, s, id+1, span(0, 3))
	}
	b := stepWith(t, s, 1, 1)
	require.Equal(t, []uint64{1, 2}, ids(b.Seqs))
	require.Equal(t, Stats{Waiting: 3, Running: 2}, s.Stats())
	require.NoError(t, s.Abort(1))
	b = s.Schedule()
	require.Equal(t, []uint64{2, 3}, ids(b.Seqs), "a freed place is taken next step")
}

func TestPriorityPolicy(t *testing.T) {
	t.Run("admission order", func(t *testing.T) {
		s := newScheduler(t, Config{MaxSeqs: 2, MaxBatchedTokens: 64, MaxModelLen: 64, Policy: Priority}, 32, 4)
		for i, p := range []int{0, 5, 1, 5} {
			seq := newSeq(uint64(i+1), span(0, 3))
			seq.Priority = p
			require.NoError(t, s.Add(seq))
		}
		b := s.Schedule()
		require.Equal(t, []uint64{2, 4}, ids(b.Seqs), "highest priority first, then arrival")
	})
	t.Run("fcfs ignores priority", func(t *testing.T) {
		s := newScheduler(t, Config{MaxSeqs: 2, MaxBatchedTokens: 64, MaxModelLen: 64}, 32, 4)
		for i, p := range []int{0, 5, 1, 5} {
			seq := newSeq(uint64(i+1), span(0, 3))
			seq.Priority = p
			require.NoError(t, s.Add(seq))
		}
		require.Equal(t, []uint64{1, 2}, ids(s.Schedule().Seqs))
	})
	t.Run("urgent arrival preempts for memory", func(t *testing.T) {
		// 4 blocks of 2: the low-priority sequence holds 3 of them.
		s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 64, MaxModelLen: 64, Policy: Priority}, 4, 2)
		low := add(t, s, 1, span(0, 5))
		stepWith(t, s, 9)
		urgent := newSeq(2, span(50, 4))
		urgent.Priority = 10
		require.NoError(t, s.Add(urgent))
		b := s.Schedule()
		require.Equal(t, sequence.Preempted, low.Status())
		require.Equal(t, []uint64{2}, ids(b.Seqs))
		require.Equal(t, span(50, 4), b.Step.TokenIDs)
	})
	t.Run("equal priority waits", func(t *testing.T) {
		s := newScheduler(t, Config{MaxSeqs: 4, MaxBatchedTokens: 64, MaxModelLen: 64, Policy: Priority}, 4, 2)
		first := add(t, s, 1, span(0, 5))
		stepWith(t, s, 9)
		add(t, s, 2, span(50, 4))
		b := s.Schedule()
		require.Equal(t, sequence.Running, first.Status())
		require.Equal(t, []uint64{1}, ids(b.Seqs))
	})
}

func TestIdleSchedule(t *testing.T) {
	s := newScheduler(t, DefaultConfig(), 8, 4)
	b := s.Schedule()
	require.Zero(t, b.NumTokens())
	require.Zero(t, b.NumSeqs())
	require.Equal(t, []int32{0}, b.Step.QueryStarts)
	require.NoError(t, s.Postprocess(b, nil))
}
