package block

import (
	"errors"
	"fmt"
	"slices"
)

// ErrCorrupt reports that Check found the Manager's bookkeeping inconsistent.
var ErrCorrupt = errors.New("block manager state is inconsistent")

// CachedTokens returns the token ids block id was filed under in the prefix
// cache, or nil if the block is not filed. The slice must not be modified.
func (m *Manager) CachedTokens(id int32) []int32 {
	if id < 0 || int(id) >= len(m.meta) || !m.meta[id].registered {
		return nil
	}
	return m.tokens[int(id)*m.blockSize : int(id+1)*m.blockSize]
}

// Check verifies the Manager's invariants, given every table that holds
// blocks: each block's reference count equals the number of tables holding
// it, free + used == total, no block is both free and in use, and the prefix
// cache files only unreferenced-or-used registered blocks under their own
// hash. It exists for tests and debugging; it costs O(pool + tables).
func (m *Manager) Check(tables []*Table) error {
	n := len(m.meta)
	refs := make([]int32, n)
	for ti, t := range tables {
		if t.numHashed > len(t.ids) {
			return fmt.Errorf("%w: table %d has %d hashed blocks of %d", ErrCorrupt, ti, t.numHashed, len(t.ids))
		}
		for _, id := range t.ids {
			if id < 0 || int(id) >= n {
				return fmt.Errorf("%w: table %d holds block %d outside the pool", ErrCorrupt, ti, id)
			}
			refs[id]++
		}
		if len(t.ids) != len(slices.Compact(slices.Sorted(slices.Values(t.ids)))) {
			return fmt.Errorf("%w: table %d holds a block twice: %v", ErrCorrupt, ti, t.ids)
		}
	}
	used := 0
	for id := range m.meta {
		if m.meta[id].ref != refs[id] {
			return fmt.Errorf("%w: block %d has ref count %d, held by %d tables", ErrCorrupt, id, m.meta[id].ref, refs[id])
		}
		if refs[id] > 0 {
			used++
		}
	}
	if used != m.used {
		return fmt.Errorf("%w: %d blocks used, counter says %d", ErrCorrupt, used, m.used)
	}
	// Every unreferenced block must be on exactly one of the free stack and
	// the LRU list, and nothing else may be.
	seen := make([]bool, n)
	for _, id := range m.free {
		b := m.meta[id]
		if seen[id] || b.ref != 0 || b.registered {
			return fmt.Errorf("%w: block %d on the free stack (seen %v, ref %d, registered %v)", ErrCorrupt, id, seen[id], b.ref, b.registered)
		}
		seen[id] = true
	}
	cached, prev := 0, int32(none)
	for id := m.lruHead; id != none; id = m.meta[id].next {
		b := m.meta[id]
		if seen[id] || b.ref != 0 || !b.registered || b.prev != prev {
			return fmt.Errorf("%w: block %d on the LRU list (seen %v, ref %d, registered %v)", ErrCorrupt, id, seen[id], b.ref, b.registered)
		}
		seen[id] = true
		cached++
		prev = id
	}
	if prev != m.lruTail || cached != m.numCached {
		return fmt.Errorf("%w: LRU list of %d ending at %d, counters say %d ending at %d", ErrCorrupt, cached, prev, m.numCached, m.lruTail)
	}
	if len(m.free)+m.numCached+m.used != n {
		return fmt.Errorf("%w: %d empty + %d cached + %d used != %d blocks", ErrCorrupt, len(m.free), m.numCached, m.used, n)
	}
	for id := range m.meta {
		if m.meta[id].ref == 0 && !seen[id] {
			return fmt.Errorf("%w: block %d is unreferenced but neither empty nor cached", ErrCorrupt, id)
		}
	}
	registered := 0
	for id := range m.meta {
		if m.meta[id].registered {
			registered++
		}
	}
	if registered != len(m.cache) {
		return fmt.Errorf("%w: %d registered blocks, %d cache entries", ErrCorrupt, registered, len(m.cache))
	}
	for h, id := range m.cache {
		if b := m.meta[id]; !b.registered || b.hash != h {
			return fmt.Errorf("%w: cache entry %#x points at block %d (registered %v, hash %#x)", ErrCorrupt, h, id, b.registered, b.hash)
		}
	}
	return nil
}
