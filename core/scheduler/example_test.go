package scheduler_test

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// The engine loop, with a stand-in for the model that predicts "last token
// plus one". Each request stops after three tokens.
func Example() {
	blocks, err := block.NewManager(64, 4, true)
	if err != nil {
		panic(err)
	}
	sched, err := scheduler.New(scheduler.Config{MaxSeqs: 8, MaxBatchedTokens: 8, MaxModelLen: 128}, blocks)
	if err != nil {
		panic(err)
	}
	for id, prompt := range [][]int32{{10, 11, 12, 13, 14, 15}, {20, 21, 22, 23, 24}} {
		if err := sched.Add(sequence.New(uint64(id), prompt)); err != nil {
			panic(err)
		}
	}
	for step := 1; sched.HasUnfinished(); step++ {
		b := sched.Schedule()
		// A model would run b here and return one row of logits per
		// entry of b.Step.LogitsRows.
		sampled := make([]int32, len(b.Step.LogitsRows))
		for k, row := range b.Step.LogitsRows {
			sampled[k] = b.Step.TokenIDs[row] + 1
		}
		fmt.Printf("step %d: positions %v, logits for %d sequences\n", step, b.Step.Positions, len(b.Step.LogitsRows))
		if err := sched.Postprocess(b, sampled); err != nil {
			panic(err)
		}
		for _, i := range b.Step.LogitsSeqs {
			if seq := b.Seqs[i]; seq.NumOutputTokens() == 3 {
				fmt.Printf("request %d: %v\n", seq.ID, seq.Output())
				if err := sched.Finish(seq, sequence.Length); err != nil {
					panic(err)
				}
			}
		}
	}
	fmt.Println("blocks in use:", blocks.Stats().Used)
	// Output:
	// step 1: positions [0 1 2 3 4 5 0 1], logits for 1 sequences
	// step 2: positions [6 2 3 4], logits for 2 sequences
	// step 3: positions [7 5], logits for 2 sequences
	// request 0: [16 17 18]
	// step 4: positions [6], logits for 1 sequences
	// request 1: [25 26 27]
	// blocks in use: 0
}
