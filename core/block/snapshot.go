package block

// State is what one block of the pool holds at a moment, as a picture of the
// pool shows it.
type State uint8

// Block states. Every block is in exactly one of them.
const (
	// Empty: held by no table and holding nothing reusable; the next block
	// handed out comes from these first.
	Empty State = iota
	// Used: held by at least one table (RefCount tables).
	Used
	// Cached: held by no table but still filed in the prefix cache (in the
	// LRU list), so a later prompt with the same beginning can reuse it. It
	// counts as free: the pool evicts the least recently used one when no
	// empty block is left.
	Cached
)

var stateNames = [...]string{"empty", "used", "cached"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(?)"
}

// PoolView is a picture of the whole pool, one entry per block, filled by
// Manager.View. Its slices are reused from one View to the next, so a
// picture taken every step allocates nothing once they have grown.
type PoolView struct {
	// States holds each block's State.
	States []State
	// RefCounts holds how many tables hold each block.
	RefCounts []int32
	// Hashed reports the blocks filed in the prefix cache (Cached ones, and
	// Used ones whose full contents another prompt could match).
	Hashed []bool
	// Gens counts, per block, how many times it was handed out empty: a
	// block whose count grew between two views was (re)allocated in
	// between; if it was Cached before, its old contents were evicted.
	Gens []uint32
	// Stats are the pool's counters at the same moment.
	Stats Stats
}

// View fills v with the state of every block. It is O(blocks) and reads only.
func (m *Manager) View(v *PoolView) {
	n := len(m.meta)
	v.States = resize(v.States, n)
	v.RefCounts = resize(v.RefCounts, n)
	v.Hashed = resize(v.Hashed, n)
	v.Gens = resize(v.Gens, n)
	for i := range m.meta {
		b := &m.meta[i]
		st := Empty
		switch {
		case b.ref > 0:
			st = Used
		case b.registered:
			st = Cached
		}
		v.States[i] = st
		v.RefCounts[i] = b.ref
		v.Hashed[i] = b.registered
		v.Gens[i] = b.gen
	}
	v.Stats = m.Stats()
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}
