package step

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// twoSeqs is a valid step, written out by hand: sequence 0 prefills
// positions 0-4 (block 3), sequence 1 decodes position 17 (blocks 0 and 2,
// block size 16).
func twoSeqs() *Step {
	return &Step{
		TokenIDs:         []int32{1, 2, 3, 4, 5, 6},
		Positions:        []int32{0, 1, 2, 3, 4, 17},
		Slots:            []int32{48, 49, 50, 51, 52, 33},
		TokenSeqs:        []int32{0, 0, 0, 0, 0, 1},
		QueryStarts:      []int32{0, 5, 6},
		ContextLens:      []int32{5, 18},
		BlockTables:      []int32{3, -1, 0, 2},
		BlockTableStride: 2,
		BlockSize:        16,
		LogitsRows:       []int32{4, 5},
		LogitsSeqs:       []int32{0, 1},
	}
}

var cache = CacheShape{NumBlocks: 4, BlockSize: 16}

func TestValidate(t *testing.T) {
	require.NoError(t, twoSeqs().Validate(cache))
	for _, tc := range []struct {
		name string
		edit func(s *Step)
		want string
	}{
		{"no tokens", func(s *Step) { *s = Step{} }, "no tokens"},
		{"positions length", func(s *Step) { s.Positions = s.Positions[:5] }, "6 tokens but 5 positions"},
		{"token seqs length", func(s *Step) { s.TokenSeqs = s.TokenSeqs[:5] }, "5 token sequences"},
		{"query starts", func(s *Step) { s.QueryStarts = []int32{0} }, "QueryStarts has 1 entries"},
		{"context lens", func(s *Step) { s.ContextLens = s.ContextLens[:1] }, "2 query ranges but 1 context lengths"},
		{"block size", func(s *Step) { s.BlockSize = 0 }, "block size 0"},
		{"cache block size", func(s *Step) { s.BlockSize = 8 }, "block size 8, KV cache block size 16"},
		{"tables length", func(s *Step) { s.BlockTables = s.BlockTables[:3] }, "block tables hold 3 entries"},
		{"block outside cache", func(s *Step) { s.BlockTables[2] = 4 }, "entry 2 is block 4, KV cache has 4"},
		{"padding below -1", func(s *Step) { s.BlockTables[1] = -2 }, "entry 1 is block -2"},
		{"starts end", func(s *Step) { s.QueryStarts[2] = 7 }, "want 0 to 6"},
		{"empty range", func(s *Step) { s.QueryStarts[1] = 0 }, "query range [0, 0)"},
		{"range past the tokens", func(s *Step) { s.QueryStarts = []int32{0, 9, 6} }, "query range [0, 9)"},
		{"token mapped elsewhere", func(s *Step) { s.TokenSeqs[4] = 1 }, "token 4 is mapped to sequence 1, query ranges say 0"},
		{"context too long", func(s *Step) { s.ContextLens[1] = 33 }, "context length 33"},
		{"missing block", func(s *Step) { s.BlockTables[3] = -1 }, "no block 1"},
		{"position beyond context", func(s *Step) { s.Positions[5] = 18 }, "position 18, context length 18"},
		{"slot mismatch", func(s *Step) { s.Slots[0] = 0 }, "has slot 0, block table says 48"},
		{"logits lengths", func(s *Step) { s.LogitsSeqs = s.LogitsSeqs[:1] }, "2 logits rows but 1 logits sequences"},
		{"logits row range", func(s *Step) { s.LogitsRows[1] = 6 }, "names token 6 of 6"},
		{"logits row elsewhere", func(s *Step) { s.LogitsRows[0] = 5 }, "is not in sequence 0"},
	} {
		s := twoSeqs()
		tc.edit(s)
		err := s.Validate(cache)
		require.ErrorIs(t, err, ErrInvalid, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
	require.ErrorIs(t, (*Step)(nil).Validate(cache), ErrInvalid)
	require.ErrorContains(t, twoSeqs().Validate(CacheShape{NumBlocks: 3, BlockSize: 16}), "block 3, KV cache has 3")
}

func TestBuilder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stride int // given to Reset
	}{
		{"stride known", 2},
		{"stride grows", 0},
	} {
		var b Builder
		b.Reset(16, tc.stride)
		b.Add([]int32{1, 2, 3, 4, 5}, 0, 5, []int32{3}, 1)
		b.Add([]int32{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 6}, 17, 18, []int32{0, 2}, 1)
		s := b.Step()
		require.Equal(t, twoSeqs(), s, tc.name)
		require.NoError(t, s.Validate(cache), tc.name)
	}
}

