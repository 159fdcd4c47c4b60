package scheduler

import "github.com/nano-vllm-go/nano-vllm-go/core/sequence"

// Batch is one model step, exactly as a Device consumes it: the tokens of
// every scheduled sequence flattened into one list, with the metadata that
// paged attention needs to find each token's keys and values.
//
// The flat fields are int32 so that a GPU backend can upload them as they are.
// Sequences appear in Seqs in the same order as their tokens in TokenIDs.
type Batch struct {
	// Seqs are the scheduled sequences, in batch order. Engines use them to
	// route sampled tokens back; devices use only the flat fields below.
	Seqs []*sequence.Sequence

	// TokenIDs, Positions and Slots have one entry per token computed in
	// this step (N in all). Positions are absolute 0-based positions in the
	// sequence; Slots are KV-cache slots, blockID*BlockSize + offset.
	TokenIDs  []int32
	Positions []int32
	Slots     []int32

	// QueryStarts has len(Seqs)+1 entries: sequence i owns tokens
	// [QueryStarts[i], QueryStarts[i+1]) of the flat arrays.
	QueryStarts []int32
	// ContextLens is, per sequence, the number of tokens whose keys and values
	// are in the cache once this step has written its own: cached prefix +
	// previously computed tokens + this step's tokens. Token j of sequence i
	// attends causally to cache positions [0, Positions[j]].
	ContextLens []int32
	// BlockTables holds each sequence's block table, padded with -1 to
	// BlockTableStride entries: sequence i's table is
	// BlockTables[i*BlockTableStride : (i+1)*BlockTableStride].
	BlockTables      []int32
	BlockTableStride int
	// BlockSize is the number of tokens per KV block.
	BlockSize int

	// LogitsRows lists, in sequence order, the flat token indices whose
	// logits the engine needs: the last token of every sequence whose
	// prompt is fully computed after this step (decodes, and the final
	// chunk of a prefill). LogitsSeqs[k] is the index in Seqs of row k.
	LogitsRows []int32
	LogitsSeqs []int32

	// Finished lists the sequences the scheduler ended while building this
	// step because they can never run (FinishReason Error; Err says why).
	// They are not part of the step; engines report them to their callers.
	// Devices ignore this field.
	Finished []*sequence.Sequence
}

// NumTokens is the number of tokens computed in this step.
func (b *Batch) NumTokens() int { return len(b.TokenIDs) }

// NumSeqs is the number of sequences in this step.
func (b *Batch) NumSeqs() int { return len(b.Seqs) }
