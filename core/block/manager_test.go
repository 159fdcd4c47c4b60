package block

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func newManager(t *testing.T, numBlocks, blockSize int) *Manager {
	t.Helper()
	m, err := NewManager(numBlocks, blockSize, true)
	require.NoError(t, err)
	return m
}

// seqOf returns n tokens start, start+1, ...
func seqOf(start, n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(start + i)
	}
	return s
}

func concat(parts ...[]int32) []int32 {
	var out []int32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestNewManagerRejectsBadSizes(t *testing.T) {
	for _, tt := range []struct{ blocks, size int }{{0, 16}, {-3, 16}, {8, 0}, {8, MaxBlockSize + 1}} {
		_, err := NewManager(tt.blocks, tt.size, true)
		require.ErrorIs(t, err, ErrInvalidConfig, "NewManager(%d, %d)", tt.blocks, tt.size)
	}
}

func TestAllocate(t *testing.T) {
	tests := []struct {
		name       string
		numBlocks  int
		blockSize  int
		promptLen  int
		wantBlocks []int32
		wantErr    error
	}{
		{name: "one partial block", numBlocks: 4, blockSize: 4, promptLen: 3, wantBlocks: []int32{0}},
		{name: "exactly one block", numBlocks: 4, blockSize: 4, promptLen: 4, wantBlocks: []int32{0}},
		{name: "spills into second", numBlocks: 4, blockSize: 4, promptLen: 5, wantBlocks: []int32{0, 1}},
		{name: "whole pool", numBlocks: 4, blockSize: 4, promptLen: 16, wantBlocks: []int32{0, 1, 2, 3}},
		{name: "larger than pool", numBlocks: 4, blockSize: 4, promptLen: 17, wantErr: ErrOutOfBlocks},
		{name: "block size one", numBlocks: 4, blockSize: 1, promptLen: 3, wantBlocks: []int32{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, tt.numBlocks, tt.blockSize)
			var tab Table
			cached, err := m.Allocate(&tab, seqOf(100, tt.promptLen))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Zero(t, tab.Len())
				require.Equal(t, tt.numBlocks, m.NumFree())
				return
			}
			require.NoError(t, err)
			require.Zero(t, cached)
			require.Equal(t, tt.wantBlocks, tab.Blocks())
			st := m.Stats()
			require.Equal(t, Stats{Total: tt.numBlocks, Used: len(tt.wantBlocks), Free: tt.numBlocks - len(tt.wantBlocks),
				PrefixQueryTokens: int64(tt.promptLen)}, st)
			require.NoError(t, m.Check([]*Table{&tab}))
		})
	}
}

func TestAllocateMisuse(t *testing.T) {
	m := newManager(t, 4, 4)
	var tab Table
	_, err := m.Allocate(&tab, nil)
	require.Error(t, err)
	_, err = m.Allocate(&tab, seqOf(0, 2))
	require.NoError(t, err)
	_, err = m.Allocate(&tab, seqOf(0, 2))
	require.ErrorContains(t, err, "already holds")
	require.NoError(t, m.Check([]*Table{&tab}))
}

func TestAllocateIsAllOrNothing(t *testing.T) {
	m := newManager(t, 4, 4)
	var a, b Table
	_, err := m.Allocate(&a, seqOf(0, 9)) // 3 blocks
	require.NoError(t, err)
	_, err = m.Allocate(&b, seqOf(50, 5)) // needs 2, 1 free
	require.ErrorIs(t, err, ErrOutOfBlocks)
	require.Zero(t, b.Len())
	require.Equal(t, 1, m.NumFree())
	require.NoError(t, m.Check([]*Table{&a, &b}))
}

