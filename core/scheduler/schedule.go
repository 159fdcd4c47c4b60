package scheduler

import (
	"errors"
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// Schedule plans the next step. The step mixes, under MaxBatchedTokens
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
// wrapping block.ErrOutOfBlocks, and listed in Plan.Finished.
//
// The Plan, its Step and their slices are reused by the next Schedule. A
// step with no tokens means there is nothing to run now. Calling Schedule
// again without Postprocess drops the previous step: its tokens are
// scheduled again.
func (s *Scheduler) Schedule() *Plan {
	s.compact()
	s.planned = s.planned[:0]
	s.budget = s.cfg.MaxBatchedTokens
	p := &s.out
	p.Finished = p.Finished[:0]

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
			if rem == 1 && len(seq.Proposals) > 0 {
				// A decode verifies its proposals in the same step, as far
				// as the budget and the maximum length allow.
				rem += min(len(seq.Proposals), s.cfg.MaxModelLen-seq.Len()-1)
			}
			n := min(rem, s.budget)
			if !s.reserve(seq, n) {
				continue
			}
			s.planned = append(s.planned, planned{seq, n, pass == 0 && n > 1})
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
	return p
}

// reserve makes room in seq's blocks for n more tokens, preempting others
// if it must. It returns false if seq itself was preempted or finished.
func (s *Scheduler) reserve(seq *sequence.Sequence, n int) bool {
	// Slots reserved for proposals of a step that never ran (the engine
	// dropped it) and are not wanted now go back first.
	if need := seq.NumComputed + n; seq.Blocks.Capacity(s.blocks.BlockSize()) >= need+s.blocks.BlockSize() {
		if err := s.blocks.Truncate(&seq.Blocks, need); err != nil {
			panic(fmt.Sprintf("scheduler: %v: %v", seq, err)) // NumComputed covers every committed block
		}
	}
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
		s.planned = append(s.planned, planned{seq, n, false})
		s.budget -= n
	}
}

// finishFailed ends a sequence that cannot run and reports it in the batch.
func (s *Scheduler) finishFailed(seq *sequence.Sequence, err error) {
	if ferr := s.finish(seq, sequence.Error, err); ferr != nil {
		panic(ferr) // seq is live and not finished
	}
	s.out.Finished = append(s.out.Finished, seq)
}

// fill lays the planned sequences out as the plan's step.
func (s *Scheduler) fill() {
	p := &s.out
	stride := 0
	for _, pl := range s.planned {
		stride = max(stride, pl.seq.Blocks.Len())
	}
	s.builder.Reset(s.blocks.BlockSize(), stride)
	p.Seqs = p.Seqs[:0]
	for _, pl := range s.planned {
		seq, c := pl.seq, pl.seq.NumComputed
		p.Seqs = append(p.Seqs, seq)
		if pl.spec {
			s.builder.AddProposals(seq.TokenIDs, c, seq.Proposals[:pl.n-1], seq.Blocks.Blocks())
			continue
		}
		logits := 0
		if c+pl.n == seq.Len() {
			logits = 1 // the prompt is all in the cache: the next token's
		}
		s.builder.Add(seq.TokenIDs, c, c+pl.n, seq.Blocks.Blocks(), logits)
	}
	p.Step = s.builder.Step()
}

// Postprocess records the outcome of the step of plan p: the tokens it
// computed now have keys and values in the cache (and full blocks join the
// prefix cache), and sampled[k], the token sampled from logits row k, is
// appended to sequence p.Seqs[p.Step.LogitsSeqs[k]].
//
// A sequence that verified proposals (speculative decoding) has one logits
// row per computed token, and its rows of sampled hold the tokens it emits
// in order: the accepted proposals, then one sampled token, then -1 for
// every rejected proposal. Only the accepted tokens' keys and values count
// as computed; the blocks reserved for the rejected ones return to the
// pool, and no prefix-cache entry ever names a rejected token.
//
// A sequence that reaches MaxModelLen is finished with reason Length. The
// engine then applies its own stop conditions through Finish. Sequences
// aborted since Schedule are skipped.
func (s *Scheduler) Postprocess(p *Plan, sampled []int32) error {
	if p != &s.out || !s.pending {
		return fmt.Errorf("scheduler: postprocess: %w", ErrStalePlan)
	}
	rows := p.Step.LogitsSeqs
	if len(sampled) != len(rows) {
		return fmt.Errorf("scheduler: postprocess: %d sampled tokens for %d logits rows", len(sampled), len(rows))
	}
	s.pending = false
	r := 0
	for i, pl := range s.planned {
		seq := pl.seq
		lo := r
		for r < len(rows) && rows[r] == int32(i) {
			r++
		}
		out := sampled[lo:r]
		if seq.Status() != sequence.Running {
			continue
		}
		if !pl.spec {
			seq.NumComputed += pl.n
			s.blocks.Commit(&seq.Blocks, seq.TokenIDs, seq.NumComputed)
			if len(out) > 0 {
				seq.Append(out[0])
			}
		} else {
			m := 0
			for m < len(out) && out[m] >= 0 {
				m++
			}
			if m == 0 {
				return fmt.Errorf("scheduler: postprocess: sequence %d verified %d proposals but emitted no token", seq.ID, pl.n-1)
			}
			for _, tok := range out[:m] {
				seq.Append(tok)
			}
			// The last token and the m-1 accepted proposals.
			seq.NumComputed += m
			s.blocks.Commit(&seq.Blocks, seq.TokenIDs, seq.NumComputed)
			if err := s.blocks.Truncate(&seq.Blocks, seq.Len()); err != nil {
				return fmt.Errorf("scheduler: postprocess: %w", err)
			}
		}
		seq.Proposals = seq.Proposals[:0]
		if len(out) > 0 && seq.Len() >= s.cfg.MaxModelLen {
			if err := s.finish(seq, sequence.Length, nil); err != nil {
				return err
			}
		}
	}
	return nil
}
