package hub

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseModelRef(t *testing.T) {
	for in, want := range map[string][3]string{
		"Org/Name":                      {"Org/Name", "", ""},
		"Org/Name@v1":                   {"Org/Name", "v1", ""},
		"Org/Name:Q8_0":                 {"Org/Name", "", "Q8_0"},
		"Org/Name:Qwen3-Q8_0.gguf@main": {"Org/Name", "main", "Qwen3-Q8_0.gguf"},
		"Org/Name@refs/pr/1:q4_0":       {"Org/Name", "refs/pr/1", "q4_0"},
	} {
		r, rev, sel := ParseModelRef(in)
		require.Equal(t, want, [3]string{r, rev, sel}, in)
	}
}

func TestSelectGGUF(t *testing.T) {
	files := []string{"README.md", "Qwen3-0.6B-Q8_0.gguf", "Qwen3-0.6B-Q4_K_M.gguf", "Qwen3-0.6B-Q4_K_S.gguf",
		"Qwen3-0.6B-BF16.gguf", "big/Qwen3-0.6B-F16-00001-of-00002.gguf", "big/Qwen3-0.6B-F16-00002-of-00002.gguf"}
	tests := []struct {
		sel, want, err string
	}{
		{sel: "Q8_0", want: "Qwen3-0.6B-Q8_0.gguf"},
		{sel: "q8_0", want: "Qwen3-0.6B-Q8_0.gguf"},
		{sel: "Q4_K_M", want: "Qwen3-0.6B-Q4_K_M.gguf"},
		{sel: "bf16", want: "Qwen3-0.6B-BF16.gguf"},
		{sel: "Qwen3-0.6B-Q4_K_S.gguf", want: "Qwen3-0.6B-Q4_K_S.gguf"},
		{sel: "Q4_K", err: `several GGUF files match "Q4_K": Qwen3-0.6B-Q4_K_M.gguf, Qwen3-0.6B-Q4_K_S.gguf`},
		{sel: "", err: "pick one with Org/Name:QUANT"},
		{sel: "Q5_K_M", err: `no matching GGUF file for "Q5_K_M": its .gguf files: Qwen3-0.6B-BF16.gguf, Qwen3-0.6B-Q4_K_M.gguf`},
		{sel: "missing.gguf", err: `no matching GGUF file for "missing.gguf"`},
		{sel: "F16-00001", err: "one shard of a split GGUF"},
	}
	for _, tc := range tests {
		got, err := SelectGGUF(files, tc.sel)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.sel)
			continue
		}
		require.NoError(t, err, tc.sel)
		require.Equal(t, tc.want, got)
	}
	got, err := SelectGGUF([]string{"config.json", "model.GGUF"}, "")
	require.NoError(t, err)
	require.Equal(t, "model.GGUF", got)
	_, err = SelectGGUF([]string{"config.json"}, "")
	require.ErrorIs(t, err, ErrNoGGUF)
	require.ErrorContains(t, err, "the repository has no .gguf file")
}

func TestResolveGGUF(t *testing.T) {
	q8 := randomBytes(40_000, 3)
	h := newFakeHub(t, repo, map[string]*fakeFile{
		"README.md":              {content: []byte("# GGUF")},
		"Qwen3-0.6B-Q8_0.gguf":   {content: q8, lfs: true},
		"Qwen3-0.6B-Q4_K_M.gguf": {content: randomBytes(30_000, 4), lfs: true},
	})
	c := newTestClient(t, h)
	ctx := context.Background()

	p, err := ResolveGGUF(ctx, c, repo+":Q8_0")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(c.repoDir(repo), "snapshots", h.commit, "Qwen3-0.6B-Q8_0.gguf"), p)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, q8, got)
	require.Zero(t, h.count("GET", "/"+repo+"/resolve/main/Qwen3-0.6B-Q4_K_M.gguf"), "only the chosen file is fetched")
	require.Zero(t, h.count("HEAD", "/"+repo+"/resolve/"+h.commit+"/Qwen3-0.6B-Q4_K_M.gguf"))

	_, err = ResolveGGUF(ctx, c, repo)
	require.ErrorIs(t, err, ErrAmbiguousGGUF)
	require.ErrorContains(t, err, "Qwen3-0.6B-Q4_K_M.gguf, Qwen3-0.6B-Q8_0.gguf")
	_, err = ResolveGGUF(ctx, c, repo+":Q2_K")
	require.ErrorIs(t, err, ErrNoGGUF)

	// Offline, the cached snapshot answers: only the downloaded file is there.
	h.reset()
	c.Offline = true
	off, err := ResolveGGUF(ctx, c, repo+"@main")
	require.NoError(t, err)
	require.Equal(t, p, off)
	off, err = ResolveGGUF(ctx, c, repo+":q8_0")
	require.NoError(t, err)
	require.Equal(t, p, off)
	_, err = ResolveGGUF(ctx, c, repo+":Q4_K_M")
	require.ErrorIs(t, err, ErrNoGGUF)
	require.ErrorContains(t, err, "offline mode")
	require.Empty(t, h.requests())

	_, err = ResolveGGUF(ctx, c, "../evil:Q8_0")
	require.ErrorIs(t, err, ErrInvalidName)
}
