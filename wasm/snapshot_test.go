package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
)

// pageSnapshot is snapshot()'s JSON as the page reads it.
type pageSnapshot struct {
	BlockSize int    `json:"block_size"`
	NumBlocks int    `json:"num_blocks"`
	States    string `json:"states"`
	Reused    []int  `json:"reused"`
	Running   []struct {
		ID       uint64  `json:"id"`
		Status   string  `json:"status"`
		Prompt   int     `json:"prompt"`
		Computed int     `json:"computed"`
		Cached   int     `json:"cached"`
		Blocks   []int32 `json:"blocks"`
	} `json:"running"`
	Waiting []json.RawMessage `json:"waiting"`
	Steps   []struct {
		Tokens int `json:"tokens"`
		Batch  struct {
			Seqs          int `json:"seqs"`
			DecodeTokens  int `json:"decode_tokens"`
			PrefillTokens int `json:"prefill_tokens"`
		} `json:"batch"`
	} `json:"steps"`
	Counters map[string]int64 `json:"counters"`
}

// TestInspector runs the tiny Qwen3 fixture on the CPU with two requests
// that share a prompt prefix and checks snapshot()'s JSON against the
// engine's own snapshot: block states, shared blocks, block tables, the
// steps recorded since the previous call and the blocks handed out since.
func TestInspector(t *testing.T) {
	dev := cpu.New(cpu.Options{})
	t.Cleanup(func() { dev.Close() })
	m, err := qwen3.Load("../testdata/qwen3-tiny", dev, qwen3.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	eng, err := engine.NewQwen3(m, nil, engine.Config{
		Cache:     block.Config{BlockSize: 4, NumBlocks: 32, PrefixCaching: true},
		Scheduler: scheduler.Config{MaxSeqs: 4, MaxBatchedTokens: 64, MaxModelLen: 64},
	})
	require.NoError(t, err)
	var in inspector
	var steps int64
	step := func() {
		outs, err := eng.Step(context.Background())
		require.NoError(t, err)
		steps++
		n := 0
		for _, o := range outs {
			n += len(o.TokenIDs)
		}
		in.record(stepRecord{Batch: eng.LastBatch(), Tokens: n, Preemptions: eng.Stats().Preemptions})
	}
	prefix := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	p := sampler.Params{MaxTokens: 8, IgnoreEOS: true}
	_, err = eng.AddRequest(context.Background(), engine.Request{PromptIDs: append(prefix, 20), Params: p})
	require.NoError(t, err)
	step()
	_, err = eng.AddRequest(context.Background(), engine.Request{PromptIDs: append(prefix, 30, 31), Params: p})
	require.NoError(t, err)
	step()

	var got pageSnapshot
	require.NoError(t, json.Unmarshal(in.encode(eng, counters{Steps: steps}), &got))
	want := eng.Snapshot()
	require.Equal(t, 4, got.BlockSize)
	require.Equal(t, 32, got.NumBlocks)
	require.Len(t, got.States, 32)
	// Two full blocks of the shared prefix: both requests hold them.
	for i, c := range got.States {
		switch c {
		case 's':
			require.Greater(t, want.Pool.RefCounts[i], int32(1))
		case 'u':
			require.Equal(t, int32(1), want.Pool.RefCounts[i])
		case 'c':
			require.Equal(t, block.Cached, want.Pool.States[i])
		case '.':
			require.Equal(t, block.Empty, want.Pool.States[i])
		default:
			t.Fatalf("block %d: state %q", i, c)
		}
	}
	require.Equal(t, "ss", got.States[:2], "the shared prefix's two blocks")
	require.Len(t, got.Running, 2)
	require.Equal(t, 8, got.Running[1].Cached)
	require.Equal(t, want.Running[1].Blocks, got.Running[1].Blocks)
	require.Equal(t, got.Running[0].Blocks[:2], got.Running[1].Blocks[:2])
	require.Empty(t, got.Waiting)
	require.Empty(t, got.Reused, "no earlier snapshot to compare with")
	require.Len(t, got.Steps, 2)
	require.Equal(t, 10, got.Steps[0].Batch.PrefillTokens)
	require.Equal(t, 1, got.Steps[1].Batch.DecodeTokens)
	require.Equal(t, 11-8, got.Steps[1].Batch.PrefillTokens)
	require.Equal(t, int64(2), got.Counters["requests"])
	require.Equal(t, int64(8), got.Counters["prefix_hit_tokens"])

	// Until both finish: the steps since the last call only, and the
	// blocks their growth took listed as handed out anew.
	for eng.HasUnfinished() {
		step()
	}
	require.NoError(t, json.Unmarshal(in.encode(eng, counters{Steps: steps}), &got))
	require.Len(t, got.Steps, int(steps)-2)
	require.NotEmpty(t, got.Reused)
	require.Empty(t, got.Running)
	require.NotContains(t, got.States, "u")
	require.NotContains(t, got.States, "s")
}
