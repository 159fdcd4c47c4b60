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

func TestKVCacheSpecDTypeBytes(t *testing.T) {
	// Qwen3-0.6B per token: 28 layers x 8 KV heads x 128 dims x (k + v)
	// = 57,344 elements; 229,376 bytes in float32, 114,688 in 16 bits.
	for _, tc := range []struct {
		dtype DType
		elem  int64
		bytes int64
	}{
		{F32, 4, 229376},
		{BF16, 2, 114688},
		{F16, 2, 114688},
		{Q8_0, 0, 0}, // not a KV cache type: devices reject it
	} {
		s := KVCacheSpec{Layers: 28, NumBlocks: 1, BlockSize: 1, KVHeads: 8, HeadDim: 128, DType: tc.dtype}
		require.Equal(t, tc.elem, s.ElementBytes(), tc.dtype.String())
		require.Equal(t, tc.bytes, s.Bytes(), tc.dtype.String())
		require.Equal(t, int64(8*128), s.LayerFloats(), "element count does not depend on the dtype")
	}
}
