package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/hub"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
	"github.com/stretchr/testify/require"
)

// tokenizerFixtures holds the real Qwen3 tokenizer and Hugging Face's
// outputs for it; qwen3-tiny-vocab is a complete model directory using it.
var (
	tokenizerFixtures = filepath.Join(repoRoot, "testdata", "qwen3-tokenizer")
	tinyVocabModel    = filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
)

func readFixture[T any](t *testing.T, name string) T {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tokenizerFixtures, name))
	require.NoError(t, err)
	var v T
	require.NoError(t, json.Unmarshal(data, &v))
	return v
}

func runCmd(t *testing.T, run func(context.Context, []string, io.Writer, io.Writer) error, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// Loading the 11 MB tokenizer takes a moment per command, so the command
// tests use a few fixture cases of each kind; core/tokenizer checks them
// all.
var (
	cliEncodeCases = []string{"hello_world", "chinese_mixed_english", "special_chatml_turn",
		"whitespace_class_probe", "emoji_zwj_family", "nfd_sentence", "empty"}
	cliChatCases   = []string{"user_only_gen_no_think", "multi_turn_no_think_unicode", "last_assistant_with_think_and_reasoning_field"}
	cliDecodeCases = []string{"truncated_before_special", "special_between_halves", "think_tokens_not_special", "unknown_ids_dropped"}
)

func selected[T any](t *testing.T, all []T, name func(T) string, names []string) []T {
	t.Helper()
	var out []T
	for _, n := range names {
		found := false
		for _, c := range all {
			if name(c) == n {
				out = append(out, c)
				found = true
			}
		}
		require.True(t, found, "fixture case %q", n)
	}
	return out
}

type cliEncodeCase struct {
	Name string  `json:"name"`
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func TestTokenizeMatchesReference(t *testing.T) {
	all := readFixture[[]cliEncodeCase](t, "cases.json")
	cases := selected(t, all, func(c cliEncodeCase) string { return c.Name }, cliEncodeCases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			out, _, err := runCmd(t, runTokenize, "--tokenizer", tokenizerFixtures, "--text", c.Text, "--json")
			require.NoError(t, err)
			var got struct {
				IDs []int32 `json:"ids"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &got))
			if c.IDs == nil {
				c.IDs = []int32{}
			}
			require.Equal(t, c.IDs, got.IDs)
		})
	}
}

type cliChatCase struct {
	Name                string          `json:"name"`
	Messages            json.RawMessage `json:"messages"`
	AddGenerationPrompt bool            `json:"add_generation_prompt"`
	EnableThinking      *bool           `json:"enable_thinking"`
	Prompt              string          `json:"prompt"`
	IDs                 []int32         `json:"ids"`
}

func TestTokenizeChatMatchesReference(t *testing.T) {
	all := readFixture[[]cliChatCase](t, "chat_cases.json")
	cases := selected(t, all, func(c cliChatCase) string { return c.Name }, cliChatCases)
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			file := filepath.Join(dir, c.Name+".json")
			body, err := json.Marshal(map[string]any{
				"messages": c.Messages, "add_generation_prompt": c.AddGenerationPrompt, "enable_thinking": c.EnableThinking,
			})
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(file, body, 0o644))

			out, _, err := runCmd(t, runTokenize, "--model", tinyVocabModel, "--chat", file, "--json")
			require.NoError(t, err)
			var got struct {
				IDs  []int32 `json:"ids"`
				Text string  `json:"text"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &got))
			require.Equal(t, c.Prompt, got.Text)
			require.Equal(t, c.IDs, got.IDs)
			// The special tokens print unescaped.
			require.Contains(t, out, "<|im_start|>")
		})
	}
}

func TestTokenizeChatArrayGetsGenerationPrompt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "chat.json")
	require.NoError(t, os.WriteFile(file, []byte(`[{"role": "user", "content": "Hello! Who are you?"}]`), 0o644))
	out, _, err := runCmd(t, runTokenize, "--tokenizer", tokenizerFixtures, "--chat", file)
	require.NoError(t, err)
	// chat_cases.json "user_only_gen".
	require.Equal(t, "151644,872,198,9707,0,10479,525,498,30,151645,198,151644,77091,198\n", out)
}

type cliDecodeCase struct {
	Name               string  `json:"name"`
	IDs                []int32 `json:"ids"`
	Decoded            string  `json:"decoded"`
	DecodedSkipSpecial string  `json:"decoded_skip_special"`
}

