package block

import (
	"errors"
	"fmt"
	"slices"
)

// none marks the absence of a block in parent and list links.
const none = -1

// meta is the bookkeeping of one physical block. A block is always in
// exactly one of three states:
//
//   - used: ref > 0, held by that many tables;
//   - cached: ref == 0 and registered, kept in the LRU list so that a later
//     sequence can still find its contents;
//   - empty: ref == 0 and not registered, on the free stack.
type meta struct {
	ref int32
	// gen counts how many times the block was handed out empty. A cached
	// child records its parent's gen, so that once the parent is reused for
	// other tokens the child can no longer be matched behind it.
	gen uint32
	// For registered blocks: the cumulative hash they are filed under, and
	// the block (and its gen) that held the previous tokens when this
	// block's keys and values were computed.
	hash       uint64
	parent     int32
	parentGen  uint32
	registered bool
	// prev and next link cached blocks in LRU order.
	prev, next int32
}

// Stats are the Manager's counters.
type Stats struct {
	// Total is the size of the pool.
	Total int
	// Used blocks are held by at least one table.
	Used int
	// Free blocks can be handed out: empty ones plus cached ones, which are
	// evicted least recently used first. Free + Used == Total.
	Free int
	// Cached blocks are the free blocks that still hold reusable contents.
	Cached int
	// PrefixQueryTokens counts the prompt tokens looked up in the prefix
	// cache since the Manager was made; PrefixHitTokens counts those found.
	PrefixQueryTokens int64
	PrefixHitTokens   int64
}

// Manager allocates the blocks of a fixed pool to block tables, counting
// references so that tables can share blocks, and remembers the contents of
// full blocks for prefix caching. It is not safe for concurrent use.
type Manager struct {
	blockSize     int
	prefixCaching bool
	// hash is HashBlock; tests swap in a weak one to force collisions.
	hash func(parent uint64, tokens []int32) uint64

	meta []meta
	// tokens holds, for each registered block, the token ids it was
	// registered with: blockSize entries per block.
	tokens []int32
	// free is a stack of empty blocks.
	free []int32
	// lruHead is the least recently used cached block, lruTail the most.
	lruHead, lruTail int32
	numCached        int
	used             int
	cache            map[uint64]int32

	queryTokens, hitTokens int64
	// hits is scratch space for Allocate.
	hits []int32
}

// NewManager makes a manager over a pool of numBlocks blocks of blockSize
// tokens each.
func NewManager(numBlocks, blockSize int, prefixCaching bool) (*Manager, error) {
	c := Config{BlockSize: blockSize, NumBlocks: numBlocks, PrefixCaching: prefixCaching}
	if numBlocks <= 0 {
		return nil, fmt.Errorf("block: NewManager with %d blocks, want at least 1: %w", numBlocks, ErrInvalidConfig)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		blockSize:     blockSize,
		prefixCaching: prefixCaching,
		hash:          HashBlock,
		meta:          make([]meta, numBlocks),
		free:          make([]int32, numBlocks),
		lruHead:       none,
		lruTail:       none,
		cache:         make(map[uint64]int32),
	}
	if prefixCaching {
		m.tokens = make([]int32, numBlocks*blockSize)
	}
	for i := range m.meta {
		m.meta[i] = meta{parent: none, prev: none, next: none}
		// Pop order 0, 1, 2, ... keeps allocation easy to follow in tests
		// and traces.
		m.free[i] = int32(numBlocks - 1 - i)
	}
	return m, nil
}

// BlockSize is the number of tokens per block.
func (m *Manager) BlockSize() int { return m.blockSize }

// NumBlocks is the size of the pool.
func (m *Manager) NumBlocks() int { return len(m.meta) }

// NumFree is the number of blocks that can be handed out now, counting
// cached blocks that would be evicted.
func (m *Manager) NumFree() int { return len(m.free) + m.numCached }

// RefCount is the number of tables holding block id.
func (m *Manager) RefCount(id int32) int { return int(m.meta[id].ref) }

// Stats returns the current counters.
func (m *Manager) Stats() Stats {
	return Stats{
		Total:             len(m.meta),
		Used:              m.used,
		Free:              m.NumFree(),
		Cached:            m.numCached,
		PrefixQueryTokens: m.queryTokens,
		PrefixHitTokens:   m.hitTokens,
	}
}

