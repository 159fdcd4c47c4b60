package shaders

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSourceSubgroups: linear_q_sg, the subgroup form of linear_q's gemv,
// gets each block format's loaders as linear_q does, and its `enable
// subgroups;` stays ahead of every declaration, where WGSL wants
// directives, after Source has appended the declarations.
func TestSourceSubgroups(t *testing.T) {
	firstDecl := regexp.MustCompile(`(?m)^(struct|fn|var|const|@|override|alias)`)
	for _, wt := range []WeightType{WeightQ8_0, WeightQ4_0, WeightQ4_K, WeightQ6_K} {
		t.Run(wt.String(), func(t *testing.T) {
			src, err := Source("linear_q_sg", wt)
			require.NoError(t, err)
			require.Equal(t, 1, strings.Count(src, "fn load_w8("), "load_w8 defined once")
			require.Contains(t, src, "subgroupAdd(")
			dir := strings.Index(src, "enable subgroups;")
			require.GreaterOrEqual(t, dir, 0, "the directive")
			decl := firstDecl.FindStringIndex(src)
			require.NotNil(t, decl)
			require.Less(t, dir, decl[0], "the directive precedes the declarations")
		})
	}
	_, err := Source("linear_q_sg", WeightBF16)
	require.ErrorContains(t, err, "reads quantized blocks")
	for _, k := range []string{"linear", "linear_q", "linear_bf16x8"} {
		src, err := Source(k, map[string]WeightType{"linear": WeightBF16, "linear_q": WeightQ8_0, "linear_bf16x8": NoWeight}[k])
		require.NoError(t, err)
		require.NotContains(t, src, "enable subgroups", "%s compiles on every adapter", k)
	}
}
