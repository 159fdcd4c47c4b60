package block

// FNV-1a, 64-bit: simple, fast enough for 16-token blocks, and identical on
// every platform, so a hash never depends on where the engine runs.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// HashBlock is the cumulative hash of a block: parent is the hash of the
// block before it (0 for a sequence's first block) and tokens are this
// block's token ids. Chaining makes the hash stand for the whole prefix up
// to the block's end, so equal hashes mean "same tokens from position 0",
// not merely "same 16 tokens".
//
// A 64-bit hash can collide; the Manager therefore confirms every hit
// against the stored token ids and the parent block before reusing it.
func HashBlock(parent uint64, tokens []int32) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < 64; i += 8 {
		h ^= (parent >> i) & 0xff
		h *= fnvPrime64
	}
	for _, t := range tokens {
		u := uint32(t)
		h ^= uint64(u & 0xff)
		h *= fnvPrime64
		h ^= uint64((u >> 8) & 0xff)
		h *= fnvPrime64
		h ^= uint64((u >> 16) & 0xff)
		h *= fnvPrime64
		h ^= uint64(u >> 24)
		h *= fnvPrime64
	}
	return h
}