func TestAppendSlotAddsABlockOnlyWhenTheLastIsFull(t *testing.T) {
	m := newManager(t, 8, 4)
	var tab Table
	_, err := m.Allocate(&tab, seqOf(0, 3))
	require.NoError(t, err)
	// Sequence lengths as it decodes, and the table size each needs.
	for _, step := range []struct{ seqLen, wantBlocks int }{
		{3, 1}, {4, 1}, {5, 2}, {8, 2}, {9, 3}, {12, 3}, {13, 4},
		{20, 5}, // a chunk of several tokens at once
	} {
		require.NoError(t, m.AppendSlot(&tab, step.seqLen))
		require.Equal(t, step.wantBlocks, tab.Len(), "seqLen %d", step.seqLen)
		require.NoError(t, m.Check([]*Table{&tab}))
	}
	require.ErrorIs(t, m.AppendSlot(&tab, 33), ErrOutOfBlocks)
	require.Equal(t, 5, tab.Len(), "a failed AppendSlot changes nothing")
	require.Equal(t, 3, m.NumFree())
}

func TestSlot(t *testing.T) {
	m := newManager(t, 8, 4)
	var a, b Table
	_, err := m.Allocate(&a, seqOf(0, 2)) // block 0
	require.NoError(t, err)
	_, err = m.Allocate(&b, seqOf(0, 1)) // block 1
	require.NoError(t, err)
	require.NoError(t, m.AppendSlot(&a, 6)) // block 2
	require.Equal(t, []int32{0, 2}, a.Blocks())
	for pos, want := range []int32{0, 1, 2, 3, 8, 9} {
		require.Equal(t, want, a.Slot(pos, 4), "pos %d", pos)
	}
	require.Equal(t, 8, a.Capacity(4))
}

func TestFreeReleasesByRefCount(t *testing.T) {
	m := newManager(t, 8, 4)
	prompt := seqOf(0, 10)
	var a, b Table
	_, err := m.Allocate(&a, prompt)
	require.NoError(t, err)
	m.Commit(&a, prompt, len(prompt))
	cached, err := m.Allocate(&b, prompt)
	require.NoError(t, err)
	require.Equal(t, 8, cached)
	shared := a.Blocks()[:2]
	require.Equal(t, shared, b.Blocks()[:2])
	for _, id := range shared {
		require.Equal(t, 2, m.RefCount(id))
	}
	require.NoError(t, m.Check([]*Table{&a, &b}))

	h0 := HashBlock(0, prompt[:4])
	require.Equal(t, Block{ID: shared[0], RefCount: 2, Registered: true, Hash: h0}, m.Block(shared[0]))
	require.Equal(t, Block{ID: shared[1], RefCount: 2, Registered: true, Hash: HashBlock(h0, prompt[4:8])}, m.Block(shared[1]))
	require.Equal(t, Block{ID: a.Blocks()[2], RefCount: 1}, m.Block(a.Blocks()[2]), "a's partial tail is not filed")

	m.Free(&a)
	require.Zero(t, a.Len())
	for _, id := range shared {
		require.Equal(t, 1, m.RefCount(id), "still held by b")
	}
	require.Equal(t, Stats{Total: 8, Used: 3, Free: 5, PrefixQueryTokens: 20, PrefixHitTokens: 8}, m.Stats())
	require.NoError(t, m.Check([]*Table{&b}))

	m.Free(&b)
	st := m.Stats()
	require.Equal(t, 0, st.Used)
	require.Equal(t, 8, st.Free)
	require.Equal(t, 2, st.Cached, "the two full, computed blocks stay cached")
	require.NoError(t, m.Check(nil))
}

