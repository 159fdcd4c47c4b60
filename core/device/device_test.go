package device

import (
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/stretchr/testify/require"
)

func TestKVCacheSpecSizes(t *testing.T) {
	// Qwen3-0.6B: 28 layers x 8 KV heads x 128 dims x (k + v) x 4 bytes per token.
	s := KVCacheSpec{Layers: 28, NumBlocks: 10, BlockSize: 16, KVHeads: 8, HeadDim: 128}
	require.Equal(t, int64(160*28*8*128*2*4), s.Bytes())
	require.Equal(t, 8*128, s.SlotFloats())
	require.Equal(t, int64(160*8*128), s.LayerFloats())
	require.Equal(t, step.CacheShape{NumBlocks: 10, BlockSize: 16}, s.Shape())
}