// Allocate gives an empty table the blocks for a prompt of len(tokens)
// tokens and returns how many leading tokens are already computed because
// their blocks were found in the prefix cache.
//
// Only full blocks that end before the prompt's last token are looked up:
// the block holding the last token is always private, so the sequence never
// writes into a block another sequence reads, and at least one token is
// left to compute, whose logits give the next token.
//
// Allocate is all or nothing: when the pool is short it returns an error
// wrapping ErrOutOfBlocks and changes nothing.
func (m *Manager) Allocate(t *Table, tokens []int32) (cached int, err error) {
	if len(t.ids) != 0 {
		return 0, fmt.Errorf("block: Allocate on a table that already holds %d blocks", len(t.ids))
	}
	if len(tokens) == 0 {
		return 0, errors.New("block: Allocate with no tokens")
	}
	need := NumBlocksFor(len(tokens), m.blockSize)
	if need > len(m.meta) {
		return 0, fmt.Errorf("block: %d tokens need %d blocks, the pool has %d: %w", len(tokens), need, len(m.meta), ErrOutOfBlocks)
	}
	hits, hash := m.matchPrefix(tokens)
	// Hits on cached blocks take them out of the free count too.
	reclaimed := 0
	for _, id := range hits {
		if m.meta[id].ref == 0 {
			reclaimed++
		}
	}
	if fresh := need - len(hits); fresh > m.NumFree()-reclaimed {
		return 0, fmt.Errorf("block: %d tokens need %d new blocks, %d are free: %w", len(tokens), fresh, m.NumFree()-reclaimed, ErrOutOfBlocks)
	}
	m.queryTokens += int64(len(tokens))
	m.hitTokens += int64(len(hits) * m.blockSize)
	// Take the hits before allocating fresh blocks, so that eviction cannot
	// reclaim a block this very table is about to reuse.
	t.ids = slices.Grow(t.ids[:0], need)
	for _, id := range hits {
		m.acquire(id)
		t.ids = append(t.ids, id)
	}
	for len(t.ids) < need {
		t.ids = append(t.ids, m.takeEmpty())
	}
	t.numHashed, t.hash = len(hits), hash
	return len(hits) * m.blockSize, nil
}

// matchPrefix returns the cached blocks that hold the leading full blocks of
// tokens (in m.hits) and the cumulative hash of the last one.
func (m *Manager) matchPrefix(tokens []int32) ([]int32, uint64) {
	m.hits = m.hits[:0]
	if !m.prefixCaching {
		return m.hits, 0
	}
	bs := m.blockSize
	var hash uint64
	parent := int32(none)
	for i := 0; i < (len(tokens)-1)/bs; i++ {
		blk := tokens[i*bs : (i+1)*bs]
		h := m.hash(hash, blk)
		id, ok := m.cache[h]
		if !ok {
			break
		}
		// A hash hit is only a hint: reuse the block only if it holds
		// these very tokens and was computed behind the block we matched
		// just before (still holding what it held then), so the whole
		// prefix is confirmed token by token.
		b := &m.meta[id]
		if b.parent != parent || (parent != none && b.parentGen != m.meta[parent].gen) ||
			!slices.Equal(m.tokens[int(id)*bs:int(id+1)*bs], blk) {
			break
		}
		m.hits = append(m.hits, id)
		hash, parent = h, id
	}
	return m.hits, hash
}

// AppendSlot makes room in t for a sequence of seqLen tokens, adding a block
// only when the last one is full. This is how a table grows as a sequence
// decodes; it also serves chunks of several tokens. It is all or nothing:
// when the pool is short it returns an error wrapping ErrOutOfBlocks and
// changes nothing.
func (m *Manager) AppendSlot(t *Table, seqLen int) error {
	need := NumBlocksFor(seqLen, m.blockSize) - len(t.ids)
	if need <= 0 {
		return nil
	}
	if need > m.NumFree() {
		return fmt.Errorf("block: growing to %d tokens needs %d more blocks, %d are free: %w", seqLen, need, m.NumFree(), ErrOutOfBlocks)
	}
	for range need {
		t.ids = append(t.ids, m.takeEmpty())
	}
	return nil
}

// Truncate shrinks t to the blocks numTokens tokens need, releasing the
// rest. It is speculative decoding's rollback: slots reserved for proposed
// tokens that were rejected go back to the pool, and since only computed
// blocks are ever committed, no prefix-cache entry names a rejected token.
// Committed blocks are never released: numTokens must cover them.
func (m *Manager) Truncate(t *Table, numTokens int) error {
	keep := NumBlocksFor(numTokens, m.blockSize)
	if keep < t.numHashed {
		return fmt.Errorf("block: truncating to %d tokens would release committed block %d", numTokens, keep)
	}
	for i := len(t.ids) - 1; i >= keep; i-- {
		m.release(t.ids[i])
	}
	if keep < len(t.ids) {
		t.ids = t.ids[:keep]
	}
	return nil
}

