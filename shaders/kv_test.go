package shaders

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestKVSource checks that the two KV kernels get the declarations of
// their cache's element type, once each, and nothing of the weights'.
func TestKVSource(t *testing.T) {
	for _, tc := range []struct {
		wt      WeightType
		perWord string
		has     string // a line only that type's loaders contain
	}{
		{WeightF32, "1u", "bitcast<f32>(k_cache[i])"},
		{WeightBF16, "2u", "word & 0xffff0000u"},
		{WeightF16, "2u", "unpack2x16float(k_cache[i >> 1u])"},
	} {
		for _, kernel := range []string{"kvcache", "attention"} {
			t.Run(kernel+"/"+tc.wt.String(), func(t *testing.T) {
				src, err := Source(kernel, tc.wt)
				require.NoError(t, err)
				require.Contains(t, src, tc.has)
				require.Contains(t, src, "const KV_PER_WORD: u32 = "+tc.perWord+";")
				for _, fn := range []string{"fn kv_words(", "fn load_k(", "fn load_v(", "fn load_k2(", "fn load_v2(", "fn kv_pack("} {
					require.Equal(t, 1, strings.Count(src, fn), "%s declared once", fn)
				}
				require.NotContains(t, src, "fn load_w")
			})
		}
	}
	for _, wt := range []WeightType{NoWeight, WeightType(99)} {
		_, err := Source("kvcache", wt)
		require.ErrorContains(t, err, "reads the KV cache; give its type")
	}
	// Only the KV kernels take a cache type.
	_, err := Source("add", WeightF16)
	require.ErrorContains(t, err, "reads no weight")
}
