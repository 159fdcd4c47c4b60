package scheduler

import (
	"errors"
	"fmt"
)

// Errors callers tell apart.
var (
	// ErrInvalidConfig reports an unusable Config; the wrapping error names
	// the field.
	ErrInvalidConfig = errors.New("invalid scheduler config")
	// ErrPromptTooLong reports a prompt longer than Config.MaxModelLen.
	ErrPromptTooLong = errors.New("prompt too long")
	// ErrEmptyPrompt reports a prompt with no tokens.
	ErrEmptyPrompt = errors.New("empty prompt")
	// ErrAborted is the Err of a sequence ended by Abort.
	ErrAborted = errors.New("request aborted")
	// ErrUnknownRequest reports an id or sequence the scheduler is not
	// tracking: never added, or already finished.
	ErrUnknownRequest = errors.New("unknown request")
	// ErrDuplicateRequest reports an Add whose id is already live.
	ErrDuplicateRequest = errors.New("duplicate request id")
	// ErrStalePlan reports a Postprocess of a plan that is not the one the
	// last Schedule returned, or that was already postprocessed.
	ErrStalePlan = errors.New("stale plan")
)

// Policy decides the order in which sequences are served.
type Policy uint8

// Scheduling policies.
const (
	// FCFS serves sequences in arrival order and preempts the latest
	// arrival first.
	FCFS Policy = iota
	// Priority serves higher Sequence.Priority first (arrival order among
	// equals), preempts the lowest priority first, and lets a waiting
	// sequence preempt running ones of lower priority when it needs their
	// memory.
	Priority
)

func (p Policy) String() string {
	switch p {
	case FCFS:
		return "fcfs"
	case Priority:
		return "priority"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Config limits what one step may hold.
type Config struct {
	// MaxSeqs is the most sequences running at once (prefilling or
	// decoding), and so the most in one batch.
	MaxSeqs int
	// MaxBatchedTokens is the most tokens computed in one step. Prompts
	// longer than what is left of it are prefilled in chunks over several
	// steps. It must be at least MaxSeqs so every running sequence can
	// decode in the same step.
	MaxBatchedTokens int
	// MaxModelLen is the most tokens, prompt and output, a sequence may
	// have its keys and values computed for: the model's context length.
	MaxModelLen int
	// Policy orders sequences.
	Policy Policy
}

// DefaultConfig returns 256 sequences, 2048 tokens per step, a 4096-token
// context and FCFS.
func DefaultConfig() Config {
	return Config{MaxSeqs: 256, MaxBatchedTokens: 2048, MaxModelLen: 4096, Policy: FCFS}
}

// Validate reports the first field that makes c unusable.
func (c Config) Validate() error {
	switch {
	case c.MaxSeqs <= 0:
		return fmt.Errorf("scheduler: Config.MaxSeqs = %d, want > 0: %w", c.MaxSeqs, ErrInvalidConfig)
	case c.MaxBatchedTokens < c.MaxSeqs:
		return fmt.Errorf("scheduler: Config.MaxBatchedTokens = %d, want >= MaxSeqs (%d): %w", c.MaxBatchedTokens, c.MaxSeqs, ErrInvalidConfig)
	case c.MaxBatchedTokens > 1<<30:
		return fmt.Errorf("scheduler: Config.MaxBatchedTokens = %d, want <= %d: %w", c.MaxBatchedTokens, 1<<30, ErrInvalidConfig)
	case c.MaxModelLen <= 0 || c.MaxModelLen > 1<<30:
		return fmt.Errorf("scheduler: Config.MaxModelLen = %d, want 1..%d: %w", c.MaxModelLen, 1<<30, ErrInvalidConfig)
	case c.Policy != FCFS && c.Policy != Priority:
		return fmt.Errorf("scheduler: Config.Policy = %d, want FCFS or Priority: %w", uint8(c.Policy), ErrInvalidConfig)
	}
	return nil
}