func TestBuilderMidPromptChunkAndReuse(t *testing.T) {
	var b Builder
	// A step left over from before must not leak into the next.
	b.Reset(4, 0)
	b.Add([]int32{7, 7, 7}, 0, 3, []int32{0}, 1)
	b.Reset(4, 0)
	// Sequence 0: the chunk of positions 2-5 of a longer prompt, no logits.
	b.Add([]int32{10, 11, 12, 13, 14, 15, 16, 17}, 2, 6, []int32{5, 1}, 0)
	// Sequence 1: a decode at position 8 with three blocks, widening the
	// stride of sequence 0's table.
	b.Add(make([]int32, 9), 8, 9, []int32{0, 2, 4}, 1)
	want := &Step{
		TokenIDs:         []int32{12, 13, 14, 15, 0},
		Positions:        []int32{2, 3, 4, 5, 8},
		Slots:            []int32{22, 23, 4, 5, 16},
		TokenSeqs:        []int32{0, 0, 0, 0, 1},
		QueryStarts:      []int32{0, 4, 5},
		ContextLens:      []int32{6, 9},
		BlockTables:      []int32{5, 1, -1, 0, 2, 4},
		BlockTableStride: 3,
		BlockSize:        4,
		LogitsRows:       []int32{4},
		LogitsSeqs:       []int32{1},
	}
	require.Equal(t, want, b.Step())
	require.NoError(t, b.Step().Validate(CacheShape{NumBlocks: 6, BlockSize: 4}))
	require.Equal(t, 8, b.Step().MaxPosition())
	require.Equal(t, 2, b.Step().NumSeqs())
	require.Equal(t, []int32{0, 2, 4}, b.Step().Table(1))
}

func TestBuilderSteadyStateAllocatesNothing(t *testing.T) {
	var b Builder
	tokens := make([]int32, 64)
	blocks := []int32{0, 1, 2, 3}
	build := func() {
		b.Reset(16, 0)
		for i := range 32 {
			b.Add(tokens, 40+i%8, 41+i%8, blocks, 1)
		}
	}
	build()
	require.Zero(t, testing.AllocsPerRun(10, build))
}

func TestBuilderLogitsOfSeveralTokens(t *testing.T) {
	var b Builder
	b.Reset(4, 0)
	b.Add([]int32{1, 2, 3, 4, 5}, 0, 5, []int32{0, 1}, 5) // every token's logits
	b.Add([]int32{6, 7, 8, 9}, 1, 4, []int32{2}, 2)       // the last two
	b.Add([]int32{6, 7}, 0, 2, []int32{3}, 9)             // more than it has: all of them
	s := b.Step()
	require.Equal(t, []int32{0, 1, 2, 3, 4, 6, 7, 8, 9}, s.LogitsRows)
	require.Equal(t, []int32{0, 0, 0, 0, 0, 1, 1, 2, 2}, s.LogitsSeqs)
	require.NoError(t, s.Validate(CacheShape{NumBlocks: 4, BlockSize: 4}))
}

func TestBuilderProposals(t *testing.T) {
	var b Builder
	b.Reset(4, 0)
	b.Add([]int32{1, 2, 3}, 0, 3, []int32{0}, 1)
	// Sequence 1 decodes its token at position 5 with three proposals:
	// positions 5-8, all with logits, the last in a block of its own.
	b.AddProposals([]int32{9, 9, 9, 9, 9, 40}, 5, []int32{41, 42, 43}, []int32{1, 2, 3})
	want := &Step{
		TokenIDs:         []int32{1, 2, 3, 40, 41, 42, 43},
		Positions:        []int32{0, 1, 2, 5, 6, 7, 8},
		Slots:            []int32{0, 1, 2, 9, 10, 11, 12},
		TokenSeqs:        []int32{0, 0, 0, 1, 1, 1, 1},
		QueryStarts:      []int32{0, 3, 7},
		ContextLens:      []int32{3, 9},
		BlockTables:      []int32{0, -1, -1, 1, 2, 3},
		BlockTableStride: 3,
		BlockSize:        4,
		LogitsRows:       []int32{2, 3, 4, 5, 6},
		LogitsSeqs:       []int32{0, 1, 1, 1, 1},
	}
	require.Equal(t, want, b.Step())
	require.NoError(t, b.Step().Validate(CacheShape{NumBlocks: 4, BlockSize: 4}))
	// No proposals is an ordinary decode.
	var plain, spec Builder
	plain.Reset(4, 0)
	plain.Add([]int32{5, 6, 7}, 2, 3, []int32{3}, 1)
	spec.Reset(4, 0)
	spec.AddProposals([]int32{5, 6, 7}, 2, nil, []int32{3})
	require.Equal(t, plain.Step(), spec.Step())
}
