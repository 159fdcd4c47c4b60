package tokenizer

// merge is what one merge rule produces: the rule's rank (its index in the
// merges list, lower merges first) and the id of the merged token.
type merge struct {
	rank int32
	id   int32
}

// pairKey packs two token ids into one map key, so looking up a merge rule
// costs one integer hash instead of building and hashing a string.
func pairKey(left, right int32) uint64 {
	return uint64(uint32(left))<<32 | uint64(uint32(right))
}

// symbol is one token of a word being merged, in a doubly linked list so a
// merge is O(1). A merged-away symbol gets length 0.
type symbol struct {
	id         int32
	prev, next int32
	len        int32 // bytes covered; 0 once merged into its left neighbour
}

// candidate is a mergeable adjacent pair in the priority queue. The queue
// orders by rank, then by position, which is the order Hugging Face's BPE
// applies merges in: always the lowest-ranked pair, leftmost on a tie.
type candidate struct {
	pos   int32 // index of the left symbol
	rank  int32
	id    int32
	right int32 // id of the right symbol when queued, to detect stale entries
	left  int32 // id of the left symbol when queued
}

// candidateHeap is a binary min-heap of candidates, written out rather
// than going through container/heap, whose interface boxing allocates on
// every Pop and dominated encoding time.
type candidateHeap []candidate

func (c candidate) less(d candidate) bool {
	if c.rank != d.rank {
		return c.rank < d.rank
	}
	return c.pos < d.pos
}

func (h *candidateHeap) push(c candidate) {
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

func (h *candidateHeap) pop() candidate {
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

// bpeScratch holds the buffers one BPE call needs, so encoding a long text
// does not allocate per word.
type bpeScratch struct {
	syms []symbol
	heap candidateHeap
}

// smallPiece is the length up to which bpe uses bpeSmall. Most pieces are
// short words, for which a linear scan over a few pairs beats a heap.
const smallPiece = 24

// bpe appends the token ids of one pre-tokenized piece (raw bytes) to dst.
func (t *Tokenizer) bpe(dst []int32, piece string, sc *bpeScratch) []int32 {
	if len(piece) == 1 {
		return append(dst, t.byteIDs[piece[0]])
	}
	if len(piece) <= smallPiece {
		return t.bpeSmall(dst, piece)
	}
	return t.bpeHeap(dst, piece, sc)
}

// bpeHeap is bpe for pieces of any length (at least 2 bytes): a linked list
// of symbols and a heap of candidate merges, O(n log n).
func (t *Tokenizer) bpeHeap(dst []int32, piece string, sc *bpeScratch) []int32 {
	syms := sc.syms[:0]
	for i := 0; i < len(piece); i++ {
		syms = append(syms, symbol{id: t.byteIDs[piece[i]], prev: int32(i - 1), next: int32(i + 1), len: 1})
	}
	syms[len(syms)-1].next = -1

	h := sc.heap[:0]
	for i := 0; i+1 < len(syms); i++ {
		if m, ok := t.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(candidate{pos: int32(i), rank: m.rank, id: m.id, left: syms[i].id, right: syms[i+1].id})
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
				h.push(candidate{pos: l.prev, rank: m.rank, id: m.id, left: p.id, right: l.id})
			}
		}
		if l.next >= 0 {
			n := &syms[l.next]
			if m, ok := t.merges[pairKey(l.id, n.id)]; ok {
				h.push(candidate{pos: c.pos, rank: m.rank, id: m.id, left: l.id, right: n.id})
			}
		}
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		dst = append(dst, syms[i].id)
	}
	sc.syms, sc.heap = syms, h
	return dst
}

// noMerge marks a pair with no merge rule in bpeSmall.
const noMerge = int32(1<<31 - 1)

// bpeSmall is bpe for pieces of at most smallPiece bytes, in the style of
// tiktoken: the symbols and the rank of each adjacent pair sit in small
// arrays, each round merges the leftmost pair of lowest rank (the same order
// as the heap) and shifts the arrays down. O(n²), but with n this small the
// arrays stay in a cache line or two and no heap is maintained.
func (t *Tokenizer) bpeSmall(dst []int32, piece string) []int32 {
	var idBuf, rankBuf, mergedBuf [smallPiece]int32
	n := len(piece)
	ids := idBuf[:n]
	for i := 0; i < n; i++ {
		ids[i] = t.byteIDs[piece[i]]
	}
	ranks, merged := rankBuf[:n-1], mergedBuf[:n-1]
	rate := func(i int) {
		if m, ok := t.merges[pairKey(ids[i], ids[i+1])]; ok {
			ranks[i], merged[i] = m.rank, m.id
		} else {
			ranks[i] = noMerge
		}
	}
	for i := range ranks {
		rate(i)
	}
	for len(ranks) > 0 {
		best, bestRank := -1, noMerge
		for i, r := range ranks {
			if r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		ids[best] = merged[best]
		copy(ids[best+1:], ids[best+2:])
		ids = ids[:len(ids)-1]
		copy(ranks[best:], ranks[best+1:])
		ranks = ranks[:len(ranks)-1]
		copy(merged[best:], merged[best+1:])
		merged = merged[:len(merged)-1]
		if best > 0 {
			rate(best - 1)
		}
		if best < len(ranks) {
			rate(best)
		}
	}
	return append(dst, ids...)
}