func TestPrefixCache(t *testing.T) {
	const bs = 4
	sys := seqOf(1000, 8) // two full blocks
	tests := []struct {
		name       string
		first      []int32
		computed   int // how many of first's tokens are computed before second arrives
		second     []int32
		wantCached int
	}{
		{name: "shared two blocks", first: concat(sys, seqOf(1, 3)), computed: 11, second: concat(sys, seqOf(7, 5)), wantCached: 8},
		{name: "diverges in second block", first: concat(sys, seqOf(1, 3)), computed: 11,
			second: concat(sys[:6], []int32{-5, -6}, seqOf(7, 5)), wantCached: 4},
		{name: "diverges at once", first: concat(sys, seqOf(1, 3)), computed: 11, second: concat([]int32{9}, sys[1:]), wantCached: 0},
		// A prompt entirely in the cache still recomputes its last block,
		// so it never writes into a shared block and gets its logits.
		{name: "identical prompt, block aligned", first: sys, computed: 8, second: sys, wantCached: 4},
		{name: "identical prompt, partial tail", first: concat(sys, seqOf(1, 2)), computed: 10, second: concat(sys, seqOf(1, 2)), wantCached: 8},
		{name: "only computed blocks are shared", first: concat(sys, seqOf(1, 3)), computed: 7, second: concat(sys, seqOf(7, 5)), wantCached: 4},
		{name: "nothing computed yet", first: concat(sys, seqOf(1, 3)), computed: 0, second: concat(sys, seqOf(7, 5)), wantCached: 0},
		{name: "prompt shorter than a block", first: concat(sys, seqOf(1, 3)), computed: 11, second: sys[:3], wantCached: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newManager(t, 16, bs)
			var a, b Table
			_, err := m.Allocate(&a, tt.first)
			require.NoError(t, err)
			m.Commit(&a, tt.first, tt.computed)
			cached, err := m.Allocate(&b, tt.second)
			require.NoError(t, err)
			require.Equal(t, tt.wantCached, cached)
			n := tt.wantCached / bs
			require.Equal(t, a.Blocks()[:n], b.Blocks()[:n], "hits are a's blocks")
			for i, id := range b.Blocks()[n:] {
				require.Equal(t, 1, m.RefCount(id), "b's block %d beyond the hits is private", n+i)
			}
			for i, id := range b.Blocks()[:n] {
				require.Equal(t, tt.second[i*bs:(i+1)*bs], m.CachedTokens(id))
			}
			require.NoError(t, m.Check([]*Table{&a, &b}))
		})
	}
}

func TestPrefixCacheDisabled(t *testing.T) {
	m, err := NewManager(8, 4, false)
	require.NoError(t, err)
	p := seqOf(0, 9)
	var a, b Table
	_, err = m.Allocate(&a, p)
	require.NoError(t, err)
	m.Commit(&a, p, 9)
	cached, err := m.Allocate(&b, p)
	require.NoError(t, err)
	require.Zero(t, cached)
	m.Free(&a)
	m.Free(&b)
	require.Zero(t, m.Stats().Cached)
	require.NoError(t, m.Check(nil))
}

func TestCachedBlocksAreEvictedLeastRecentlyUsedFirst(t *testing.T) {
	const bs = 2
	m := newManager(t, 4, bs)
	// Two 2-block prompts, computed and freed: a then b.
	pa, pb := seqOf(10, 5), seqOf(20, 5)
	var a, b Table
	for _, x := range []struct {
		t *Table
		p []int32
	}{{&a, pa}, {&b, pb}} {
		_, err := m.Allocate(x.t, x.p[:4])
		require.NoError(t, err)
		m.Commit(x.t, x.p[:4], 4)
	}
	aBlocks, bBlocks := append([]int32(nil), a.Blocks()...), append([]int32(nil), b.Blocks()...)
	m.Free(&a)
	m.Free(&b)
	require.Equal(t, 4, m.Stats().Cached)
	// LRU order is a's tail, a's head, b's tail, b's head: a new block
	// evicts a's tail, which leaves a's head still findable.
	var c Table
	_, err := m.Allocate(&c, seqOf(90, 1))
	require.NoError(t, err)
	require.Equal(t, []int32{aBlocks[1]}, c.Blocks())
	require.Nil(t, m.CachedTokens(aBlocks[1]), "evicted block is forgotten")
	require.Equal(t, 3, m.Stats().Cached)

	// A hit refreshes a block: b's head is used again, then freed, so a's
	// head is now the oldest.
	var d Table
	cached, err := m.Allocate(&d, pb[:3])
	require.NoError(t, err)
	require.Equal(t, 2, cached)
	require.Equal(t, bBlocks[0], d.Blocks()[0])
	m.Free(&d) // d's second block was fresh: b's tail was evicted for it
	require.NoError(t, m.Check([]*Table{&c}))
	var e Table
	_, err = m.Allocate(&e, seqOf(70, 1))
	require.NoError(t, err)
	require.Equal(t, []int32{aBlocks[0]}, e.Blocks(), "a's head was least recently used")
	require.NoError(t, m.Check([]*Table{&c, &e}))
}

