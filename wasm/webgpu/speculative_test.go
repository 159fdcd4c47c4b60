//go:build js && wasm

package webgpu

import (
	"context"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/stretchr/testify/require"
)

// TestSpeculativeOnWebGPU runs the engine with speculative decoding on the
// WebGPU device, with prompt lookup and with a draft model (qwen3-tiny,
// drafting for qwen3-tiny-untied and for itself, both on the GPU with
// their own KV caches): greedy outputs, all fixture prompts batched with
// chunked prefill, are transformers' greedy tokens. Drafting for itself,
// nearly every proposal stands, so verification steps of several rows
// per sequence are exercised on the GPU.
func TestSpeculativeOnWebGPU(t *testing.T) {
	g := newGPU(t, Options{})
	draft := loadFixture(t, "qwen3-tiny")
	for _, tc := range []struct {
		target, method string
	}{
		{"qwen3-tiny-untied", "ngram"},
		{"qwen3-tiny-untied", "draft"},
		{"qwen3-tiny", "draft"},
	} {
		t.Run(tc.target+"/"+tc.method, func(t *testing.T) {
			f := loadFixture(t, tc.target)
			m := f.model(t, g, 64)
			var p engine.Proposer
			if tc.method == "ngram" {
				ng, err := engine.NewNGram(1, 4)
				require.NoError(t, err)
				p = ng
			} else {
				dm := draft.model(t, g, 64)
				d, err := engine.NewDraft(engine.Qwen3Model(dm), 64, 16, draft.cfg.MaxPositionEmbeddings)
				require.NoError(t, err)
				p = d
			}
			e, err := engine.NewQwen3(m, nil, engine.Config{
				Cache:       block.Config{BlockSize: 16, NumBlocks: 64, PrefixCaching: true},
				Scheduler:   scheduler.Config{MaxSeqs: 8, MaxBatchedTokens: 24, MaxModelLen: 256},
				Speculative: engine.Speculative{Proposer: p, NumTokens: 4},
			})
			require.NoError(t, err)
			var reqs []engine.Request
			for _, c := range f.ref.Cases {
				reqs = append(reqs, engine.Request{PromptIDs: c.Prompt, Params: sampler.Params{MaxTokens: 24, IgnoreEOS: true}})
			}
			res, err := e.Generate(context.Background(), reqs)
			require.NoError(t, err)
			for i, c := range f.ref.Cases {
				require.NoError(t, res[i].Err)
				require.Equal(t, c.Greedy.Tokens, res[i].TokenIDs, "case %d", i)
			}
			st := e.Stats()
			require.Zero(t, st.Blocks.Used)
			require.Positive(t, st.SpecSteps)
			if tc.target == "qwen3-tiny" {
				require.Greater(t, float64(st.SpecAccepted), 0.8*float64(st.SpecProposed))
			}
			t.Logf("%d verifications, %d of %d proposals accepted", st.SpecSteps, st.SpecAccepted, st.SpecProposed)
		})
	}
}
