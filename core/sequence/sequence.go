// Package sequence holds the state of one generation request as the engine
// sees it: prompt and output token ids, the blocks of KV cache it owns, how
// many of its tokens are already computed, and where it is in its lifecycle.
package sequence

// Status is where a sequence is in its lifecycle.
type Status uint8

// Sequence statuses.
const (
	Waiting Status = iota
	Running
	Preempted
	Finished
)

// Sequence is one request being generated.
type Sequence struct {
	// ID identifies the request.
	ID uint64
	// TokenIDs are the prompt followed by the generated tokens.
	TokenIDs []int32
	// NumPromptTokens is how many of TokenIDs are the prompt.
	NumPromptTokens int
	// Status is the lifecycle state.
	Status Status
}
