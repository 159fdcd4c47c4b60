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

// bpeScratch holds the buffers bpeHeap needs, reused across pieces (and
// encodings, through Tokenizer.scratch). Per byte of the piece it holds
// seven int32s, 28 bytes, allocated once: the symbols as a doubly linked
// list (a merge is O(1)) and an indexed min-heap of their pairs, which has
// exactly one entry per mergeable pair, so no stale entries pile up as in
// a heap with lazy deletion.
type bpeScratch struct {
	id         []int32 // token of each symbol; -1 once merged into its left neighbour
	prev, next []int32 // neighbours in the list, -1 at the ends
	rank       []int32 // rank of the merge of the pair starting here, noMerge if none
	merged     []int32 // the token that merge makes
	slot       []int32 // where the pair sits in heap, -1 if it is not there
	heap       []int32 // pair positions, ordered by (rank, position)
}

// maxKeptScratch is the piece length up to which a bpeScratch is kept for
// reuse; the buffers of a longer (rare, usually hostile) piece are dropped.
const maxKeptScratch = 1 << 16

// grow sizes the buffers for a piece of n bytes.
func (sc *bpeScratch) grow(n int) {
	if cap(sc.id) < n {
		sc.id, sc.prev, sc.next = make([]int32, n), make([]int32, n), make([]int32, n)
		sc.rank, sc.merged, sc.slot = make([]int32, n), make([]int32, n), make([]int32, n)
		sc.heap = make([]int32, 0, n)
	}
	sc.id, sc.prev, sc.next = sc.id[:n], sc.prev[:n], sc.next[:n]
	sc.rank, sc.merged, sc.slot = sc.rank[:n], sc.merged[:n], sc.slot[:n]
	sc.heap = sc.heap[:0]
}

// release drops buffers grown for a long piece.
func (sc *bpeScratch) release() {
	if cap(sc.id) > maxKeptScratch {
		*sc = bpeScratch{}
	}
}

// less orders heap entries: the lowest rank first, the leftmost on a tie,
// which is the order Hugging Face's BPE applies merges in.
func (sc *bpeScratch) less(i, j int) bool {
	a, b := sc.heap[i], sc.heap[j]
	if ra, rb := sc.rank[a], sc.rank[b]; ra != rb {
		return ra < rb
	}
	return a < b
}

func (sc *bpeScratch) swap(i, j int) {
	h := sc.heap
	h[i], h[j] = h[j], h[i]
	sc.slot[h[i]], sc.slot[h[j]] = int32(i), int32(j)
}

func (sc *bpeScratch) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !sc.less(i, p) {
			break
		}
		sc.swap(i, p)
		i = p
	}
}

func (sc *bpeScratch) down(i int) {
	n := len(sc.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && sc.less(r, l) {
			m = r
		}
		if !sc.less(m, i) {
			return
		}
		sc.swap(i, m)
		i = m
	}
}

// remove takes pair pos out of the heap, if it is there.
func (sc *bpeScratch) remove(pos int32) {
	i := int(sc.slot[pos])
	if i < 0 {
		return
	}
	sc.slot[pos] = -1
	last := len(sc.heap) - 1
	if i != last {
		sc.heap[i] = sc.heap[last]
		sc.slot[sc.heap[i]] = int32(i)
	}
	sc.heap = sc.heap[:last]
	if i < last {
		sc.down(i)
		sc.up(i)
	}
}

// rate looks up the merge of pair pos (with its right neighbour) and
// queues, requeues or dequeues it.
func (t *Tokenizer) rate(sc *bpeScratch, pos int32) {
	r := sc.next[pos]
	m, ok := merge{}, false
	if r >= 0 {
		m, ok = t.merges[pairKey(sc.id[pos], sc.id[r])]
	}
	if !ok {
		sc.remove(pos)
		sc.rank[pos] = noMerge
		return
	}
	sc.rank[pos], sc.merged[pos] = m.rank, m.id
	if i := sc.slot[pos]; i >= 0 {
		sc.down(int(i))
		sc.up(int(sc.slot[pos]))
		return
	}
	sc.slot[pos] = int32(len(sc.heap))
	sc.heap = append(sc.heap, pos)
	sc.up(len(sc.heap) - 1)
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

// bpeHeap is bpe for pieces of any length (at least 2 bytes): O(n log n)
// time, 28 bytes of scratch per byte of the piece.
func (t *Tokenizer) bpeHeap(dst []int32, piece string, sc *bpeScratch) []int32 {
	n := len(piece)
	sc.grow(n)
	for i := 0; i < n; i++ {
		sc.id[i] = t.byteIDs[piece[i]]
		sc.prev[i], sc.next[i], sc.slot[i] = int32(i-1), int32(i+1), -1
	}
	sc.next[n-1] = -1
	// Queue every mergeable pair; heapify once rather than push by push.
	for i := int32(0); i < int32(n-1); i++ {
		if m, ok := t.merges[pairKey(sc.id[i], sc.id[i+1])]; ok {
			sc.rank[i], sc.merged[i] = m.rank, m.id
			sc.slot[i] = int32(len(sc.heap))
			sc.heap = append(sc.heap, i)
		} else {
			sc.rank[i] = noMerge
		}
	}
	sc.rank[n-1] = noMerge
	for i := len(sc.heap)/2 - 1; i >= 0; i-- {
		sc.down(i)
	}
	for len(sc.heap) > 0 {
		l := sc.heap[0]
		sc.remove(l)
		r := sc.next[l]
		// Merge r into l.
		sc.id[l] = sc.merged[l]
		sc.remove(r)
		sc.id[r] = -1
		sc.next[l] = sc.next[r]
		if sc.next[r] >= 0 {
			sc.prev[sc.next[r]] = l
		}
		t.rate(sc, l)
		if p := sc.prev[l]; p >= 0 {
			t.rate(sc, p)
		}
	}
	for i := int32(0); i >= 0; i = sc.next[i] {
		dst = append(dst, sc.id[i])
	}
	sc.release()
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
