package safetensors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// shardedDir writes tensors split across shards plus an index, the way
// save_pretrained does for large models.
func shardedDir(t *testing.T, shards map[string][]Tensor, weightMap map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, ts := range shards {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), writeFile(t, ts, map[string]string{"format": "pt"}), 0o644))
	}
	if weightMap == nil {
		weightMap = map[string]string{}
		for name, ts := range shards {
			for _, tn := range ts {
				weightMap[tn.Name] = name
			}
		}
	}
	idx, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 123}, "weight_map": weightMap})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, IndexFileName), idx, 0o644))
	return dir
}

func TestShardedCheckpoint(t *testing.T) {
	a := []Tensor{bf16Tensor("model.embed_tokens.weight", []int{4, 2}, 0), bf16Tensor("model.norm.weight", []int{2}, 10)}
	b := []Tensor{bf16Tensor("lm_head.weight", []int{4, 2}, 20)}
	dir := shardedDir(t, map[string][]Tensor{
		"model-00001-of-00002.safetensors": a,
		"model-00002-of-00002.safetensors": b,
	}, nil)
	// A stray single file next to the index must be ignored: the index wins.
	require.NoError(t, os.WriteFile(filepath.Join(dir, SingleFileName), writeFile(t, []Tensor{bf16Tensor("stray", []int{1}, 0)}, nil), 0o644))

	c, err := OpenDir(dir)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, []string{"lm_head.weight", "model.embed_tokens.weight", "model.norm.weight"}, c.Names())
	for _, want := range append(a, b...) {
		got, err := c.Tensor(want.Name)
		require.NoError(t, err)
		require.Equal(t, want.Shape, got.Shape)
		require.Equal(t, want.Data, got.Data)
	}
	_, err = c.Tensor("stray")
	require.ErrorIs(t, err, ErrTensorNotFound)
	require.ErrorContains(t, err, `"stray"`)
	require.ErrorContains(t, err, dir)
	require.Equal(t, dir, c.Dir())
	require.Equal(t, "pt", c.Metadata()["format"])
}

func TestOpenDirSingleFileAndPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, SingleFileName)
	require.NoError(t, os.WriteFile(path, writeFile(t, []Tensor{bf16Tensor("w", []int{2}, 1)}, nil), 0o644))
	for _, p := range []string{dir, path} {
		c, err := OpenDir(p)
		require.NoError(t, err)
		require.Equal(t, []string{"w"}, c.Names())
		require.NoError(t, c.Close())
	}
}

