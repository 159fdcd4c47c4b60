package device

import (
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/stretchr/testify/require"
)

// twoSeqs is a valid step: sequence 0 prefills positions 0-4 (block 3),
// sequence 1 decodes position 17 (blocks 0 and 2, block size 16).
func twoSeqs() *scheduler.Batch {
	return &scheduler.Batch{
		TokenIDs:         []int32{1, 2, 3, 4, 5, 6},
		Positions:        []int32{0, 1, 2, 3, 4, 17},
		Slots:            []int32{48, 49, 50, 51, 52, 33},
		QueryStarts:      []int32{0, 5, 6},
		ContextLens:      []int32{5, 18},
		BlockTables:      []int32{3, -1, 0, 2},
		BlockTableStride: 2,
		BlockSize:        16,
		LogitsRows:       []int32{4, 5},
		LogitsSeqs:       []int32{0, 1},
	}
}

func TestValidateBatch(t *testing.T) {
	require.NoError(t, ValidateBatch(twoSeqs()))
	for _, tc := range []struct {
		name string
		edit func(b *scheduler.Batch)
		want string
	}{
		{"no tokens", func(b *scheduler.Batch) { *b = scheduler.Batch{} }, "no tokens"},
		{"positions length", func(b *scheduler.Batch) { b.Positions = b.Positions[:5] }, "6 tokens but 5 positions"},
		{"query starts", func(b *scheduler.Batch) { b.QueryStarts = []int32{0} }, "QueryStarts has 1 entries"},
		{"context lens", func(b *scheduler.Batch) { b.ContextLens = b.ContextLens[:1] }, "2 query ranges but 1 context lengths"},
		{"block size", func(b *scheduler.Batch) { b.BlockSize = 0 }, "block size 0"},
		{"tables length", func(b *scheduler.Batch) { b.BlockTables = b.BlockTables[:3] }, "block tables hold 3 entries"},
		{"starts end", func(b *scheduler.Batch) { b.QueryStarts[2] = 7 }, "want 0 to 6"},
		{"empty range", func(b *scheduler.Batch) { b.QueryStarts[1] = 0 }, "query range [0, 0)"},
		{"context too long", func(b *scheduler.Batch) { b.ContextLens[1] = 33 }, "context length 33"},
		{"missing block", func(b *scheduler.Batch) { b.BlockTables[3] = -1 }, "no block 1"},
		{"position beyond context", func(b *scheduler.Batch) { b.Positions[5] = 18 }, "position 18, context length 18"},
		{"slot mismatch", func(b *scheduler.Batch) { b.Slots[0] = 0 }, "has slot 0, block table says 48"},
		{"logits lengths", func(b *scheduler.Batch) { b.LogitsSeqs = b.LogitsSeqs[:1] }, "2 logits rows but 1 logits sequences"},
		{"logits row range", func(b *scheduler.Batch) { b.LogitsRows[1] = 6 }, "names token 6 of 6"},
		{"logits row elsewhere", func(b *scheduler.Batch) { b.LogitsRows[0] = 5 }, "is not in sequence 0"},
	} {
		b := twoSeqs()
		tc.edit(b)
		err := ValidateBatch(b)
		require.ErrorIs(t, err, ErrBadBatch, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	require.ErrorIs(t, ValidateBatch(nil), ErrBadBatch)
}

func TestKVCacheSpecBytes(t *testing.T) {
	// Qwen3-0.6B: 28 layers x 8 KV heads x 128 dims x (k + v) x 4 bytes per token.
	s := KVCacheSpec{Layers: 28, NumBlocks: 10, BlockSize: 16, KVHeads: 8, HeadDim: 128}
	require.Equal(t, int64(160*28*8*128*2*4), s.Bytes())
}