func TestEvictionNeverTakesTheBlocksBeingReused(t *testing.T) {
	// The pool is exactly full once the prompt's cached head is reused:
	// the fresh block must come from elsewhere, not from that head.
	m := newManager(t, 2, 2)
	p := seqOf(0, 3)
	var a Table
	_, err := m.Allocate(&a, p)
	require.NoError(t, err)
	m.Commit(&a, p, 3)
	head := a.Blocks()[0]
	m.Free(&a)
	var b Table
	cached, err := m.Allocate(&b, p)
	require.NoError(t, err)
	require.Equal(t, 2, cached)
	require.Equal(t, head, b.Blocks()[0])
	require.NotEqual(t, head, b.Blocks()[1])
	require.NoError(t, m.Check([]*Table{&b}))
}

// A hash that ignores the parent makes blocks with the same tokens collide
// whatever precedes them.
func tokensOnlyHash(_ uint64, tokens []int32) uint64 { return HashBlock(0, tokens) }

func TestCollisionsNeverShareWrongBlocks(t *testing.T) {
	const bs = 2
	P, Q, R, Z := []int32{1, 1}, []int32{2, 2}, []int32{3, 3}, []int32{4, 4}
	t.Run("constant hash", func(t *testing.T) {
		m := newManager(t, 8, bs)
		m.hash = func(uint64, []int32) uint64 { return 42 }
		var a, b Table
		_, err := m.Allocate(&a, concat(P, Q, Z))
		require.NoError(t, err)
		m.Commit(&a, concat(P, Q, Z), 5)
		cached, err := m.Allocate(&b, concat(R, Q, Z))
		require.NoError(t, err)
		require.Zero(t, cached, "same hash, other tokens")
		require.NoError(t, m.Check([]*Table{&a, &b}))
	})
	t.Run("same block behind another prefix", func(t *testing.T) {
		m := newManager(t, 8, bs)
		m.hash = tokensOnlyHash
		var a, b, c Table
		_, err := m.Allocate(&a, concat(P, Q, Z))
		require.NoError(t, err)
		m.Commit(&a, concat(P, Q, Z), 5)
		_, err = m.Allocate(&b, concat(R, Q, Z))
		require.NoError(t, err)
		m.Commit(&b, concat(R, Q, Z), 5)
		// c's first block is b's; its second has the tokens of a's second
		// block, which was computed behind P, not R.
		cached, err := m.Allocate(&c, concat(R, Q, Z))
		require.NoError(t, err)
		require.Equal(t, 2, cached)
		require.Equal(t, b.Blocks()[0], c.Blocks()[0])
		require.NotEqual(t, a.Blocks()[1], c.Blocks()[1])
		require.NoError(t, m.Check([]*Table{&a, &b, &c}))
	})
	t.Run("parent reused for other tokens", func(t *testing.T) {
		m := newManager(t, 8, bs)
		m.hash = tokensOnlyHash
		// a and a2 start alike and compute together: a2's first block is a
		// duplicate that is not filed, but its second block (Q) is filed
		// with that duplicate as parent.
		var a, a2 Table
		_, err := m.Allocate(&a, concat(P, Z, Z))
		require.NoError(t, err)
		_, err = m.Allocate(&a2, concat(P, Q, Z))
		require.NoError(t, err)
		m.Commit(&a, concat(P, Z, Z), 5)
		m.Commit(&a2, concat(P, Q, Z), 5)
		dup, child := a2.Blocks()[0], a2.Blocks()[1]
		require.Nil(t, m.CachedTokens(dup))
		require.Equal(t, Q, m.CachedTokens(child))
		m.Free(&a2)
		// The duplicate goes back empty and is handed out for R.
		var e Table
		_, err = m.Allocate(&e, concat(R, Z))
		require.NoError(t, err)
		require.Equal(t, dup, e.Blocks()[0])
		m.Commit(&e, concat(R, Z), 3)
		require.Equal(t, R, m.CachedTokens(dup))
		// R then Q: the parent id matches child's record, but it holds
		// other tokens now, so child must not be reused.
		var c Table
		cached, err := m.Allocate(&c, concat(R, Q, Z))
		require.NoError(t, err)
		require.Equal(t, 2, cached)
		require.NotEqual(t, child, c.Blocks()[1])
		require.NoError(t, m.Check([]*Table{&a, &e, &c}))
	})
}

