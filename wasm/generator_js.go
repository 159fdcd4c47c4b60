//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// genOutput is what one step produced for one request.
type genOutput struct {
	id       uint64
	tokens   []int32
	text     string
	finished bool
	reason   string
	err      error
}

// generator is the engine loop as the JavaScript bridge drives it: requests
// go in at any time, and each step reports what every request produced.
type generator struct {
	eng *engine.Engine
}

// newGenerator builds the LLM engine (core/engine) over the loaded model:
// the same scheduler, paged KV cache with prefix caching, sampler and
// detokenizer as the native build, with a cache of exactly blocks blocks.
func newGenerator(m *qwen3.Model, tok *tokenizer.Tokenizer, blocks int, opts loadOptions, eos []int) (*generator, error) {
	ids := make([]int32, len(eos))
	for i, id := range eos {
		ids[i] = int32(id)
	}
	cfg := engine.Config{
		Cache: block.Config{BlockSize: opts.BlockSize, NumBlocks: blocks, PrefixCaching: true},
		Scheduler: scheduler.Config{
			MaxSeqs:          opts.MaxNumSeqs,
			MaxBatchedTokens: max(512, opts.MaxNumSeqs),
			MaxModelLen:      min(m.Config().MaxPositionEmbeddings, blocks*opts.BlockSize),
		},
		EOSTokenIDs: ids,
	}
	eng, err := engine.NewQwen3(m, tok, cfg)
	if err != nil {
		return nil, err
	}
	return &generator{eng: eng}, nil
}

func (g *generator) add(prompt []int32, p sampler.Params) (uint64, error) {
	return g.eng.AddRequest(context.Background(), engine.Request{PromptIDs: prompt, Params: p})
}

// abort ends a request; the next step reports it.
func (g *generator) abort(id uint64) {
	if err := g.eng.Abort(id); err != nil && !errors.Is(err, engine.ErrUnknownRequest) {
		fmt.Printf("nanovllm: abort %d: %v\n", id, err)
	}
}

func (g *generator) busy() bool { return g.eng.HasUnfinished() }

// step runs one engine step. A model failure fails that step's requests
// (they come back finished with their error) and is also returned.
func (g *generator) step() ([]genOutput, error) {
	outs, err := g.eng.Step(context.Background())
	res := make([]genOutput, len(outs))
	for i, o := range outs {
		res[i] = genOutput{id: o.ID, tokens: o.TokenIDs, text: o.Text, finished: o.Finished}
		if !o.Finished {
			continue
		}
		switch o.FinishReason {
		case sequence.Stop, sequence.StopString:
			res[i].reason = "stop" // OpenAI's name for both
		case sequence.Length:
			res[i].reason = "length"
		case sequence.Aborted:
			res[i].reason = "abort"
			res[i].err = withCode(codeAborted, fmt.Errorf("request %d was aborted: %w", o.ID, o.Err))
		default:
			res[i].reason = "error"
			res[i].err = o.Err
			if res[i].err == nil {
				res[i].err = fmt.Errorf("request %d failed", o.ID)
			}
		}
	}
	return res, err
}
