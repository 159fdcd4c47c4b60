package block

import (
	"encoding/binary"
	"hash/fnv"
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceHash is FNV-1a from the standard library over the little-endian
// bytes of the parent hash and then of each token id.
func referenceHash(parent uint64, tokens []int32) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], parent)
	h.Write(buf[:])
	for _, t := range tokens {
		binary.LittleEndian.PutUint32(buf[:4], uint32(t))
		h.Write(buf[:4])
	}
	return h.Sum64()
}

func TestHashBlockIsFNV1a(t *testing.T) {
	tests := []struct {
		parent uint64
		tokens []int32
	}{
		{0, nil},
		{0, []int32{0}},
		{0, []int32{1, 2, 3, 4}},
		{0xdeadbeefcafef00d, []int32{151643, -1, 1 << 30, 7}},
		{1, []int32{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}},
	}
	for _, tt := range tests {
		require.Equal(t, referenceHash(tt.parent, tt.tokens), HashBlock(tt.parent, tt.tokens), "parent %#x tokens %v", tt.parent, tt.tokens)
	}
}

func TestHashBlockChains(t *testing.T) {
	a, b := []int32{1, 2, 3, 4}, []int32{5, 6, 7, 8}
	// The same block behind different prefixes hashes differently, so a
	// hash stands for the whole prefix.
	require.NotEqual(t, HashBlock(HashBlock(0, a), b), HashBlock(HashBlock(0, b), b))
	require.NotEqual(t, HashBlock(0, a), HashBlock(0, b))
	require.Equal(t, HashBlock(7, a), HashBlock(7, []int32{1, 2, 3, 4}))
}

func BenchmarkHashBlock16(b *testing.B) {
	toks := make([]int32, 16)
	for i := range toks {
		toks[i] = int32(i * 7919)
	}
	var h uint64
	for b.Loop() {
		h = HashBlock(h, toks)
	}
}
