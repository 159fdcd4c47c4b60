package scheduler

import (
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// Plan is what Schedule decides for one step: the step.Step the model runs
// (the only part devices see) and the engine-side facts that go with it.
type Plan struct {
	// Step is the model step: the flat per-token arrays every device
	// consumes. Sequence i of the step is Seqs[i].
	Step *step.Step

	// Seqs are the scheduled sequences, in step order. Engines use them to
	// route sampled tokens back: logits row k belongs to
	// Seqs[Step.LogitsSeqs[k]].
	Seqs []*sequence.Sequence

	// Finished lists the sequences the scheduler ended while planning this
	// step because they can never run (FinishReason Error; Err says why).
	// They are not part of the step; engines report them to their callers.
	Finished []*sequence.Sequence
}

// NumTokens is the number of tokens computed in this step.
func (p *Plan) NumTokens() int { return p.Step.NumTokens() }

// NumSeqs is the number of sequences in this step.
func (p *Plan) NumSeqs() int { return len(p.Seqs) }