func TestDetokenizeMatchesReference(t *testing.T) {
	all := readFixture[[]cliDecodeCase](t, "decode_cases.json")
	cases := selected(t, all, func(c cliDecodeCase) string { return c.Name }, cliDecodeCases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			ids := make([]string, len(c.IDs))
			for i, id := range c.IDs {
				ids[i] = strconv.Itoa(int(id))
			}
			out, _, err := runCmd(t, runDetokenize, "--model", tinyVocabModel, "--ids", strings.Join(ids, ","), "--json")
			require.NoError(t, err)
			var got struct {
				Text string `json:"text"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &got))
			require.Equal(t, c.Decoded, got.Text)

			out, _, err = runCmd(t, runDetokenize, "--tokenizer", tokenizerFixtures, "--ids", strings.Join(ids, " "), "--skip-special-tokens")
			require.NoError(t, err)
			require.Equal(t, c.DecodedSkipSpecial, out)
		})
	}
	out, stderr, err := runCmd(t, runDetokenize, "--tokenizer", tokenizerFixtures, "--ids", "9707,151700")
	require.NoError(t, err)
	require.Equal(t, "Hello", out)
	require.Contains(t, stderr, "id 151700 is not in the tokenizer")
}

func TestParseTokenIDs(t *testing.T) {
	for _, in := range []string{"9707,11,1879", "9707 11 1879", "[9707, 11, 1879]", `{"ids": [9707, 11, 1879]}`, " 9707,\n11 ,1879\n"} {
		ids, err := parseTokenIDs(in)
		require.NoError(t, err, in)
		require.Equal(t, []int32{9707, 11, 1879}, ids, in)
	}
	ids, err := parseTokenIDs("  ")
	require.NoError(t, err)
	require.Empty(t, ids)
	for _, bad := range []string{"1,,x", "-1", "2147483648", "1.5", `{"id": [1]}`} {
		_, err := parseTokenIDs(bad)
		require.Error(t, err, bad)
	}
	// An empty item between commas is refused, as --prompt-ids refuses it.
	for _, bad := range []string{"1,,2", "1, ,2", "1,2,", ",1", "[1,,2]", ","} {
		_, err := parseTokenIDs(bad)
		require.ErrorContains(t, err, "is empty", bad)
		_, err = parseIDList(bad, "--prompt-ids")
		require.Error(t, err, bad)
	}
}

// TestTokenizeInputLimits: a conversation nested without end, input larger
// than a command reads, and stdin: each a clear error, at once, within a
// bounded amount of memory (3 MB of '[' was a fatal stack overflow).
func TestTokenizeInputLimits(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	brackets := write("brackets.json", strings.Repeat("[", 3<<20))
	nested := write("nested.json", `{"messages": [{"role": "user", "content": "x", "a": `+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}]}`)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"3 MB of brackets", []string{"--chat", brackets}, "nest more than 64 deep"},
		{"nested object form", []string{"--chat", nested}, "nest more than 65 deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			start := time.Now()
			grew := heapGrowth(func() {
				_, _, err = runCmd(t, runTokenize, append([]string{"--tokenizer", tokenizerFixtures}, tc.args...)...)
			})
			require.ErrorIs(t, err, tokenizer.ErrConversation)
			require.ErrorContains(t, err, tc.want)
			require.Less(t, time.Since(start), 10*time.Second)
			require.Less(t, grew, uint64(64<<20))
		})
	}

	// Reading stops one byte past the limit.
	var read countingReader
	_, err := readAllLimited(&read, 1000, "stdin")
	require.ErrorIs(t, err, errInputTooLarge)
	require.ErrorContains(t, err, "stdin is more than 1000 bytes")
	require.EqualValues(t, 1001, read.n)
	data, err := readAllLimited(strings.NewReader("12345"), 5, "stdin")
	require.NoError(t, err)
	require.Equal(t, "12345", string(data))
	_, err = readFileOrStdin(write("big.json", strings.Repeat(" ", 100)), 99)
	require.ErrorIs(t, err, errInputTooLarge)
}

// countingReader is an endless input counting what was read from it.
type countingReader struct{ n int64 }

func (c *countingReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'x'
	}
	c.n += int64(len(b))
	return len(b), nil
}

