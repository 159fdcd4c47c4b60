package engine_test

import (
	"context"
	"fmt"
	"log"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
)

// Generate greedy continuations of two prompts with continuous batching, on
// a tiny random-weight Qwen3 checkpoint. The first prompt's 8 tokens are
// those Hugging Face transformers produced for it.
func ExampleEngine_Generate() {
	dev := cpu.New(cpu.Options{})
	defer dev.Close()
	m, err := qwen3.Load("../../testdata/qwen3-tiny", dev, qwen3.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	e, err := engine.NewQwen3(m, nil, engine.Config{
		Cache:     block.Config{BlockSize: 16, NumBlocks: 32, PrefixCaching: true},
		Scheduler: scheduler.DefaultConfig(),
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := e.Generate(context.Background(), []engine.Request{
		{PromptIDs: []int32{113, 350, 206, 371, 135}, Params: sampler.Params{MaxTokens: 8, IgnoreEOS: true}},
		{PromptIDs: []int32{1, 2, 3}, Params: sampler.Params{MaxTokens: 3, IgnoreEOS: true}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Println(len(r.TokenIDs), r.FinishReason)
	}
	fmt.Println(res[0].TokenIDs)
	// Output:
	// 8 length
	// 3 length
	// [461 510 247 184 509 406 439 135]
}

// Stream a reply, printing text as it is generated. A stop string ends the
// reply; no part of it is ever printed.
func ExampleEngine_Stream() {
	var e *engine.Engine // from engine.NewQwen3(model, tokenizer, cfg)
	params := sampler.Params{Temperature: 0.7, TopP: 0.8, MaxTokens: 256, Stop: []string{"\n\n"}}
	_, err := e.Stream(context.Background(), engine.Request{Prompt: "Write a haiku about Go.", Params: params},
		func(o engine.Output) error {
			fmt.Print(o.Text)
			return nil
		})
	if err != nil {
		log.Fatal(err)
	}
}
