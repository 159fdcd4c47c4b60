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
		{"attention", NoWeight, "", "fn main"},
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
