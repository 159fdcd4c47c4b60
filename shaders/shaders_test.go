package shaders

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSource(t *testing.T) {
	names := Names()
	require.Contains(t, names, "linear")
	require.Contains(t, names, "attention")
	for _, tc := range []struct {
		kernel  string
		wt      WeightType
		wantErr string
		has     string
	}{
		{"linear", WeightBF16, "", "word & 0xffff0000u"},
		{"linear", WeightF32, "", "bitcast<f32>(w[i])"},
		{"rmsnorm", WeightBF16, "", "fn load_w"},
		{"embed", WeightF32, "", "fn load_w"},
		{"add", NoWeight, "", "fn main_self"},
		{"attention", NoWeight, "reads the KV cache", ""},
		{"linear", NoWeight, "reads a weight", ""},
		{"add", WeightBF16, "reads no weight", ""},
		{"nope", NoWeight, "unknown kernel", ""},
	} {
		t.Run(tc.kernel+"/"+tc.wt.String(), func(t *testing.T) {
			src, err := Source(tc.kernel, tc.wt)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Contains(t, src, tc.has)
			require.Equal(t, 1, strings.Count(src, "fn load_w")+boolInt(tc.wt == NoWeight), "load_w defined exactly when needed")
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Every kernel documents itself for readers new to GPUs: the file opens
// with a comment.
func TestKernelsAreCommented(t *testing.T) {
	for _, n := range Names() {
		b, err := files.ReadFile(n + ".wgsl")
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(b), "// "+n+":"), "%s.wgsl must open with a comment naming the kernel", n)
	}
}

// TestSourceQuantized: a quantized type brings the byte readers and its
// format's loaders; linear_q exists only for quantized types.
func TestSourceQuantized(t *testing.T) {
	for _, tc := range []struct {
		kernel  string
		wt      WeightType
		wantErr string
		has     string
	}{
		{"linear_q", WeightQ8_0, "", "const BLK_BYTES: u32 = 34u;"},
		{"linear_q", WeightQ4_0, "", "const BLK_BYTES: u32 = 18u;"},
		{"linear_q", WeightQ4_K, "", "fn q4k_scale_min"},
		{"linear_q", WeightQ6_K, "", "fn q6k_mult"},
		{"embed", WeightQ6_K, "", "const BLK_BYTES: u32 = 210u;"},
		{"embed", WeightQ8_0, "", "fn w_u32"},
		{"linear_q", WeightBF16, "reads quantized blocks", ""},
		{"linear_q", NoWeight, "reads quantized blocks", ""},
		{"add", WeightQ4_0, "reads no weight", ""},
	} {
		t.Run(tc.kernel+"/"+tc.wt.String(), func(t *testing.T) {
			src, err := Source(tc.kernel, tc.wt)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Contains(t, src, tc.has)
			require.Equal(t, 1, strings.Count(src, "fn load_w("), "load_w defined once")
			require.Equal(t, 1, strings.Count(src, "fn load_w8("), "load_w8 defined once")
			require.Equal(t, 1, strings.Count(src, "fn load_w32("), "load_w32 defined once")
			require.Equal(t, 1, strings.Count(src, "fn load_w64("), "load_w64 defined once")
			require.Equal(t, 1, strings.Count(src, "const W_CHUNK: u32"), "the chunk of gemv_thread declared once")
			require.Equal(t, 1, strings.Count(src, "fn w_byte("), "byte readers defined once")
		})
	}
	for wt, name := range map[WeightType]string{WeightQ8_0: "q8_0", WeightQ4_0: "q4_0", WeightQ4_K: "q4_k", WeightQ6_K: "q6_k"} {
		require.Equal(t, name, wt.String())
		require.True(t, wt.Quantized())
	}
	for _, wt := range []WeightType{NoWeight, WeightBF16, WeightF32} {
		require.False(t, wt.Quantized(), wt.String())
	}
}

// Every block format file documents itself: it opens with a comment naming
// the format.
func TestBlockFilesAreCommented(t *testing.T) {
	for _, n := range append([]string{"bytes"}, "q8_0", "q4_0", "q4_k", "q6_k") {
		b, err := blockFiles.ReadFile("blocks/" + n + ".wgsl")
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(b), "// "+n+":"), "blocks/%s.wgsl must open with a comment naming it", n)
	}
}
