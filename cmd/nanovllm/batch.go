package main

import (
	"slices"

	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
)

// blockSize is the KV block size of every cache the commands build: the
// engine's, and the hand-built batches of the model-level bench.
const blockSize = 16

// stepSeq is one sequence's share of a hand-built step: it computes tokens
// [from, len(tokens)) with the given block table, and wants the logits of
// its last token.
type stepSeq struct {
	tokens []int32
	from   int
	blocks []int32
}

// buildBatch lays out a scheduler.Batch for seqs, the way the scheduler
// would for sequences whose blocks are already allocated.
func buildBatch(seqs []stepSeq) *scheduler.Batch {
	b := &scheduler.Batch{BlockSize: blockSize, QueryStarts: []int32{0}}
	for _, s := range seqs {
		b.BlockTableStride = max(b.BlockTableStride, len(s.blocks))
	}
	for i, s := range seqs {
		for pos := s.from; pos < len(s.tokens); pos++ {
			b.TokenIDs = append(b.TokenIDs, s.tokens[pos])
			b.Positions = append(b.Positions, int32(pos))
			b.Slots = append(b.Slots, s.blocks[pos/blockSize]*blockSize+int32(pos%blockSize))
		}
		b.QueryStarts = append(b.QueryStarts, int32(len(b.TokenIDs)))
		b.ContextLens = append(b.ContextLens, int32(len(s.tokens)))
		row := slices.Repeat([]int32{-1}, b.BlockTableStride)
		copy(row, s.blocks)
		b.BlockTables = append(b.BlockTables, row...)
		b.LogitsRows = append(b.LogitsRows, int32(len(b.TokenIDs)-1))
		b.LogitsSeqs = append(b.LogitsSeqs, int32(i))
	}
	return b
}
