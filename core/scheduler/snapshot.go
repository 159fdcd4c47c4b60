package scheduler

import (
	"iter"

	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// Read-only views of the scheduler's state, for pictures of the engine at
// work (core/engine's Snapshot). None of them changes anything.

// Waiting yields the sequences waiting to be admitted (new and preempted
// ones), in service order: the first is admitted first.
func (s *Scheduler) Waiting() iter.Seq[*sequence.Sequence] {
	return func(yield func(*sequence.Sequence) bool) {
		for _, seq := range s.waiting {
			if st := seq.Status(); st != sequence.Waiting && st != sequence.Preempted {
				continue // left the queue; compact drops it later
			}
			if !yield(seq) {
				return
			}
		}
	}
}

// Running yields the admitted sequences in service order: the last is the
// first to be preempted.
func (s *Scheduler) Running() iter.Seq[*sequence.Sequence] {
	return func(yield func(*sequence.Sequence) bool) {
		for _, seq := range s.running {
			if seq.Status() != sequence.Running {
				continue
			}
			if !yield(seq) {
				return
			}
		}
	}
}

// Batch is what one step computed, by kind of work.
type Batch struct {
	// Seqs is the number of sequences in the step.
	Seqs int
	// DecodeSeqs of them decoded: computed their latest generated token
	// (with speculative decoding, and the proposals it verified), giving
	// DecodeTokens tokens in all.
	DecodeSeqs, DecodeTokens int
	// The others computed a chunk of their prompt (or, after a preemption,
	// of the tokens they must recompute): PrefillTokens tokens in all.
	PrefillTokens int
	// Preempted reports that planning the step preempted a sequence.
	Preempted bool
}

// LastBatch describes the step of the latest Schedule: the one running, or
// the last one run. A sequence decodes in a step when it computes one token
// past its prompt (plus the proposals it verifies); everything else is
// prefill. It is O(sequences in the step).
func (s *Scheduler) LastBatch() Batch {
	b := Batch{Seqs: len(s.planned), Preempted: s.preempted}
	st := s.out.Step
	for i, pl := range s.planned {
		decode := pl.spec
		if !decode && pl.n == 1 && st != nil && i+1 < len(st.QueryStarts) {
			decode = int(st.Positions[st.QueryStarts[i]]) >= pl.seq.NumPromptTokens
		}
		if decode {
			b.DecodeSeqs++
			b.DecodeTokens += pl.n
		} else {
			b.PrefillTokens += pl.n
		}
	}
	return b
}
