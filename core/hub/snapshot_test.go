package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/stretchr/testify/require"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestSnapshotPatterns(t *testing.T) {
	files := standardRepo()
	files["README.md"] = &fakeFile{content: []byte("# hi")}
	files["tokenizer.json"] = &fakeFile{content: []byte(`{}`)}
	h := newFakeHub(t, repo, files)
	c := newTestClient(t, h)
	dir, err := c.Snapshot(context.Background(), repo, "", []string{"*.json", "*.safetensors", "nothing-*"})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(c.repoDir(repo), "snapshots", h.commit), dir)
	require.Equal(t, []string{"config.json", "model.safetensors", "tokenizer.json"}, listDir(t, dir))
	// Files are fetched at the commit the listing named, not at "main".
	require.Equal(t, 1, h.count("HEAD", "/Org/Tiny-Model/resolve/"+h.commit+"/config.json"))
	require.Equal(t, 0, h.count("HEAD", "/Org/Tiny-Model/resolve/main/"))

	c.Offline = true
	h.reset()
	off, err := c.Snapshot(context.Background(), repo, "main", nil)
	require.NoError(t, err)
	require.Equal(t, dir, off)
	require.Empty(t, h.requests())

	_, err = c.Snapshot(context.Background(), "Org/Absent", "main", nil)
	require.ErrorIs(t, err, ErrNotCached)
	_, err = c.Snapshot(context.Background(), repo, "main", []string{"[bad"})
	require.ErrorContains(t, err, `bad pattern "[bad"`)
}

// fixtureRepo serves testdata/qwen3-tiny as a Hub repository, optionally
// re-sharding its weights into two files with an index.
func fixtureRepo(t *testing.T, sharded bool) map[string]*fakeFile {
	const src = "../../testdata/qwen3-tiny"
	files := map[string]*fakeFile{}
	for _, name := range []string{"config.json", "generation_config.json"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, err)
		files[name] = &fakeFile{content: b}
	}
	weights, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
	require.NoError(t, err)
	if !sharded {
		files["model.safetensors"] = &fakeFile{content: weights, lfs: true}
		return files
	}
	f, err := safetensors.Parse(weights)
	require.NoError(t, err)
	names := f.Names()
	weightMap := map[string]string{}
	for i, part := range [][]string{names[:len(names)/2], names[len(names)/2:]} {
		shard := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}[i]
		var ts []safetensors.Tensor
		for _, n := range part {
			tn, _ := f.Tensor(n)
			ts = append(ts, tn)
			weightMap[n] = shard
		}
		var buf bytes.Buffer
		require.NoError(t, safetensors.Write(&buf, ts, map[string]string{"format": "pt"}))
		files[shard] = &fakeFile{content: buf.Bytes(), lfs: true}
	}
	idx, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": len(weights)}, "weight_map": weightMap})
	require.NoError(t, err)
	files["model.safetensors.index.json"] = &fakeFile{content: idx}
	return files
}

func TestResolveModel(t *testing.T) {
	want, err := safetensors.OpenDir("../../testdata/qwen3-tiny")
	require.NoError(t, err)
	defer want.Close()
	for _, sharded := range []bool{false, true} {
		name := map[bool]string{false: "single file", true: "sharded"}[sharded]
		t.Run(name, func(t *testing.T) {
			h := newFakeHub(t, repo, fixtureRepo(t, sharded))
			c := newTestClient(t, h)
			dir, err := ResolveModel(context.Background(), c, repo)
			require.NoError(t, err)
			require.Equal(t, filepath.Join(c.repoDir(repo), "snapshots", h.commit), dir)

			// The downloaded checkpoint loads and holds the fixture's tensors.
			ck, err := safetensors.OpenDir(dir)
			require.NoError(t, err)
			defer ck.Close()
			require.Equal(t, want.Names(), ck.Names())
			for _, n := range want.Names() {
				a, _ := want.Tensor(n)
				b, err := ck.Tensor(n)
				require.NoError(t, err)
				require.Equal(t, a.Data, b.Data, n)
			}
			require.FileExists(t, filepath.Join(dir, "generation_config.json"))
			// tokenizer files are optional: their 404s were tolerated.
			require.NoFileExists(t, filepath.Join(dir, "tokenizer.json"))

			// Everything cached: the next resolve costs one HEAD, then works
			// offline with no request at all.
			h.reset()
			again, err := ResolveModel(context.Background(), c, repo)
			require.NoError(t, err)
			require.Equal(t, dir, again)
			require.Equal(t, 0, h.count("GET", "/"))
			require.Equal(t, 1, h.count("HEAD", "/Org/Tiny-Model/resolve/main/config.json"))

			h.reset()
			c.Offline = true
			off, err := ResolveModel(context.Background(), c, repo+"@main")
			require.NoError(t, err)
			require.Equal(t, dir, off)
			require.Empty(t, h.requests())
		})
	}
}

func TestResolveModelLocalAndErrors(t *testing.T) {
	h := newFakeHub(t, repo, map[string]*fakeFile{"config.json": {content: []byte("{}")}})
	c := newTestClient(t, h)
	ctx := context.Background()

	local := t.TempDir()
	dir, err := ResolveModel(ctx, c, local)
	require.NoError(t, err)
	require.Equal(t, local, dir)
	require.Empty(t, h.requests(), "a local directory needs no network")

	_, err = ResolveModel(ctx, c, repo)
	require.ErrorContains(t, err, "has neither model.safetensors nor model.safetensors.index.json")
	require.ErrorIs(t, err, ErrEntryNotFound)

	_, err = ResolveModel(ctx, c, "./no/such/dir")
	require.ErrorContains(t, err, "no such directory, and not a Hub repo id")

	file := filepath.Join(local, "x.bin")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	_, err = ResolveModel(ctx, c, file)
	require.ErrorContains(t, err, "is a file")

	_, err = ResolveModel(ctx, c, "Org/Missing")
	require.ErrorIs(t, err, ErrUnauthorized) // the Hub's answer to anonymous unknown repos
}

func TestResolveModelRejectsEscapingShard(t *testing.T) {
	idx := []byte(`{"weight_map":{"a":"../../../evil.safetensors"}}`)
	h := newFakeHub(t, repo, map[string]*fakeFile{
		"config.json":                  {content: []byte("{}")},
		"model.safetensors.index.json": {content: idx},
	})
	c := newTestClient(t, h)
	_, err := ResolveModel(context.Background(), c, repo)
	require.ErrorContains(t, err, `shard "../../../evil.safetensors" is not a file name`)
}
