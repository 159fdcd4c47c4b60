package tokenizer

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// This is the BPE with a lazily pruned heap that bpeHeap replaced (it kept
// up to three candidates per byte and grew its buffers by doubling: about
// 100 bytes of memory per byte of a long piece). It stays here as the
// reference bpeHeap must agree with, merge for merge.

// refSymbol is one token of a word being merged, in a doubly linked list so a
// merge is O(1). A merged-away refSymbol gets length 0.
type refSymbol struct {
	id         int32
	prev, next int32
	len        int32 // bytes covered; 0 once merged into its left neighbour
}

// refCandidate is a mergeable adjacent pair in the priority queue. The queue
// orders by rank, then by position, which is the order Hugging Face's BPE
// applies merges in: always the lowest-ranked pair, leftmost on a tie.
type refCandidate struct {
	pos   int32 // index of the left refSymbol
	rank  int32
	id    int32
	right int32 // id of the right refSymbol when queued, to detect stale entries
	left  int32 // id of the left refSymbol when queued
}

// refCandidateHeap is a binary min-heap of refCandidates, written out rather
// than going through container/heap, whose interface boxing allocates on
// every Pop and dominated encoding time.
type refCandidateHeap []refCandidate

func (c refCandidate) less(d refCandidate) bool {
	if c.rank != d.rank {
		return c.rank < d.rank
	}
	return c.pos < d.pos
}

func (h *refCandidateHeap) push(c refCandidate) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !a[i].less(a[p]) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *refCandidateHeap) pop() refCandidate {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a[r].less(a[l]) {
			m = r
		}
		if !a[m].less(a[i]) {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
}

// refScratch holds the buffers one BPE call needs, so encoding a long text
// does not allocate per word.
type refScratch struct {
	syms []refSymbol
	heap refCandidateHeap
}

// bpeHeapReference is bpe for pieces of any length (at least 2 bytes): a linked list
// of refSymbols and a heap of refCandidate merges, O(n log n).
func (t *Tokenizer) bpeHeapReference(dst []int32, piece string, sc *refScratch) []int32 {
	syms := sc.syms[:0]
	for i := 0; i < len(piece); i++ {
		syms = append(syms, refSymbol{id: t.byteIDs[piece[i]], prev: int32(i - 1), next: int32(i + 1), len: 1})
	}
	syms[len(syms)-1].next = -1

	h := sc.heap[:0]
	for i := 0; i+1 < len(syms); i++ {
		if m, ok := t.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(refCandidate{pos: int32(i), rank: m.rank, id: m.id, left: syms[i].id, right: syms[i+1].id})
		}
	}
	for len(h) > 0 {
		c := h.pop()
		l := &syms[c.pos]
		// Skip entries made stale by an earlier merge next to them.
		if l.len == 0 || l.id != c.left || l.next < 0 || syms[l.next].id != c.right {
			continue
		}
		r := &syms[l.next]
		l.id = c.id
		l.len += r.len
		r.len = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = c.pos
		}
		if l.prev >= 0 {
			p := &syms[l.prev]
			if m, ok := t.merges[pairKey(p.id, l.id)]; ok {
				h.push(refCandidate{pos: l.prev, rank: m.rank, id: m.id, left: p.id, right: l.id})
			}
		}
		if l.next >= 0 {
			n := &syms[l.next]
			if m, ok := t.merges[pairKey(l.id, n.id)]; ok {
				h.push(refCandidate{pos: c.pos, rank: m.rank, id: m.id, left: l.id, right: n.id})
			}
		}
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		dst = append(dst, syms[i].id)
	}
	sc.syms, sc.heap = syms, h
	return dst
}

// FuzzBPEHeapMatchesReference checks bpeHeap against the reference on
// pieces of any length, and a scratch reused across pieces.
func FuzzBPEHeapMatchesReference(f *testing.F) {
	tok := qwen3(f)
	for _, s := range []string{"hello world", strings.Repeat("a", 1000), strings.Repeat("ab", 300), "  \n\n\t ", strings.Repeat("中文", 100), strings.Repeat("!", 77)} {
		f.Add(s)
	}
	sc := new(bpeScratch)
	f.Fuzz(func(t *testing.T, piece string) {
		if len(piece) < 2 {
			return
		}
		require.Equal(t, tok.bpeHeapReference(nil, piece, new(refScratch)), tok.bpeHeap(nil, piece, sc), "%q", piece)
	})
}

// TestBPEHeapLongPieces compares the two on long runs, where the merge
// order is hardest (every pair has the same rank), and checks that a long
// piece's buffers are not kept.
func TestBPEHeapLongPieces(t *testing.T) {
	tok := qwen3(t)
	for _, piece := range []string{
		strings.Repeat("a", 5000), strings.Repeat("ab", 3000), strings.Repeat("abc", 2000),
		strings.Repeat("!", 4000), strings.Repeat(" ", 5000), strings.Repeat("中文", 2000), strings.Repeat("Ġ", 999),
		strings.Repeat("the", 100) + strings.Repeat("a", 77) + strings.Repeat("xyz", 50),
	} {
		sc := new(bpeScratch)
		require.Equal(t, tok.bpeHeapReference(nil, piece, new(refScratch)), tok.bpeHeap(nil, piece, sc), "%.40q", piece)
	}
	sc := new(bpeScratch)
	tok.bpeHeap(nil, strings.Repeat("a", maxKeptScratch+1), sc)
	require.Nil(t, sc.id, "buffers of a long piece are dropped")
	tok.bpeHeap(nil, strings.Repeat("a", 100), sc)
	require.NotNil(t, sc.id, "buffers of a short piece are kept")
}

// TestEncodeMemoryPerByte checks what one input byte costs while encoding:
// ordinary text streams (a few bytes per byte), and one long piece, the
// worst case, takes bpeHeap's 28 bytes of scratch per byte (the lazy heap
// it replaced took about 100).
func TestEncodeMemoryPerByte(t *testing.T) {
	tok := qwen3(t)
	const n = 1 << 19
	for _, tc := range []struct {
		name    string
		text    string
		perByte uint64
	}{
		{"prose", strings.Repeat("The quick brown fox jumps over the lazy dog. ", n/45), 4},
		{"digits", strings.Repeat("7", n), 16},
		{"one long word", strings.Repeat("a", n), 40},
		{"one long run of punctuation", strings.Repeat("!", n), 40},
		{"one long run of CJK", strings.Repeat("中文", n/6), 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ids []int32
			bounded(t, 10*time.Second, tc.perByte*uint64(len(tc.text)), func() { ids = tok.Encode(tc.text) })
			require.NotEmpty(t, ids)
		})
	}
	_, err := tok.EncodeChecked(strings.Repeat("x", MaxEncodeBytes+1))
	require.ErrorIs(t, err, ErrTooLong)
	require.ErrorContains(t, err, "16777217 bytes, more than MaxEncodeBytes (16777216)")
	ids, err := tok.EncodeChecked("Hello")
	require.NoError(t, err)
	require.Equal(t, tok.Encode("Hello"), ids)
}