func TestOpenDirErrors(t *testing.T) {
	good := []Tensor{bf16Tensor("a", []int{2}, 0)}
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		want  string
		is    error
	}{
		{"empty dir", func(t *testing.T) string { return t.TempDir() }, "no safetensors checkpoint", ErrNoCheckpoint},
		{"missing dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "nope", os.ErrNotExist},
		{"missing shard", func(t *testing.T) string {
			return shardedDir(t, map[string][]Tensor{"s1.safetensors": good}, map[string]string{"a": "s1.safetensors", "b": "s2.safetensors"})
		}, "s2.safetensors", os.ErrNotExist},
		{"tensor not in its shard", func(t *testing.T) string {
			return shardedDir(t, map[string][]Tensor{"s1.safetensors": good}, map[string]string{"a": "s1.safetensors", "ghost": "s1.safetensors"})
		}, `tensor "ghost": listed in model.safetensors.index.json but missing from the shard`, ErrInvalid},
		{"path traversal", func(t *testing.T) string {
			return shardedDir(t, map[string][]Tensor{"s1.safetensors": good}, map[string]string{"a": "../s1.safetensors"})
		}, `shard "../s1.safetensors" is not a file name`, ErrInvalid},
		{"empty weight map", func(t *testing.T) string {
			return shardedDir(t, map[string][]Tensor{"s1.safetensors": good}, map[string]string{})
		}, "weight_map is missing or empty", ErrInvalid},
		{"bad index json", func(t *testing.T) string {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, IndexFileName), []byte("{"), 0o644))
			return dir
		}, "bad index JSON", ErrInvalid},
		{"duplicate across files without map", func(t *testing.T) string {
			// Two shards both holding "a", the index naming only "b": "a" is ambiguous.
			return shardedDir(t, map[string][]Tensor{
				"s1.safetensors": {bf16Tensor("a", []int{1}, 0), bf16Tensor("b", []int{1}, 0)},
				"s2.safetensors": {bf16Tensor("a", []int{1}, 0), bf16Tensor("c", []int{1}, 0)},
			}, map[string]string{"b": "s1.safetensors", "c": "s2.safetensors"})
		}, `tensor "a": also present in`, ErrInvalid},
		{"corrupt shard", func(t *testing.T) string {
			dir := shardedDir(t, map[string][]Tensor{"s1.safetensors": good}, nil)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "s1.safetensors"), rawFile(`{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, 2), 0o644))
			return dir
		}, "s1.safetensors: tensor \"a\": data_offsets [0, 4] extend past the 2-byte data section", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := OpenDir(tc.setup(t))
			require.Nil(t, c)
			require.ErrorIs(t, err, tc.is)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestWeightMapDisambiguatesDuplicates(t *testing.T) {
	// Both shards hold "z"; the index says which copy is authoritative.
	// s1 is always opened first (it owns "a", the first key), so pointing
	// "z" at each shard in turn covers keeping and replacing the first copy.
	z1 := bf16Tensor("z", []int{1}, 1)
	z2 := bf16Tensor("z", []int{1}, 2)
	for _, tc := range []struct {
		owner string
		want  Tensor
	}{{"s1.safetensors", z1}, {"s2.safetensors", z2}} {
		t.Run(tc.owner, func(t *testing.T) {
			dir := shardedDir(t, map[string][]Tensor{
				"s1.safetensors": {bf16Tensor("a", []int{1}, 0), z1},
				"s2.safetensors": {bf16Tensor("b", []int{1}, 0), z2},
			}, map[string]string{"a": "s1.safetensors", "b": "s2.safetensors", "z": tc.owner})
			c, err := OpenDir(dir)
			require.NoError(t, err)
			defer c.Close()
			got, err := c.Tensor("z")
			require.NoError(t, err)
			require.Equal(t, tc.want.Data, got.Data)
		})
	}
}

func TestParseIndex(t *testing.T) {
	idx, err := ParseIndex([]byte(`{"metadata":{"total_size":10},"weight_map":{"b":"s2.safetensors","a":"s1.safetensors","c":"s1.safetensors"}}`))
	require.NoError(t, err)
	require.Equal(t, []string{"s1.safetensors", "s2.safetensors"}, idx.Shards())
	require.EqualValues(t, 10, idx.Metadata["total_size"])
	for _, good := range []string{"model-00001-of-00002.safetensors", "s.safetensors", "pytorch_model.v2-fp16.safetensors"} {
		require.NoError(t, ValidShardName(good), good)
	}
	for _, bad := range []struct{ in, want string }{
		{`{"weight_map":{"a":"sub/s.safetensors"}}`, `tensor "a": shard "sub/s.safetensors" is not a file name`},
		{`{"weight_map":{"a":"..\\s"}}`, `is not a file name`},
		{`{"weight_map":{"a":""}}`, `shard "" is not a file name`},
		{`{"weight_map":{"a":"http:attacker.example"}}`, `shard "http:attacker.example" is not a file name`},
		{`{"weight_map":{"a":"http://attacker.example/x.safetensors"}}`, `is not a file name`},
		{`{"weight_map":{"a":"//attacker.example/x.safetensors"}}`, `is not a file name`},
		{`{"weight_map":{"a":"javascript:x.safetensors"}}`, `is not a file name`},
		{`{"weight_map":{"a":".hidden.safetensors"}}`, `is not a file name`},
		{`{"weight_map":{"a":"-x.safetensors"}}`, `is not a file name`},
		{`{"weight_map":{"a":"model%2e.safetensors"}}`, `is not a file name`},
		{`{"weight_map":{"a":"model .safetensors"}}`, `is not a file name`},
		{`{"weight_map":{"a":"config.json"}}`, `ending in .safetensors`},
		{`{"weight_map":{"a":".safetensors"}}`, `is not a file name`},
		{`{"weight_map":{"a":"m\u0000.safetensors"}}`, `is not a file name`},
		{`{"weight_map":{"a":"` + strings.Repeat("x", 300) + `.safetensors"}}`, `at most 255 bytes`},
		{`{"weight_map":{}}`, `weight_map is missing or empty`},
		{`[]`, `bad index JSON`},
	} {
		_, err := ParseIndex([]byte(bad.in))
		require.ErrorIs(t, err, ErrInvalid, bad.in)
		require.ErrorContains(t, err, bad.want, bad.in)
	}
}
