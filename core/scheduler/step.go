package scheduler

import (
	"errors"
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// Schedule builds the next step. The batch mixes, under MaxBatchedTokens
// and MaxSeqs:
//
//  1. one token for every running sequence that is decoding;
//  2. the next chunk of every running sequence still prefilling;
//  3. newly admitted waiting sequences, whose prompts get blocks (reusing
//     prefix-cache hits, which count as computed) and a first chunk.
//
// When a running sequence needs a block and none is free, the sequence
// served last is preempted (lowest priority, latest arrival): it loses its
// blocks and goes back to waiting, to be recomputed later. No sequence is
// admitted in a step that preempted. A sequence that cannot fit even with
// the whole pool to itself is finished with FinishReason Error and an Err
// wrapping block.ErrOutOfBlocks, and listed in Batch.Finished.
//
// The Batch and its slices are reused by the next Schedule. A batch with no
// tokens means there is nothing to run now. Calling Schedule again without
// Postprocess drops the previous step: its tokens are scheduled again.
func (s *Scheduler) Schedule() *Batch {
	s.compact()
	s.plan = s.plan[:0]
	s.budget = s.cfg.MaxBatchedTokens
	b := &s.batch
	b.Finished = b.Finished[:0]

	s.preempted = false
	// Decodes first, so a long prefill cannot starve them.
	for pass := range 2 {
		for i := 0; i < len(s.running) && s.budget > 0; i++ {
			seq := s.running[i]
			if seq.Status() != sequence.Running {
				continue
			}
			rem := seq.NumUncomputed()
			if (rem == 1) != (pass == 0) {
				continue
			}
			n := min(rem, s.budget)
			if !s.reserve(seq, n) {
				continue
			}
			s.plan = append(s.plan, planned{seq, n})
			s.budget -= n
		}
	}
	// A step that had to preempt is short of memory: admitting more now
	// would only lead to more preemption.
	if !s.preempted {
		s.admit()
	}
	s.fill()
	s.pending = true
	return b
}

// reserve makes room in seq's blocks for n more tokens, preempting others
// if it must. It returns false if seq itself was preempted or finished.
func (s *Scheduler) reserve(seq *sequence.Sequence, n int) bool {
	for {
		err := s.blocks.AppendSlot(&seq.Blocks, seq.NumComputed+n)
		if err == nil {
			return true
		}
		victim := s.lastRunning()
		if victim != seq {
			s.preempt(victim)
			continue
		}
		if s.numRunning == 1 {
			// Alone, every other block is free or evictable: it can never fit.
			s.finishFailed(seq, fmt.Errorf("scheduler: sequence %d at %d tokens: %w", seq.ID, seq.NumComputed+n, err))
			return false
		}
		s.preempt(seq)
		return false
	}
}

// admit moves waiting sequences to running while the step has room.
func (s *Scheduler) admit() {
	i := 0
	for ; i < len(s.waiting) && s.budget > 0 && s.numRunning < s.cfg.MaxSeqs; i++ {
		seq := s.waiting[i]
		if st := seq.Status(); st != sequence.Waiting && st != sequence.Preempted {
			continue
		}
		cached, err := s.blocks.Allocate(&seq.Blocks, seq.TokenIDs)
		for err != nil && errors.Is(err, block.ErrOutOfBlocks) && s.cfg.Policy == Priority {
			// A higher-priority arrival may take the memory of running
			// sequences of lower priority.
			victim := s.lastRunning()
			if victim == nil || victim.Priority >= seq.Priority {
				break
			}
			s.preempt(victim)
			cached, err = s.blocks.Allocate(&seq.Blocks, seq.TokenIDs)
		}
		if err != nil {
			if s.numRunning == 0 {
				s.finishFailed(seq, fmt.Errorf("scheduler: sequence %d at %d tokens: %w", seq.ID, seq.Len(), err))
				continue
			}
			break // head-of-line: later arrivals do not overtake it
		}
		if err := seq.SetStatus(sequence.Running); err != nil {
			panic(fmt.Sprintf("scheduler: admitting %v: %v", seq, err)) // the queue holds only waiting and preempted sequences
		}
		seq.NumComputed, seq.NumCached = cached, cached
		s.numWaiting--
		s.dirtyWaiting = true
		s.numRunning++
		// Insurance: a sequence preempted earlier in this step must not be
		// listed twice should it come back. (By counting blocks it cannot:
		// it would have left room for seq without being preempted.)
		s.compactRunning()
		s.running = s.insertOrdered(s.running, seq)
		n := min(seq.NumUncomputed(), s.budget)
		s.plan = append(s.plan, planned{seq, n})
		s.budget -= n
	}
}

// finishFailed ends a sequence that cannot run and reports it in the batch.
func (s *Scheduler) finishFailed(seq *sequence.Sequence, err error) {
	if ferr := s.finish(seq, sequence.Error, err); ferr != nil {
		panic(ferr) // seq is live and not finished
	}
	s.batch.Finished = append(s.batch.Finished, seq)
}

// fill writes the plan into the batch's flat arrays.
func (s *Scheduler) fill() {
	b := &s.batch
	bs := s.blocks.BlockSize()
	b.Seqs = b.Seqs[:0]
	b.TokenIDs, b.Positions, b.Slots = b.TokenIDs[:0], b.Positions[:0], b.Slots[:0]
	b.QueryStarts, b.ContextLens = b.QueryStarts[:0], b.ContextLens[:0]
	b.LogitsRows, b.LogitsSeqs = b.LogitsRows[:0], b.LogitsSeqs[:0]
	b.BlockSize = bs
	stride := 0
	for _, p := range s.plan {
		stride = max(stride, p.seq.Blocks.Len())
	}
	b.BlockTableStride = stride
	if need := len(s.plan) * stride; cap(b.BlockTables) >= need {
		b.BlockTables = b.BlockTables[:need]
	} else {
		b.BlockTables = make([]int32, need)
	}
	for i, p := range s.plan {
		seq, c := p.seq, p.seq.NumComputed
		b.Seqs = append(b.Seqs, seq)
		b.QueryStarts = append(b.QueryStarts, int32(len(b.TokenIDs)))
		ids := seq.Blocks.Blocks()
		if p.n == 1 { // a decode: the common case, worth its own path
			b.TokenIDs = append(b.TokenIDs, seq.TokenIDs[c])
			b.Positions = append(b.Positions, int32(c))
			b.Slots = append(b.Slots, ids[c/bs]*int32(bs)+int32(c%bs))
		} else {
			b.TokenIDs = append(b.TokenIDs, seq.TokenIDs[c:c+p.n]...)
			for pos := c; pos < c+p.n; pos++ {
				b.Positions = append(b.Positions, int32(pos))
				b.Slots = append(b.Slots, ids[pos/bs]*int32(bs)+int32(pos%bs))
			}
		}
		b.ContextLens = append(b.ContextLens, int32(c+p.n))
		row := b.BlockTables[i*stride : (i+1)*stride]
		copy(row, ids)
		for j := len(ids); j < stride; j++ {
			row[j] = -1
		}
		if c+p.n == seq.Len() {
			b.LogitsRows = append(b.LogitsRows, int32(len(b.TokenIDs)-1))
			b.LogitsSeqs = append(b.LogitsSeqs, int32(i))
		}
	}
	b.QueryStarts = append(b.QueryStarts, int32(len(b.TokenIDs)))
}

// Postprocess records the outcome of the step b: the tokens it computed now
// have keys and values in the cache (and full blocks join the prefix cache),
// and sampled[k], the token sampled from logits row k, is appended to
// sequence b.Seqs[b.LogitsSeqs[k]].
//
// A sequence that reaches MaxModelLen is finished with reason Length. The
// engine then applies its own stop conditions through Finish. Sequences
// aborted since Schedule are skipped.
func (s *Scheduler) Postprocess(b *Batch, sampled []int32) error {
	if b != &s.batch || !s.pending {
		return fmt.Errorf("scheduler: postprocess: %w", ErrStaleBatch)
	}
	if len(sampled) != len(b.LogitsRows) {
		return fmt.Errorf("scheduler: postprocess: %d sampled tokens for %d logits rows", len(sampled), len(b.LogitsRows))
	}
	s.pending = false
	for _, p := range s.plan {
		seq := p.seq
		if seq.Status() != sequence.Running {
			continue
		}
		seq.NumComputed += p.n
		s.blocks.Commit(&seq.Blocks, seq.TokenIDs, seq.NumComputed)
	}
	for k, row := range b.LogitsSeqs {
		seq := b.Seqs[row]
		if seq.Status() != sequence.Running {
			continue
		}
		seq.Append(sampled[k])
		if seq.Len() >= s.cfg.MaxModelLen {
			if err := s.finish(seq, sequence.Length, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
