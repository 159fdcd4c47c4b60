package safetensors

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jsShardName reads the shard-name rule of web/lib/checkpoint.js (a regular
// expression and a length), which must be ValidShardName's: the browser
// resolves shard names against the model's URL, Go opens them next to the
// index.
func jsShardName(t testing.TB) func(string) bool {
	src, err := os.ReadFile(filepath.Join("..", "..", "web", "lib", "checkpoint.js"))
	require.NoError(t, err)
	re := regexp.MustCompile(`const SHARD_NAME = /(.+)/;`).FindSubmatch(src)
	require.NotNil(t, re, "web/lib/checkpoint.js has no SHARD_NAME")
	max := regexp.MustCompile(`const MAX_SHARD_NAME = (\d+);`).FindSubmatch(src)
	require.NotNil(t, max, "web/lib/checkpoint.js has no MAX_SHARD_NAME")
	n, err := strconv.Atoi(string(max[1]))
	require.NoError(t, err)
	// The pattern uses only syntax on which JavaScript and RE2 agree.
	pattern := regexp.MustCompile(string(re[1]))
	return func(name string) bool { return len(name) <= n && pattern.MatchString(name) }
}

var shardNameCases = []string{
	"model-00001-of-00002.safetensors", "model.safetensors", "s.safetensors", "_x.safetensors", "a.b-c_d.safetensors",
	"", ".safetensors", "x.safetensors\n", "x.safetensors/", "http:attacker.example", "http://attacker.example/x.safetensors",
	"//attacker.example/x.safetensors", "javascript:alert(1).safetensors", "../x.safetensors", "sub/x.safetensors",
	`sub\x.safetensors`, ".hidden.safetensors", "-x.safetensors", "x%2f.safetensors", "x .safetensors", "x\x00.safetensors",
	"é.safetensors", "model.safetensors.index.json", "config.json", "x.SAFETENSORS", "x.safetensors?v=1", "x.safetensors#f",
	strings.Repeat("x", 243) + ".safetensors", strings.Repeat("x", 244) + ".safetensors",
}

func TestShardNameRuleMatchesJavaScript(t *testing.T) {
	js := jsShardName(t)
	for _, name := range shardNameCases {
		require.Equal(t, ValidShardName(name) == nil, js(name), "%q", name)
	}
	require.NoError(t, ValidShardName(strings.Repeat("x", 243)+".safetensors"))
	require.Error(t, ValidShardName(strings.Repeat("x", 244)+".safetensors"))
}

// FuzzShardName holds the Go and JavaScript rules together on any name.
func FuzzShardName(f *testing.F) {
	for _, s := range shardNameCases {
		f.Add(s)
	}
	js := jsShardName(f)
	f.Fuzz(func(t *testing.T, name string) {
		if (ValidShardName(name) == nil) != js(name) {
			t.Fatalf("Go and web/lib/checkpoint.js disagree on %q", name)
		}
	})
}
