package scheduler

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// mix64 is the SplitMix64 finalizer: a cheap, well-spread 64-bit mix.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// kvValue is the fake model's "keys and values" of token tok at position
// pos, given ctx, the weighted sum of the values of every earlier position.
// Like the deeper layers of a real transformer, a position's cache entry
// depends on the whole prefix, so a block computed behind another prefix
// holds different values.
func kvValue(tok int32, pos int, ctx uint64) uint64 {
	return mix64(uint64(uint32(tok)) ^ uint64(pos)<<32 ^ mix64(ctx))
}

// weight makes the context sum depend on where each value sits.
func weight(pos int) uint64 { return uint64(2*pos + 1) }

// nextToken is the token the fake model predicts after a prefix whose
// context sum, last position included, is ctx.
func nextToken(ctx uint64, vocab int) int32 { return int32(mix64(ctx^0x5eed) % uint64(vocab)) }

// referenceGenerate is the fake model run the plain way, with no cache,
// no blocks and no batching: the independent expectation.
func referenceGenerate(prompt []int32, n, vocab int) []int32 {
	toks := append([]int32(nil), prompt...)
	var ctx uint64
	for p := range toks {
		ctx += kvValue(toks[p], p, ctx) * weight(p)
	}
	out := make([]int32, 0, n)
	for len(out) < n {
		next := nextToken(ctx, vocab)
		out = append(out, next)
		p := len(toks)
		toks = append(toks, next)
		ctx += kvValue(next, p, ctx) * weight(p)
	}
	return out
}

// fakeModel is a Device-like consumer of Batch: it reads and writes its
// paged cache only through the batch's slots and block tables, as a real
// device does, and checks the batch is self-consistent on the way.
type fakeModel struct {
	t        testing.TB
	kv       []uint64
	vocab    int
	sampled  []int32
	tokens   int // tokens computed over the run
	maxChunk int // largest prefill chunk that did not finish its prompt
	chunked  int // steps in which a prefill stopped short of its prompt
	// speculated counts sequence-steps that verified proposals.
	speculated int
}

func newFakeModel(t testing.TB, numBlocks, blockSize, vocab int) *fakeModel {
	return &fakeModel{t: t, kv: make([]uint64, numBlocks*blockSize), vocab: vocab}
}

// step runs the batch and returns one sampled token per logits row.
func (f *fakeModel) step(b *Plan) []int32 {
	t := f.t
	n := b.NumTokens()
	require.Len(t, b.Step.Positions, n)
	require.Len(t, b.Step.Slots, n)
	require.Len(t, b.Step.QueryStarts, len(b.Seqs)+1)
	require.Len(t, b.Step.ContextLens, len(b.Seqs))
	require.Len(t, b.Step.BlockTables, len(b.Seqs)*b.Step.BlockTableStride)
	require.Equal(t, int32(n), b.Step.QueryStarts[len(b.Seqs)])
	require.Len(t, b.Step.LogitsSeqs, len(b.Step.LogitsRows))
	f.tokens += n
	bs := int32(b.Step.BlockSize)
	// ctxAt[j] is the context sum of token j's sequence after token j.
	// The per-token checks use plain comparisons: testify's reflection
	// would dominate the simulation's run time.
	ctxAt := make([]uint64, n)
	for i := range b.Seqs {
		table := b.Step.BlockTables[i*b.Step.BlockTableStride : (i+1)*b.Step.BlockTableStride]
		slotOf := func(pos int32) int32 {
			id := table[pos/bs]
			if id < 0 {
				t.Fatalf("sequence %d: position %d beyond its block table %v", i, pos, table)
			}
			return id*bs + pos%bs
		}
		lo, hi := b.Step.QueryStarts[i], b.Step.QueryStarts[i+1]
		if lo >= hi {
			t.Fatalf("sequence %d has no tokens", i)
		}
		first := b.Step.Positions[lo]
		// Attention reads every earlier position from the cache.
		var ctx uint64
		for q := range first {
			ctx += f.kv[slotOf(q)] * weight(int(q))
		}
		for j := lo; j < hi; j++ {
			pos := b.Step.Positions[j]
			if pos != first+(j-lo) {
				t.Fatalf("sequence %d: token %d at position %d, want %d (consecutive)", i, j, pos, first+(j-lo))
			}
			if slot := slotOf(pos); b.Step.Slots[j] != slot {
				t.Fatalf("sequence %d: position %d has slot %d, block table says %d", i, pos, b.Step.Slots[j], slot)
			}
			if b.Step.TokenSeqs[j] != int32(i) {
				t.Fatalf("token %d belongs to sequence %d, not %d", j, i, b.Step.TokenSeqs[j])
			}
			v := kvValue(b.Step.TokenIDs[j], int(pos), ctx)
			f.kv[b.Step.Slots[j]] = v
			ctx += v * weight(int(pos))
			ctxAt[j] = ctx
		}
		if b.Step.ContextLens[i] != b.Step.Positions[hi-1]+1 {
			t.Fatalf("sequence %d: context length %d after position %d", i, b.Step.ContextLens[i], b.Step.Positions[hi-1])
		}
	}
	// Which rows want logits: the last token of a sequence whose prompt
	// is done, or, for a sequence verifying proposals (its context runs
	// past its tokens), every token.
	f.sampled = f.sampled[:0]
	rows := 0
	for i, seq := range b.Seqs {
		lo, last := b.Step.QueryStarts[i], b.Step.QueryStarts[i+1]-1
		first := last
		switch ctx := int(b.Step.ContextLens[i]); {
		case ctx > seq.Len():
			if k := ctx - seq.Len(); k > len(seq.Proposals) || int(last-lo) != k {
				t.Fatalf("sequence %d: context %d for %d tokens, %d in the step and %d proposals", i, ctx, seq.Len(), last+1-lo, len(seq.Proposals))
			}
			first = lo
			f.speculated++
		case ctx < seq.Len():
			f.chunked++
			f.maxChunk = max(f.maxChunk, int(last+1-lo))
			continue
		}
		for j := first; j <= last; j++ {
			if rows >= len(b.Step.LogitsRows) || b.Step.LogitsRows[rows] != j || b.Step.LogitsSeqs[rows] != int32(i) {
				t.Fatalf("sequence %d wants logits of token %d at row %d: logits rows %v, sequences %v", i, j, rows, b.Step.LogitsRows, b.Step.LogitsSeqs)
			}
			f.sampled = append(f.sampled, nextToken(ctxAt[j], f.vocab))
			rows++
		}
	}
	require.Equal(t, len(b.Step.LogitsRows), rows, "logits rows for sequences still prefilling")
	return f.sampled
}
