package block

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// chooser supplies the harness's decisions: a seeded PRNG for property
// tests, the fuzzer's bytes for the fuzz target.
type chooser interface {
	// intn returns a number in [0, n); n > 0.
	intn(n int) int
	// done reports that the source has run dry.
	done() bool
}

type randChooser struct{ r *rand.Rand }

func (c randChooser) intn(n int) int { return c.r.IntN(n) }
func (c randChooser) done() bool     { return false }

type byteChooser struct {
	data []byte
	i    int
}

func (c *byteChooser) intn(n int) int {
	if c.i >= len(c.data) {
		return 0
	}
	b := c.data[c.i]
	c.i++
	return int(b) % n
}

func (c *byteChooser) done() bool { return c.i >= len(c.data) }

// The hashes the harness can run under: the real one, and weak ones that
// make the prefix cache face collisions constantly.
var harnessHashes = []struct {
	name string
	fn   func(uint64, []int32) uint64
}{
	{"fnv", HashBlock},
	{"tokens-only", tokensOnlyHash},
	{"4-buckets", func(p uint64, t []int32) uint64 { return HashBlock(p, t) & 3 }},
	{"constant", func(uint64, []int32) uint64 { return 7 }},
}

// hseq is one sequence driven by the harness.
type hseq struct {
	tab      Table
	tokens   []int32
	computed int
	live     bool
}

// harness drives a Manager with random operations and keeps a shadow of
// what the KV cache holds: for each slot, the exact prefix whose last
// token's keys and values were written there. Whatever the manager does, a
// live sequence must always find, in every computed position, the keys and
// values of its own prefix; anything else means it was handed or shares a
// wrong block.
type harness struct {
	t        testing.TB
	c        chooser
	m        *Manager
	bs       int
	seqs     []hseq
	kv       []string
	families [][]int32
	// What the run exercised, so tests can insist it was not trivial.
	hits, outOfBlocks int
}

func newHarness(t testing.TB, c chooser, hash int, numBlocks, bs int) *harness {
	m, err := NewManager(numBlocks, bs, true)
	require.NoError(t, err)
	m.hash = harnessHashes[hash].fn
	h := &harness{t: t, c: c, m: m, bs: bs, seqs: make([]hseq, 6), kv: make([]string, numBlocks*bs)}
	// Shared prefixes over a tiny alphabet, so that equal blocks behind
	// different prefixes are common.
	for range 3 {
		f := make([]int32, 3*bs+c.intn(3*bs))
		for i := range f {
			f[i] = int32(c.intn(3))
		}
		h.families = append(h.families, f)
	}
	return h
}

// identity names the prefix tokens[:pos+1] exactly.
func identity(tokens []int32, pos int) string {
	b := make([]byte, 0, pos+1)
	for _, t := range tokens[:pos+1] {
		b = append(b, byte(t+'a'))
	}
	return string(b)
}

func (h *harness) tables() []*Table {
	var ts []*Table
	for i := range h.seqs {
		if h.seqs[i].live {
			ts = append(ts, &h.seqs[i].tab)
		}
	}
	return ts
}

// pick returns a sequence index satisfying ok, chosen by the source, or -1.
func (h *harness) pick(ok func(*hseq) bool) int {
	var idx []int
	for i := range h.seqs {
		if ok(&h.seqs[i]) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return -1
	}
	return idx[h.c.intn(len(idx))]
}

