package engine

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/stretchr/testify/require"
)

// TestKVCacheDTypeBudget: the engine sizes its pool from a memory budget
// through KVBytesPerToken, so a bf16 or f16 cache holds twice the blocks
// of a float32 one in the same budget, and the cache allocated fits the
// budget. qwen3-tiny takes 2 layers x 2 KV heads x 16 dims x (k + v) = 128
// elements per token: 512 bytes in float32, 256 in 16 bits. The bf16
// engine then reproduces transformers' greedy tokens for every prompt (as
// measured in core/qwen3's TestKVCacheDTypeFixtures).
func TestKVCacheDTypeBudget(t *testing.T) {
	const budget = 1 << 20
	cases := loadCases(t, "qwen3-tiny")
	blocks := map[device.DType]int{}
	for _, tc := range []struct {
		dt       device.DType
		perToken int64
	}{
		{device.F32, 512}, {device.BF16, 256}, {device.F16, 256},
	} {
		dev := cpu.New(cpu.Options{})
		t.Cleanup(func() { dev.Close() })
		m, err := qwen3.Load(filepath.Join(testdata, "qwen3-tiny"), dev, qwen3.Options{KVCacheDType: tc.dt})
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Close() })
		require.Equal(t, tc.perToken, m.KVBytesPerToken(), tc.dt.String())
		e, err := NewQwen3(m, nil, Config{
			Cache:     block.Config{BlockSize: 16, MemoryBudget: budget, PrefixCaching: true},
			Scheduler: scheduler.DefaultConfig(),
		})
		require.NoError(t, err)
		blocks[tc.dt] = e.NumBlocks()
		require.LessOrEqual(t, m.KVCacheSpec(e.NumBlocks(), 16).Bytes(), int64(budget))
		if tc.dt != device.BF16 {
			continue
		}
		var reqs []Request
		for _, c := range cases {
			reqs = append(reqs, Request{PromptIDs: c.Prompt, Params: fixtureGreedy(false)})
		}
		res, err := e.Generate(context.Background(), reqs)
		require.NoError(t, err)
		for i, r := range res {
			require.NoError(t, r.Err)
			require.Equal(t, cases[i].Greedy.Tokens, r.TokenIDs, "case %d", i)
		}
	}
	require.Equal(t, budget/(512*16), blocks[device.F32])
	require.Equal(t, 2*blocks[device.F32], blocks[device.BF16])
	require.Equal(t, 2*blocks[device.F32], blocks[device.F16])
}