// Commit records that the first numComputed of tokens (the sequence's
// tokens, prompt then output) have their keys and values in the cache, and
// files every newly full block in the prefix cache so later sequences can
// reuse it. Call it after each model step.
//
// A block is filed only once it is computed: a sequence must never find a
// block whose keys and values are still to be written.
func (m *Manager) Commit(t *Table, tokens []int32, numComputed int) {
	if !m.prefixCaching {
		return
	}
	bs := m.blockSize
	full := min(numComputed, len(tokens), len(t.ids)*bs) / bs
	for i := t.numHashed; i < full; i++ {
		blk := tokens[i*bs : (i+1)*bs]
		t.hash = m.hash(t.hash, blk)
		t.numHashed = i + 1
		id := t.ids[i]
		b := &m.meta[id]
		if b.registered {
			continue // a prefix-cache hit, filed already
		}
		if _, taken := m.cache[t.hash]; taken {
			// Another block already holds these tokens (or collides with
			// them); keep that one and let this copy go when it is freed.
			continue
		}
		b.registered = true
		b.hash = t.hash
		b.parent, b.parentGen = none, 0
		if i > 0 {
			b.parent = t.ids[i-1]
			b.parentGen = m.meta[b.parent].gen
		}
		copy(m.tokens[int(id)*bs:int(id+1)*bs], blk)
		m.cache[t.hash] = id
	}
}

// Free drops t's references to its blocks and empties t. Blocks nobody else
// holds become free; those filed in the prefix cache stay findable until
// the pool needs them.
func (m *Manager) Free(t *Table) {
	// Release the tail first: it joins the LRU list before the head, so it
	// is evicted first, and the shared beginnings of prompts, the most
	// likely to be asked for again, are kept longest.
	for i := len(t.ids) - 1; i >= 0; i-- {
		m.release(t.ids[i])
	}
	t.ids = t.ids[:0]
	t.numHashed, t.hash = 0, 0
}

// acquire adds a reference to a block found in the prefix cache.
func (m *Manager) acquire(id int32) {
	b := &m.meta[id]
	if b.ref == 0 {
		m.lruRemove(id)
		m.used++
	}
	b.ref++
}

func (m *Manager) release(id int32) {
	b := &m.meta[id]
	b.ref--
	if b.ref > 0 {
		return
	}
	m.used--
	if b.registered {
		m.lruPush(id)
		return
	}
	m.free = append(m.free, id)
}

// takeEmpty hands out a block with nothing in it: an empty one if there is
// one, else the least recently used cached block, whose contents are
// forgotten. The caller has checked that NumFree() > 0.
func (m *Manager) takeEmpty() int32 {
	var id int32
	if n := len(m.free); n > 0 {
		id = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		id = m.lruHead
		m.lruRemove(id)
		b := &m.meta[id]
		delete(m.cache, b.hash)
		b.registered = false
		b.parent = none
	}
	b := &m.meta[id]
	b.gen++
	b.ref = 1
	m.used++
	return id
}

func (m *Manager) lruPush(id int32) {
	b := &m.meta[id]
	b.prev, b.next = m.lruTail, none
	if m.lruTail != none {
		m.meta[m.lruTail].next = id
	} else {
		m.lruHead = id
	}
	m.lruTail = id
	m.numCached++
}

func (m *Manager) lruRemove(id int32) {
	b := &m.meta[id]
	if b.prev != none {
		m.meta[b.prev].next = b.next
	} else {
		m.lruHead = b.next
	}
	if b.next != none {
		m.meta[b.next].prev = b.prev
	} else {
		m.lruTail = b.prev
	}
	b.prev, b.next = none, none
	m.numCached--
}

// Block describes one physical block of the pool.
type Block struct {
	ID int32
	// RefCount is the number of tables holding the block.
	RefCount int
	// Registered reports that the block's contents are in the prefix cache,
	// findable under Hash, the cumulative hash of the tokens up to its end.
	Registered bool
	Hash       uint64
}

// Block reports the state of block id, which must be in the pool.
func (m *Manager) Block(id int32) Block {
	b := m.meta[id]
	blk := Block{ID: id, RefCount: int(b.ref), Registered: b.registered}
	if b.registered {
		blk.Hash = b.hash
	}
	return blk
}