func (h *harness) step() {
	t := h.t
	switch h.c.intn(5) {
	case 0, 1: // a new prompt
		i := h.pick(func(s *hseq) bool { return !s.live })
		if i < 0 {
			return
		}
		f := h.families[h.c.intn(len(h.families))]
		toks := slices.Clone(f[:h.c.intn(len(f)+1)])
		for n := 1 + h.c.intn(2*h.bs); n > 0; n-- {
			toks = append(toks, int32(h.c.intn(3)))
		}
		before := h.m.Stats()
		s := &h.seqs[i]
		cached, err := h.m.Allocate(&s.tab, toks)
		if err != nil {
			require.ErrorIs(t, err, ErrOutOfBlocks)
			h.outOfBlocks++
			require.Zero(t, s.tab.Len())
			after := h.m.Stats()
			require.Equal(t, before.Used, after.Used, "failed Allocate changed the pool")
			require.Equal(t, before.Cached, after.Cached, "failed Allocate changed the pool")
			return
		}
		require.Zero(t, cached%h.bs)
		h.hits += cached / h.bs
		require.Less(t, cached, len(toks), "at least the last token is computed")
		require.Equal(t, NumBlocksFor(len(toks), h.bs), s.tab.Len())
		for p := range cached {
			require.Equal(t, identity(toks, p), h.kv[s.tab.Slot(p, h.bs)], "prefix hit at position %d holds another prefix's keys", p)
		}
		s.tokens, s.computed, s.live = toks, cached, true
	case 2: // compute a chunk
		i := h.pick(func(s *hseq) bool { return s.live && s.computed < len(s.tokens) })
		if i < 0 {
			return
		}
		s := &h.seqs[i]
		k := 1 + h.c.intn(len(s.tokens)-s.computed)
		for p := s.computed; p < s.computed+k; p++ {
			require.Equal(t, 1, h.m.RefCount(s.tab.Blocks()[p/h.bs]), "writing position %d into a shared block", p)
			h.kv[s.tab.Slot(p, h.bs)] = identity(s.tokens, p)
		}
		s.computed += k
		h.m.Commit(&s.tab, s.tokens, s.computed)
	case 3: // decode: one more token
		i := h.pick(func(s *hseq) bool { return s.live && s.computed == len(s.tokens) })
		if i < 0 {
			return
		}
		s := &h.seqs[i]
		n := s.tab.Len()
		if err := h.m.AppendSlot(&s.tab, len(s.tokens)+1); err != nil {
			require.True(t, errors.Is(err, ErrOutOfBlocks), "AppendSlot: %v", err)
			h.outOfBlocks++
			require.Equal(t, n, s.tab.Len())
			return
		}
		require.Equal(t, NumBlocksFor(len(s.tokens)+1, h.bs), s.tab.Len())
		s.tokens = append(s.tokens, int32(h.c.intn(3)))
	case 4: // finish
		i := h.pick(func(s *hseq) bool { return s.live })
		if i < 0 {
			return
		}
		s := &h.seqs[i]
		h.m.Free(&s.tab)
		*s = hseq{tab: s.tab}
	}
}

func (h *harness) check() {
	t := h.t
	require.NoError(t, h.m.Check(h.tables()))
	st := h.m.Stats()
	require.Equal(t, st.Total, st.Free+st.Used)
	for i := range h.seqs {
		s := &h.seqs[i]
		if !s.live {
			continue
		}
		for p := range s.computed {
			require.Equal(t, identity(s.tokens, p), h.kv[s.tab.Slot(p, h.bs)], "sequence %d lost its keys at position %d", i, p)
		}
		// Every filed block of the table holds the sequence's tokens.
		for b, id := range s.tab.Blocks() {
			if toks := h.m.CachedTokens(id); toks != nil {
				require.Equal(t, s.tokens[b*h.bs:(b+1)*h.bs], toks, "sequence %d block %d", i, b)
			}
		}
	}
}

func (h *harness) finishAll() {
	for i := range h.seqs {
		if h.seqs[i].live {
			h.m.Free(&h.seqs[i].tab)
			h.seqs[i].live = false
		}
	}
	require.NoError(h.t, h.m.Check(nil))
	st := h.m.Stats()
	require.Zero(h.t, st.Used)
	require.Equal(h.t, st.Total, st.Free, "every block is free or evictable")
}

func TestManagerRandomized(t *testing.T) {
	for hash := range harnessHashes {
		hits, oob := 0, 0
		for _, size := range []struct{ blocks, bs int }{{6, 2}, {12, 4}, {3, 1}, {20, 3}} {
			for seed := range uint64(4) {
				t.Run(harnessHashes[hash].name, func(t *testing.T) {
					c := randChooser{rand.New(rand.NewPCG(seed, uint64(hash)))}
					h := newHarness(t, c, hash, size.blocks, size.bs)
					for range 800 {
						h.step()
						h.check()
					}
					h.finishAll()
					hits += h.hits
					oob += h.outOfBlocks
				})
			}
		}
		require.Positive(t, hits, "%s: no prefix-cache hits exercised", harnessHashes[hash].name)
		require.Positive(t, oob, "%s: the pool never ran out", harnessHashes[hash].name)
	}
}
