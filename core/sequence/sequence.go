// Package sequence holds the state of one generation request as the engine
// sees it: prompt and output token ids, the blocks of KV cache it owns, how
// many of its tokens are already computed, and where it is in its lifecycle.
package sequence

import (
	"errors"
	"fmt"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
)

// ErrInvalidTransition reports a status change the lifecycle does not allow.
var ErrInvalidTransition = errors.New("invalid sequence status transition")

// Status is where a sequence is in its lifecycle:
//
//	Waiting ──► Running ──► Finished
//	   │          │  ▲          ▲
//	   │          ▼  │          │
//	   │        Preempted ──────┤
//	   └────────────────────────┘
//
// A preempted sequence has lost its KV blocks and waits to be recomputed.
// Finished is final.
type Status uint8

// Sequence statuses.
const (
	Waiting Status = iota
	Running
	Preempted
	Finished
)

var statusNames = [...]string{"waiting", "running", "preempted", "finished"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// CanBecome reports whether the lifecycle allows moving from s to next.
func (s Status) CanBecome(next Status) bool {
	switch s {
	case Waiting, Preempted:
		return next == Running || next == Finished
	case Running:
		return next == Preempted || next == Finished
	}
	return false
}

// FinishReason says why a sequence finished.
type FinishReason uint8

// Finish reasons.
const (
	// NotFinished is the reason of a sequence still in progress.
	NotFinished FinishReason = iota
	// Stop: a stop token (end of sequence) was generated.
	Stop
	// Length: the output reached its maximum number of tokens, or the
	// sequence reached the model's maximum length.
	Length
	// StopString: the output text contains a stop string.
	StopString
	// Aborted: the request was cancelled.
	Aborted
	// Error: the sequence could not be run at all; Err says why.
	Error
)

var reasonNames = [...]string{"", "stop", "length", "stop_string", "aborted", "error"}

func (r FinishReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("FinishReason(%d)", uint8(r))
}

// Sequence is one request being generated: the prompt, the tokens generated
// so far, and the scheduler's view of its KV cache.
//
// The scheduler maintains NumComputed, NumCached and Blocks; the engine
// reads them. A Sequence is not safe for concurrent use.
type Sequence struct {
	// ID identifies the request; it must be unique among live sequences.
	ID uint64
	// TokenIDs are the prompt followed by the generated tokens.
	TokenIDs []int32
	// NumPromptTokens is how many of TokenIDs are the prompt.
	NumPromptTokens int

	// Priority orders sequences under the priority policy: a higher value
	// is served first and preempted last.
	Priority int
	// Arrival is when the request arrived. Earlier arrivals are served
	// first among equal priorities; ties fall back to the lower ID.
	Arrival time.Time

	// NumComputed is how many leading tokens have their keys and values in
	// the KV cache, whether computed or found in the prefix cache.
	NumComputed int
	// NumCached is how many prompt tokens the prefix cache supplied when
	// the sequence was last admitted.
	NumCached int
	// Blocks is the sequence's block table.
	Blocks block.Table

	// Proposals are tokens guessed to follow the last token, for
	// speculative decoding: the engine sets them before a step, the
	// scheduler has the model verify them together with the last token,
	// and Postprocess clears them. Empty for ordinary decoding.
	Proposals []int32

	status Status
	reason FinishReason
	err    error
}

// New returns a waiting sequence for prompt, which it copies, arriving now.
func New(id uint64, prompt []int32) *Sequence {
	toks := make([]int32, len(prompt), len(prompt)+16)
	copy(toks, prompt)
	return &Sequence{ID: id, TokenIDs: toks, NumPromptTokens: len(prompt), Arrival: time.Now()}
}

// Status is the sequence's lifecycle state.
func (s *Sequence) Status() Status { return s.status }

// SetStatus moves the sequence to next, if the lifecycle allows it.
// Finishing goes through Finish instead, which records why.
func (s *Sequence) SetStatus(next Status) error {
	if next == Finished {
		return fmt.Errorf("sequence %d: use Finish to finish: %w", s.ID, ErrInvalidTransition)
	}
	if !s.status.CanBecome(next) {
		return fmt.Errorf("sequence %d: %s -> %s: %w", s.ID, s.status, next, ErrInvalidTransition)
	}
	s.status = next
	return nil
}

// Finish ends the sequence for reason; err explains reasons Aborted and
// Error and is nil otherwise. Finishing twice is an error.
func (s *Sequence) Finish(reason FinishReason, err error) error {
	if reason == NotFinished {
		return fmt.Errorf("sequence %d: finish without a reason: %w", s.ID, ErrInvalidTransition)
	}
	if !s.status.CanBecome(Finished) {
		return fmt.Errorf("sequence %d: %s -> %s: %w", s.ID, s.status, Finished, ErrInvalidTransition)
	}
	s.status, s.reason, s.err = Finished, reason, err
	return nil
}

// IsFinished reports whether the sequence has finished.
func (s *Sequence) IsFinished() bool { return s.status == Finished }

// FinishReason says why the sequence finished, or NotFinished.
func (s *Sequence) FinishReason() FinishReason { return s.reason }

// Err is the error that ended the sequence, if any.
func (s *Sequence) Err() error { return s.err }

// Len is the number of tokens, prompt and output.
func (s *Sequence) Len() int { return len(s.TokenIDs) }

// Prompt returns the prompt token ids.
func (s *Sequence) Prompt() []int32 { return s.TokenIDs[:s.NumPromptTokens] }

// Output returns the generated token ids.
func (s *Sequence) Output() []int32 { return s.TokenIDs[s.NumPromptTokens:] }

// NumOutputTokens is the number of generated tokens.
func (s *Sequence) NumOutputTokens() int { return len(s.TokenIDs) - s.NumPromptTokens }

// LastToken is the most recent token, the input of the next decode step.
func (s *Sequence) LastToken() int32 { return s.TokenIDs[len(s.TokenIDs)-1] }

// NumUncomputed is how many tokens still need their keys and values
// computed before the next token can be sampled: the rest of the prompt
// while prefilling, 1 while decoding.
func (s *Sequence) NumUncomputed() int { return len(s.TokenIDs) - s.NumComputed }

// Append adds a generated token.
func (s *Sequence) Append(token int32) { s.TokenIDs = append(s.TokenIDs, token) }

// Preempt takes a running sequence's blocks away (the caller frees them)
// and marks it for recomputation: its prompt and output so far will be
// prefilled again when it is readmitted.
func (s *Sequence) Preempt() error {
	if err := s.SetStatus(Preempted); err != nil {
		return err
	}
	s.NumComputed, s.NumCached = 0, 0
	return nil
}

func (s *Sequence) String() string {
	return fmt.Sprintf("seq %d (%s, %d+%d tokens, %d computed)", s.ID, s.status, s.NumPromptTokens, s.NumOutputTokens(), s.NumComputed)
}