// TestTokenizerDownloadError: a repository that exists but whose file
// fails to download (here its checksum) is reported as such, not as "no
// such directory, and not on the Hub".
func TestTokenizerDownloadError(t *testing.T) {
	good, bad := []byte(`{"good": true}`), []byte(`{"bad!": true}`)
	sum := sha256.Sum256(good)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/Org/Tok/resolve/") {
			w.Header().Set("X-Error-Code", "RepoNotFound")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Repo-Commit", strings.Repeat("ab", 20))
		w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(bad)))
		http.ServeContent(w, r, "tokenizer.json", time.Time{}, bytes.NewReader(bad))
	}))
	defer srv.Close()
	hubEnv(t, srv.URL)
	_, _, err := runCmd(t, runTokenize, "--tokenizer", "Org/Tok", "--text", "x")
	require.ErrorIs(t, err, hub.ErrChecksum)
	require.ErrorContains(t, err, "Org/Tok: downloading tokenizer.json from the Hub")
	require.NotContains(t, err.Error(), "no such directory")
	_, _, err = runCmd(t, runTokenize, "--tokenizer", "Org/Missing", "--text", "x")
	require.ErrorContains(t, err, "no such directory, and not on the Hub")
}

func TestTokenizeErrors(t *testing.T) {
	badChat := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(badChat, []byte(`{"messages": [{"role": "user", "content": "x"}], "enable_thinkin": false}`), 0o644))
	noTok := t.TempDir()
	for _, tc := range []struct {
		name  string
		run   func(context.Context, []string, io.Writer, io.Writer) error
		args  []string
		isErr error
		want  string
	}{
		{"no model", runTokenize, []string{"--text", "x"}, errMissingModel, "pass --model"},
		{"no tokenizer.json", runTokenize, []string{"--model", noTok, "--text", "x"}, os.ErrNotExist, "has no tokenizer.json"},
		{"tokenizer is a file", runTokenize, []string{"--tokenizer", filepath.Join(tokenizerFixtures, "tokenizer.json"), "--text", "x"}, nil, "is a file"},
		{"text and chat", runTokenize, []string{"--tokenizer", tokenizerFixtures, "--text", "x", "--chat", badChat}, errUsage, ""},
		{"unknown chat field", runTokenize, []string{"--tokenizer", tokenizerFixtures, "--chat", badChat}, nil, `unknown field "enable_thinkin"`},
		{"missing chat file", runTokenize, []string{"--tokenizer", tokenizerFixtures, "--chat", badChat + ".nope"}, os.ErrNotExist, "--chat"},
		{"positional", runTokenize, []string{"--tokenizer", tokenizerFixtures, "hello"}, errUsage, ""},
		{"bad flag", runTokenize, []string{"--nope"}, errUsage, ""},
		{"bad id", runDetokenize, []string{"--tokenizer", tokenizerFixtures, "--ids", "1,x"}, nil, `item 2 "x" is not a token id`},
		{"negative id", runDetokenize, []string{"--tokenizer", tokenizerFixtures, "--ids", "-3"}, nil, `item 1 "-3"`},
		{"detokenize no model", runDetokenize, []string{"--ids", "1"}, errMissingModel, "pass --model"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.run, tc.args...)
			require.Error(t, err)
			if tc.isErr != nil {
				require.ErrorIs(t, err, tc.isErr)
			}
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
			}
		})
	}
}

// TestTokenizeRepoIDFromCache resolves a Hub repo id offline from a cache in
// huggingface_hub's layout (refs/main naming the commit, snapshots/<commit>
// holding the files), as a model downloaded earlier would be found.
func TestTokenizeRepoIDFromCache(t *testing.T) {
	cache := t.TempDir()
	commit := strings.Repeat("c0ffee", 6) + "c0ff"
	repo := filepath.Join(cache, "models--Qwen--Qwen3-0.6B")
	snap := filepath.Join(repo, "snapshots", commit)
	require.NoError(t, os.MkdirAll(snap, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "refs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644))
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		abs, err := filepath.Abs(filepath.Join(tokenizerFixtures, f))
		require.NoError(t, err)
		require.NoError(t, os.Symlink(abs, filepath.Join(snap, f)))
	}
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HUB_OFFLINE", "1")

	for _, args := range [][]string{
		{"--tokenizer", "Qwen/Qwen3-0.6B"},
		{"--tokenizer", "Qwen/Qwen3-0.6B@" + commit},
		{"--model", "Qwen/Other", "--tokenizer", "Qwen/Qwen3-0.6B"},
	} {
		out, _, err := runCmd(t, runTokenize, append(args, "--text", "Hello, world!")...)
		require.NoError(t, err, args)
		require.Equal(t, "9707,11,1879,0\n", out, args)
	}
	_, _, err := runCmd(t, runTokenize, "--tokenizer", "Qwen/Other", "--text", "x")
	require.ErrorContains(t, err, "not on the Hub")
	require.ErrorContains(t, err, "offline")
}
