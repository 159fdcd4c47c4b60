package main

import "github.com/nano-vllm-go/nano-vllm-go/core/step"

// blockSize is the KV block size of every cache the commands build: the
// engine's, and the hand-built steps of the model-level bench.
const blockSize = 16

// stepSeq is one sequence's share of a hand-built step: it computes tokens
// [from, len(tokens)) with the given block table, and wants the logits of
// its last token.
type stepSeq struct {
	tokens []int32
	from   int
	blocks []int32
}

// buildStep lays out seqs as one step with b, the way the scheduler would
// for sequences whose blocks are already allocated.
func buildStep(b *step.Builder, seqs []stepSeq) *step.Step {
	b.Reset(blockSize, 0)
	for _, s := range seqs {
		b.Add(s.tokens, s.from, len(s.tokens), s.blocks, 1)
	}
	return b.Step()
}
