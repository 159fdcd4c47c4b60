// Package block manages paged KV-cache memory, the idea at the heart of
// vLLM's PagedAttention.
//
// The KV cache is a fixed pool of blocks, each holding the keys and values
// of BlockSize consecutive tokens. A sequence does not own a contiguous
// region: it owns a Table, a list of physical block ids in logical order,
// exactly as a process owns a page table. Token at position p of a sequence
// lives in block Table[p/BlockSize] at offset p%BlockSize, which a device
// addresses as the slot blockID*BlockSize + offset.
//
// The Manager hands out blocks, counts references so that sequences can
// share blocks, and implements prefix caching: every full block is keyed by
// a cumulative hash of all the tokens up to its end, so a new sequence that
// starts with the same tokens as an earlier one reuses the earlier blocks
// instead of recomputing them. Blocks whose last reference is dropped keep
// their contents and stay findable until the pool runs out, when they are
// reclaimed least recently used first.
package block
