// Package step is the contract between the scheduler and the devices: one
// model step as flat int32 arrays, exactly as a device consumes them.
//
// The scheduler decides which tokens of which sequences run in a step and
// fills a Step through a Builder; the model and every device read only the
// Step. The package imports nothing of the engine, so devices depend on it
// and not on the scheduler:
//
//	scheduler ──fills──▶ step.Step ◀──reads── qwen3, cpu, webgpu
//
// The fields are int32 so that a GPU device can upload them as they are.
// A Step is checked once, by Validate against the KV cache it will index,
// before any kernel reads it.
package step

// Step is one model step: the tokens of every scheduled sequence flattened
// into one list, with the metadata paged attention needs to find each
// token's keys and values.
//
// With N tokens and S sequences in the step, sequence i owns tokens
// [QueryStarts[i], QueryStarts[i+1]) of the flat arrays.
type Step struct {
	// TokenIDs, Positions and Slots have one entry per token (N). Positions
	// are absolute 0-based positions in the token's sequence; Slots are
	// KV-cache slots, blockID*BlockSize + offset.
	TokenIDs  []int32 // [N]
	Positions []int32 // [N]
	Slots     []int32 // [N]
	// TokenSeqs maps each token to its sequence: TokenSeqs[j] = i when
	// QueryStarts[i] <= j < QueryStarts[i+1].
	TokenSeqs []int32 // [N]

	// QueryStarts partitions the tokens among the sequences.
	QueryStarts []int32 // [S+1]
	// ContextLens is, per sequence, the number of tokens whose keys and
	// values are in the cache once this step has written its own: cached
	// prefix + previously computed tokens + this step's tokens. Token j of
	// sequence i attends causally to cache positions [0, Positions[j]].
	ContextLens []int32 // [S]
	// BlockTables holds each sequence's block table, padded with -1 to
	// BlockTableStride entries: sequence i's table is Table(i).
	BlockTables      []int32 // [S*BlockTableStride]
	BlockTableStride int
	// BlockSize is the number of tokens per KV block.
	BlockSize int

	// LogitsRows lists, in sequence order, the flat token indices whose
	// logits are wanted: the last token of every sequence whose prompt is
	// fully computed after this step (decodes, and the final chunk of a
	// prefill). LogitsSeqs[k] is the sequence of row k.
	LogitsRows []int32 // [R]
	LogitsSeqs []int32 // [R]
}

// NumTokens is the number of tokens computed in the step (N).
func (s *Step) NumTokens() int { return len(s.TokenIDs) }

// NumSeqs is the number of sequences in the step (S).
func (s *Step) NumSeqs() int { return max(0, len(s.QueryStarts)-1) }

// Table is sequence i's block table, BlockTableStride entries padded with -1.
func (s *Step) Table(i int) []int32 {
	return s.BlockTables[i*s.BlockTableStride : (i+1)*s.BlockTableStride]
}

// MaxPosition is the largest position of any token in the step, or -1 for
// an empty step.
func (s *Step) MaxPosition() int {
	m := int32(-1)
	for _, p := range s.Positions {
		m = max(m, p)
	}
	return int(m)
}
