// Package scheduler decides, step by step, which tokens the model computes:
// continuous batching with chunked prefill, prefix caching and preemption,
// over the paged KV memory of package block.
//
// Every step the engine calls Schedule, runs the model on the step.Step of
// the Plan it returns, samples one token for each of the step's logits rows,
// and hands them back with Postprocess. Between steps it applies its stop conditions
// with Finish and cancels requests with Abort. Sequences join and leave the
// batch at every step: nothing waits for the slowest request of a batch.
package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// Stats are the scheduler's counters.
type Stats struct {
	// Waiting counts sequences waiting to be admitted, preempted ones
	// included; Running counts admitted ones.
	Waiting, Running int
	// Preemptions counts every time a running sequence lost its blocks.
	Preemptions int64
}

// planned is a sequence scheduled in the step being built, with its number
// of tokens to compute. A decode that verifies proposals (speculative
// decoding) computes its last token and the first n-1 of seq.Proposals.
type planned struct {
	seq  *sequence.Sequence
	n    int
	spec bool
}

// Scheduler is a continuous-batching scheduler. It is not safe for
// concurrent use: one engine loop drives it.
type Scheduler struct {
	cfg    Config
	blocks *block.Manager

	// waiting holds Waiting and Preempted sequences, running the Running
	// ones, each in service order (see before). Sequences that leave a
	// queue stay in it until compact drops them, so finishing is O(1).
	waiting, running           []*sequence.Sequence
	numWaiting, numRunning     int
	dirtyWaiting, dirtyRunning bool
	live                       map[uint64]*sequence.Sequence

	// The step being built, and the plan handed out, reused every step.
	planned     []planned
	budget      int
	preempted   bool // the step being built preempted a sequence
	out         Plan
	builder     step.Builder
	pending     bool
	preemptions int64
}

// New returns a scheduler over the blocks of m.
func New(cfg Config, m *block.Manager) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("scheduler: New with a nil block manager")
	}
	return &Scheduler{cfg: cfg, blocks: m, live: make(map[uint64]*sequence.Sequence)}, nil
}

// Config returns the scheduler's configuration.
func (s *Scheduler) Config() Config { return s.cfg }

// Blocks returns the block manager the scheduler allocates from.
func (s *Scheduler) Blocks() *block.Manager { return s.blocks }

// Stats returns the current counters.
func (s *Scheduler) Stats() Stats {
	return Stats{Waiting: s.numWaiting, Running: s.numRunning, Preemptions: s.preemptions}
}

// HasUnfinished reports whether any added sequence has not finished.
func (s *Scheduler) HasUnfinished() bool { return len(s.live) > 0 }

// Lookup returns the live sequence with the given id.
func (s *Scheduler) Lookup(id uint64) (*sequence.Sequence, bool) {
	seq, ok := s.live[id]
	return seq, ok
}

// Add queues a new sequence. It fails, leaving seq untouched, if the prompt
// is empty, longer than MaxModelLen, or needs more blocks than the whole
// pool, or if the id is already live. A zero Arrival is set to now.
func (s *Scheduler) Add(seq *sequence.Sequence) error {
	switch {
	case seq == nil:
		return errors.New("scheduler: Add(nil)")
	case seq.Status() != sequence.Waiting || seq.NumComputed != 0 || seq.Blocks.Len() != 0:
		return fmt.Errorf("scheduler: add %v: want a new waiting sequence", seq)
	case seq.NumPromptTokens <= 0 || seq.NumPromptTokens != seq.Len():
		return fmt.Errorf("scheduler: add sequence %d with %d prompt tokens of %d: %w", seq.ID, seq.NumPromptTokens, seq.Len(), ErrEmptyPrompt)
	case seq.Len() > s.cfg.MaxModelLen:
		return fmt.Errorf("scheduler: sequence %d has %d prompt tokens, the limit is %d: %w", seq.ID, seq.Len(), s.cfg.MaxModelLen, ErrPromptTooLong)
	}
	if need := block.NumBlocksFor(seq.Len(), s.blocks.BlockSize()); need > s.blocks.NumBlocks() {
		return fmt.Errorf("scheduler: sequence %d's %d-token prompt needs %d blocks, the KV cache has %d: %w",
			seq.ID, seq.Len(), need, s.blocks.NumBlocks(), block.ErrOutOfBlocks)
	}
	if _, dup := s.live[seq.ID]; dup {
		return fmt.Errorf("scheduler: add sequence %d: %w", seq.ID, ErrDuplicateRequest)
	}
	if seq.Arrival.IsZero() {
		seq.Arrival = time.Now()
	}
	s.live[seq.ID] = seq
	s.enqueueWaiting(seq)
	return nil
}

