package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