func TestDuplicateBlocksAreFreedNotCached(t *testing.T) {
	m := newManager(t, 8, 2)
	p := seqOf(0, 3)
	var a, b Table
	_, err := m.Allocate(&a, p)
	require.NoError(t, err)
	_, err = m.Allocate(&b, p) // before a is computed: no hit
	require.NoError(t, err)
	m.Commit(&a, p, 3)
	m.Commit(&b, p, 3)
	require.Equal(t, p[:2], m.CachedTokens(a.Blocks()[0]))
	require.Nil(t, m.CachedTokens(b.Blocks()[0]), "one copy is filed")
	m.Free(&b)
	st := m.Stats()
	require.Equal(t, 0, st.Cached, "b's copy is forgotten, not cached")
	require.Equal(t, 2, st.Used)
	require.Equal(t, 6, st.Free)
	require.NoError(t, m.Check([]*Table{&a}))
	m.Free(&a)
	require.Equal(t, 1, m.Stats().Cached, "a's filed block; its partial tail is not filed")
	require.NoError(t, m.Check(nil))
}

// TestTruncate rolls back slots reserved for rejected speculative tokens:
// the trailing blocks return to the pool, committed blocks stay, and no
// block holding a rejected token is ever filed in the prefix cache.
func TestTruncate(t *testing.T) {
	m := newManager(t, 8, 4)
	var tab Table
	prompt := seqOf(100, 6)
	_, err := m.Allocate(&tab, prompt)
	require.NoError(t, err)
	m.Commit(&tab, prompt, 6) // block 0 is full and committed
	// Decode with 5 proposals: 6+1+5 = 12 tokens, 3 blocks.
	require.NoError(t, m.AppendSlot(&tab, 12))
	require.Equal(t, 3, tab.Len())
	require.Equal(t, 5, m.NumFree())
	// Two accepted: 9 tokens' worth of KV is valid, so 3 blocks stay.
	require.NoError(t, m.Truncate(&tab, 9))
	require.Equal(t, 3, tab.Len())
	// None accepted: 7 tokens, 2 blocks; the third returns to the pool.
	require.NoError(t, m.Truncate(&tab, 7))
	require.Equal(t, 2, tab.Len())
	require.Equal(t, 6, m.NumFree())
	require.NoError(t, m.Check([]*Table{&tab}))
	// A committed block is never released.
	require.ErrorContains(t, m.Truncate(&tab, 0), "release committed block 0")
	require.NoError(t, m.Truncate(&tab, 3), "block 0 is all 3 tokens need")
	require.Equal(t, 1, tab.Len())
	// Growing again after a rollback works as before.
	require.NoError(t, m.AppendSlot(&tab, 13))
	require.Equal(t, 4, tab.Len())
	require.NoError(t, m.Check([]*Table{&tab}))
	m.Free(&tab)
	require.Equal(t, 8, m.NumFree())
}