// before reports whether a is served before b: higher priority first under
// the Priority policy, then earlier arrival, then lower id. Preemption
// picks its victims from the other end.
func (s *Scheduler) before(a, b *sequence.Sequence) bool {
	if s.cfg.Policy == Priority && a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if !a.Arrival.Equal(b.Arrival) {
		return a.Arrival.Before(b.Arrival)
	}
	return a.ID < b.ID
}

// insertOrdered inserts seq into q, which is in service order. Most
// insertions land at the end, so the search starts there.
func (s *Scheduler) insertOrdered(q []*sequence.Sequence, seq *sequence.Sequence) []*sequence.Sequence {
	i := len(q)
	for i > 0 && s.before(seq, q[i-1]) {
		i--
	}
	return slices.Insert(q, i, seq)
}

func (s *Scheduler) enqueueWaiting(seq *sequence.Sequence) {
	s.waiting = s.insertOrdered(s.waiting, seq)
	s.numWaiting++
}

// Abort finishes the live sequence id with reason Aborted and Err
// ErrAborted, whatever its state, and frees its blocks at once.
func (s *Scheduler) Abort(id uint64) error {
	seq, ok := s.live[id]
	if !ok {
		return fmt.Errorf("scheduler: abort %d: %w", id, ErrUnknownRequest)
	}
	return s.finish(seq, sequence.Aborted, fmt.Errorf("sequence %d: %w", id, ErrAborted))
}

// Finish ends a live sequence for reason, as the engine does when a stop
// condition is met (stop token, max tokens, stop string), and frees its
// blocks.
func (s *Scheduler) Finish(seq *sequence.Sequence, reason sequence.FinishReason) error {
	if seq == nil || s.live[seq.ID] != seq {
		return fmt.Errorf("scheduler: finish %v: %w", seq, ErrUnknownRequest)
	}
	return s.finish(seq, reason, nil)
}

func (s *Scheduler) finish(seq *sequence.Sequence, reason sequence.FinishReason, err error) error {
	prev := seq.Status()
	if ferr := seq.Finish(reason, err); ferr != nil {
		return fmt.Errorf("scheduler: %w", ferr)
	}
	s.blocks.Free(&seq.Blocks)
	delete(s.live, seq.ID)
	if prev == sequence.Running {
		s.numRunning--
		s.dirtyRunning = true
	} else {
		s.numWaiting--
		s.dirtyWaiting = true
	}
	return nil
}

// preempt frees a running sequence's blocks and queues it for
// recomputation. If it is part of the step being built, it leaves it.
func (s *Scheduler) preempt(seq *sequence.Sequence) {
	if i := slices.IndexFunc(s.planned, func(p planned) bool { return p.seq == seq }); i >= 0 {
		s.budget += s.planned[i].n
		s.planned = slices.Delete(s.planned, i, i+1)
	}
	s.blocks.Free(&seq.Blocks)
	seq.Proposals = seq.Proposals[:0]
	if err := seq.Preempt(); err != nil {
		panic(fmt.Sprintf("scheduler: preempting %v: %v", seq, err)) // only Running sequences are preempted
	}
	s.numRunning--
	s.dirtyRunning = true
	s.preemptions++
	s.preempted = true
	s.enqueueWaiting(seq)
}

// lastRunning is the running sequence served last, the first preemption
// victim.
func (s *Scheduler) lastRunning() *sequence.Sequence {
	for i := len(s.running) - 1; i >= 0; i-- {
		if s.running[i].Status() == sequence.Running {
			return s.running[i]
		}
	}
	return nil
}

// compact drops from the queues the sequences that have left them.
func (s *Scheduler) compact() {
	if s.dirtyWaiting {
		s.waiting = slices.DeleteFunc(s.waiting, func(q *sequence.Sequence) bool {
			st := q.Status()
			return st != sequence.Waiting && st != sequence.Preempted
		})
		s.dirtyWaiting = false
	}
	s.compactRunning()
}

func (s *Scheduler) compactRunning() {
	if s.dirtyRunning {
		s.running = slices.DeleteFunc(s.running, func(q *sequence.Sequence) bool { return q.Status() != sequence.Running })
		s.dirtyRunning = false
	}
}
