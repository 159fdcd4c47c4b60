package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGenerateMatchesReference runs "nanovllm generate --json" on the tiny
// fixtures and compares the tokens with transformers' greedy continuations.
func TestGenerateMatchesReference(t *testing.T) {
	for _, fx := range []string{"qwen3-tiny", "qwen3-tiny-untied"} {
		dir := filepath.Join("..", "..", "testdata", fx)
		data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
		require.NoError(t, err)
		var ref struct {
			Cases []struct {
				Prompt []int32 `json:"prompt"`
				Greedy struct {
					Tokens []int32 `json:"tokens"`
				} `json:"greedy"`
			} `json:"cases"`
		}
		require.NoError(t, json.Unmarshal(data, &ref))
		for i, c := range ref.Cases {
			ids := make([]string, len(c.Prompt))
			for j, id := range c.Prompt {
				ids[j] = strconv.Itoa(int(id))
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"generate", "--model", dir, "--prompt-ids", strings.Join(ids, ","),
				"--max-tokens", "24", "--temperature", "0", "--ignore-eos", "--json"}, &stdout, &stderr)
			require.Equal(t, 0, code, "%s case %d: %s", fx, i, stderr.String())
			var got generateResult
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &got), stdout.String())
			require.Equal(t, c.Greedy.Tokens, got.TokenIDs, "%s case %d", fx, i)
			require.Equal(t, "length", got.FinishReason)
		}
	}
}

// TestGenerateStopsAtEOS checks that without --ignore-eos generation ends at
// the first stop id: qwen3-tiny's case 1 generates bos (510), one of the
// stop ids in its generation_config.json.
func TestGenerateStopsAtEOS(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "qwen3-tiny")
	data, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	require.NoError(t, err)
	var ref struct {
		Cases []struct {
			Prompt []int32 `json:"prompt"`
			Greedy struct {
				Tokens []int32 `json:"tokens"`
			} `json:"greedy"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(data, &ref))
	c := ref.Cases[1]
	stop := -1
	for i, tok := range c.Greedy.Tokens {
		if tok == 510 || tok == 511 {
			stop = i
			break
		}
	}
	require.GreaterOrEqual(t, stop, 0, "fixture case 1 should contain a stop id")
	ids := make([]string, len(c.Prompt))
	for j, id := range c.Prompt {
		ids[j] = strconv.Itoa(int(id))
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"generate", "--model", dir, "--prompt-ids", strings.Join(ids, ","), "--max-tokens", "24", "--json"}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	var got generateResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &got))
	require.Equal(t, c.Greedy.Tokens[:stop+1], got.TokenIDs)
	require.Equal(t, "stop", got.FinishReason)
}

func TestGenerateBadInput(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "qwen3-tiny")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", dir, "--prompt-ids", "1,x"}, `"x" is not a token id`},
		{[]string{"--model", dir, "--prompt-ids", "1,99999"}, "vocab size is 512"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--temperature", "0.7"}, "only greedy"},
		{[]string{"--model", filepath.Join(dir, "missing"), "--prompt-ids", "1"}, "no such file"},
		{[]string{"--model", "random:nope", "--prompt-ids", "1"}, "unknown preset"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"generate"}, tc.args...), &stdout, &stderr)
		require.Equal(t, 1, code, tc.args)
		require.Contains(t, stderr.String(), tc.want)
	}
}
