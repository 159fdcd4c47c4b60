package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// fixtureRef is the part of a model fixture's reference.json the CLI tests
// compare with: transformers' prompts, last-position logits (full
// vocabulary for the 512-token fixtures) and greedy continuations.
type fixtureRef struct {
	Cases []struct {
		Prompt     []int32   `json:"prompt"`
		LastLogits []float64 `json:"last_logits"`
		Greedy     struct {
			Tokens []int32 `json:"tokens"`
		} `json:"greedy"`
	} `json:"cases"`
}

func fixtureDir(name string) string { return filepath.Join(repoRoot, "testdata", name) }

func readReference(t *testing.T, fixture string) fixtureRef {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir(fixture), "reference.json"))
	require.NoError(t, err)
	var ref fixtureRef
	require.NoError(t, json.Unmarshal(data, &ref))
	require.NotEmpty(t, ref.Cases)
	return ref
}

func idList(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// runGen runs generate with stdin and returns stdout and stderr.
func runGen(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := generate(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// genJSON runs generate --json and decodes its line, checking it is one.
func genJSON(t *testing.T, args ...string) generateResult {
	t.Helper()
	out, errOut, err := runGen(t, "", append(args, "--json")...)
	require.NoError(t, err, errOut)
	require.Equal(t, 1, strings.Count(out, "\n"), "one line of JSON: %q", out)
	var got generateResult
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	return got
}

// TestGenerateMatchesReference runs the issue-3 contract, "nanovllm generate
// --model DIR --prompt-ids ... --max-tokens 24 --temperature 0 --ignore-eos
// --json", on the tiny fixtures and compares the tokens with transformers'
// greedy continuations. These models have no tokenizer, so the line has no
// "text".
func TestGenerateMatchesReference(t *testing.T) {
	for _, fx := range []string{"qwen3-tiny", "qwen3-tiny-untied"} {
		dir := fixtureDir(fx)
		for i, c := range readReference(t, fx).Cases {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"generate", "--model", dir, "--prompt-ids", idList(c.Prompt),
				"--max-tokens", "24", "--temperature", "0", "--ignore-eos", "--json"}, &stdout, &stderr)
			require.Equal(t, 0, code, "%s case %d: %s", fx, i, stderr.String())
			var raw map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &raw), stdout.String())
			require.ElementsMatch(t, []string{"token_ids", "finish_reason"}, slices.Collect(maps.Keys(raw)), stdout.String())
			var got generateResult
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &got))
			require.Equal(t, c.Greedy.Tokens, got.TokenIDs, "%s case %d", fx, i)
			require.Equal(t, "length", got.FinishReason)
		}
	}
}

// TestGenerateStopsAtEOS checks that without --ignore-eos generation ends at
// the first stop id: qwen3-tiny's case 1 generates bos (510), one of the
// stop ids in its generation_config.json.
func TestGenerateStopsAtEOS(t *testing.T) {
	c := readReference(t, "qwen3-tiny").Cases[1]
	stop := slices.IndexFunc(c.Greedy.Tokens, func(id int32) bool { return id == 510 || id == 511 })
	require.GreaterOrEqual(t, stop, 0, "fixture case 1 should contain a stop id")
	got := genJSON(t, "--model", fixtureDir("qwen3-tiny"), "--prompt-ids", idList(c.Prompt), "--max-tokens", "24", "--temperature", "0")
	require.Equal(t, c.Greedy.Tokens[:stop+1], got.TokenIDs)
	require.Equal(t, "stop", got.FinishReason)

	// A --stop-token-ids id ends it too, even with --ignore-eos.
	own := c.Greedy.Tokens[3]
	want := c.Greedy.Tokens[:slices.Index(c.Greedy.Tokens, own)+1]
	got = genJSON(t, "--model", fixtureDir("qwen3-tiny"), "--prompt-ids", idList(c.Prompt), "--max-tokens", "24",
		"--temperature", "0", "--ignore-eos", "--stop-token-ids", strconv.Itoa(int(own)))
	require.Equal(t, want, got.TokenIDs)
	require.Equal(t, "stop", got.FinishReason)
}

// TestGenerateLogprobs checks --logprobs against log_softmax of
// transformers' last-position logits (the first generated token's
// distribution), and the shape and invariants of every entry.
func TestGenerateLogprobs(t *testing.T) {
	const n = 5
	for i, c := range readReference(t, "qwen3-tiny").Cases[:3] {
		got := genJSON(t, "--model", fixtureDir("qwen3-tiny"), "--prompt-ids", idList(c.Prompt), "--max-tokens", "6",
			"--temperature", "0", "--ignore-eos", "--logprobs", strconv.Itoa(n))
		require.Equal(t, c.Greedy.Tokens[:6], got.TokenIDs, "case %d", i)
		require.Len(t, got.Logprobs, len(got.TokenIDs))
		for k, lp := range got.Logprobs {
			require.Equal(t, got.TokenIDs[k], lp.Token)
			require.Len(t, lp.Top, n)
			// Greedy picks the most likely token: it is top[0].
			require.Equal(t, lp.Token, lp.Top[0].Token)
			require.Equal(t, lp.Logprob, lp.Top[0].Logprob)
			mass := 0.0
			for j, tl := range lp.Top {
				require.LessOrEqual(t, tl.Logprob, float32(0))
				if j > 0 {
					require.LessOrEqual(t, tl.Logprob, lp.Top[j-1].Logprob, "sorted, most likely first")
				}
				mass += math.Exp(float64(tl.Logprob))
			}
			require.LessOrEqual(t, mass, 1+1e-5, "top-%d probabilities sum to at most 1", n)
		}

		// Reference: log_softmax of the fixture's float32 logits.
		lse := math.Inf(-1)
		for _, x := range c.LastLogits {
			lse = math.Max(lse, x) + math.Log1p(math.Exp(-math.Abs(lse-x)))
		}
		order := make([]int, len(c.LastLogits))
		for j := range order {
			order[j] = j
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case c.LastLogits[a] > c.LastLogits[b]:
				return -1
			case c.LastLogits[a] < c.LastLogits[b]:
				return 1
			}
			return 0
		})
		for j := range n {
			want := c.LastLogits[order[j]] - lse
			require.Equal(t, int32(order[j]), got.Logprobs[0].Top[j].Token, "case %d rank %d", i, j)
			require.InDelta(t, want, float64(got.Logprobs[0].Top[j].Logprob), 1e-4+1e-4*math.Abs(want), "case %d rank %d", i, j)
		}
	}

	// Sampled tokens report their own logprob, which a top entry with the
	// same id agrees with and top[0] bounds.
	c := readReference(t, "qwen3-tiny").Cases[2]
	got := genJSON(t, "--model", fixtureDir("qwen3-tiny"), "--prompt-ids", idList(c.Prompt), "--max-tokens", "24",
		"--temperature", "1.5", "--top-k", "0", "--top-p", "1", "--seed", "3", "--ignore-eos", "--logprobs", "3")
	notTop := 0
	for _, lp := range got.Logprobs {
		require.LessOrEqual(t, lp.Logprob, lp.Top[0].Logprob)
		if j := slices.IndexFunc(lp.Top, func(tl sampler.TokenLogprob) bool { return tl.Token == lp.Token }); j >= 0 {
			require.Equal(t, lp.Top[j].Logprob, lp.Logprob)
		} else {
			notTop++
		}
	}
	require.Positive(t, notTop, "at temperature 1.5 some of 24 tokens fall outside the top 3")
}

// TestGenerateSeed checks that a seed makes sampling reproducible, that
// another seed changes it, and that top-k 1 is greedy decoding whatever
// the temperature.
func TestGenerateSeed(t *testing.T) {
	c := readReference(t, "qwen3-tiny-untied").Cases[3]
	args := func(extra ...string) []string {
		return append([]string{"--model", fixtureDir("qwen3-tiny-untied"), "--prompt-ids", idList(c.Prompt),
			"--max-tokens", "24", "--ignore-eos", "--temperature", "1"}, extra...)
	}
	a := genJSON(t, args("--seed", "42")...)
	b := genJSON(t, args("--seed", "42")...)
	other := genJSON(t, args("--seed", "43")...)
	require.Equal(t, a.TokenIDs, b.TokenIDs)
	require.Len(t, a.TokenIDs, 24)
	require.NotEqual(t, a.TokenIDs, other.TokenIDs)
	require.Equal(t, c.Greedy.Tokens, genJSON(t, args("--seed", "42", "--top-k", "1")...).TokenIDs)
}

// TestGenerateText runs the real tokenizer over random weights
// (qwen3-tiny-vocab): text in, text out, streamed and as JSON.
func TestGenerateText(t *testing.T) {
	tok, err := tokenizer.Load(tinyVocabModel)
	require.NoError(t, err)
	base := []string{"--model", tinyVocabModel, "--temperature", "0", "--max-tokens", "12", "--ignore-eos"}

	got := genJSON(t, append(base, "--prompt", "Hello, world")...)
	require.Len(t, got.TokenIDs, 12)
	require.Equal(t, "length", got.FinishReason)
	require.NotNil(t, got.Text)
	require.Equal(t, tok.Decode(got.TokenIDs, true), *got.Text)
	require.NotEmpty(t, *got.Text)

	// The same from --prompt-ids, and from stdin.
	ids := genJSON(t, append(base, "--prompt-ids", idList(tok.Encode("Hello, world")))...)
	require.Equal(t, got, ids)
	out, errOut, err := runGen(t, "Hello, world", append(base, "--json")...)
	require.NoError(t, err, errOut)
	var fromStdin generateResult
	require.NoError(t, json.Unmarshal([]byte(out), &fromStdin))
	require.Equal(t, got, fromStdin)

	// Streamed: the text, a newline, and the summary on stderr.
	out, errOut, err = runGen(t, "", append(base, "--prompt", "Hello, world")...)
	require.NoError(t, err, errOut)
	require.Equal(t, *got.Text+"\n", out)
	require.Contains(t, errOut, "finish_reason length; prompt "+strconv.Itoa(len(tok.Encode("Hello, world")))+" tokens, generated 12")
}

// TestGenerateChat checks --chat: the prompt is the chat template's
// rendering of one user turn, with thinking switched off by --no-think.
func TestGenerateChat(t *testing.T) {
	tok, err := tokenizer.Load(tinyVocabModel)
	require.NoError(t, err)
	off := false
	for _, tc := range []struct {
		flags []string
		msgs  []tokenizer.Message
		think *bool
	}{
		{[]string{"--no-think"}, []tokenizer.Message{{Role: "user", Content: "Hi there"}}, &off},
		{[]string{"--system", "Be brief."}, []tokenizer.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi there"}}, nil},
	} {
		rendered, err := tok.ApplyChatTemplate(tc.msgs, tokenizer.ChatOptions{AddGenerationPrompt: true, EnableThinking: tc.think})
		require.NoError(t, err)
		require.Equal(t, tc.think != nil, strings.Contains(rendered, "<think>\n\n</think>"))
		_, errOut, err := runGen(t, "", append([]string{"--model", tinyVocabModel, "--chat", "--prompt", "Hi there",
			"--temperature", "0", "--max-tokens", "3", "--ignore-eos"}, tc.flags...)...)
		require.NoError(t, err, errOut)
		require.Contains(t, errOut, "prompt "+strconv.Itoa(len(tok.Encode(rendered)))+" tokens, generated 3")
	}
}

// TestGenerateStopString takes a piece of a greedy output as a stop string:
// generation must end there, with the text cut before it and the string in
// neither the JSON nor the streamed text.
func TestGenerateStopString(t *testing.T) {
	base := []string{"--model", tinyVocabModel, "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "24", "--ignore-eos"}
	full := genJSON(t, base...)
	text := []rune(*full.Text)
	require.Greater(t, len(text), 8, "need some text to cut: %q", *full.Text)
	stop := string(text[len(text)/2 : len(text)/2+2])
	want := (*full.Text)[:strings.Index(*full.Text, stop)]

	stopArgs := append(slices.Clone(base), "--stop", "never appears \x01", "--stop", stop)
	got := genJSON(t, stopArgs...)
	require.Equal(t, "stop_string", got.FinishReason)
	require.Equal(t, want, *got.Text)
	require.NotContains(t, *got.Text, stop)
	require.Less(t, len(got.TokenIDs), len(full.TokenIDs))
	require.Equal(t, full.TokenIDs[:len(got.TokenIDs)], got.TokenIDs)

	out, errOut, err := runGen(t, "", stopArgs...)
	require.NoError(t, err, errOut)
	require.Equal(t, want+"\n", out)
	require.Contains(t, errOut, "finish_reason stop_string")
}

// TestGenerateBadInput checks that mistakes get an error naming the flag
// or the problem, with exit status 2 for usage errors and 1 for the rest.
func TestGenerateBadInput(t *testing.T) {
	dir := fixtureDir("qwen3-tiny")
	long := make([]int32, 600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--prompt-ids", "1"}, 2, "--model is required"},
		{[]string{"--model", dir, "--prompt-ids", "1,x"}, 1, `--prompt-ids: "x" is not a token id`},
		{[]string{"--model", dir, "--prompt-ids", "1,-3"}, 1, `"-3" is not a token id`},
		{[]string{"--model", dir, "--prompt-ids", ""}, 1, "--prompt-ids is empty"},
		{[]string{"--model", dir, "--prompt-ids", "1,99999"}, 1, "token 99999 at position 1 is outside the vocabulary of 512"},
		{[]string{"--model", dir, "--prompt-ids", idList(long)}, 1, "prompt too long"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--top-p", "3"}, 1, "--top-p 3 must be in [0, 1]"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--temperature", "-1"}, 1, "--temperature -1 must be"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--presence-penalty", "5"}, 1, "--presence-penalty 5 must be in [-2, 2]"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--logprobs", "50", "--json"}, 1, "--logprobs 50 must be in [0, 20]"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--stop-token-ids", "1,x"}, 1, `--stop-token-ids: "x" is not a token id`},
		{[]string{"--model", dir, "--prompt-ids", "1", "--stop-token-ids", "600"}, 1, "stop_token_ids[0] = 600 is outside the vocabulary of 512"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--max-tokens", "-1"}, 1, "--max-tokens -1 is negative"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--max-tokens", "4", "--min-tokens", "5"}, 1, "--min-tokens 5 must be at most max_tokens 4"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--max-model-len", "0"}, 1, "--max-model-len 0"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--threads", "-2"}, 1, "--threads -2"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--logprobs", "2"}, 2, "add --json"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--prompt", "hi"}, 2, "not both"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--chat"}, 2, "--chat wraps a text prompt"},
		{[]string{"--model", dir, "--prompt", "hi", "--no-think"}, 2, "only apply with --chat"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--stop", ""}, 2, "empty stop string"},
		{[]string{"--model", dir, "--prompt-ids", "1", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--model", dir, "--prompt", "hi"}, 1, "has no tokenizer.json: pass --tokenizer DIR|REPO"},
		{[]string{"--model", dir, "--prompt-ids", "1", "--stop", "x"}, 1, "--stop needs a tokenizer"},
		{[]string{"--model", "random:qwen3-0.6b", "--prompt", "hi"}, 1, "random weights and no tokenizer"},
		{[]string{"--model", filepath.Join(dir, "missing"), "--prompt-ids", "1"}, 1, "no such directory, and not a Hub repo id"},
		{[]string{"--model", "random:nope", "--prompt-ids", "1"}, 1, "unknown preset"},
		{[]string{"--model", tinyVocabModel, "--prompt", ""}, 1, "the prompt is empty"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"generate"}, tc.args...), &stdout, &stderr)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, stderr.String())
		require.Contains(t, stderr.String(), tc.want, tc.args)
		require.Empty(t, stdout.String(), tc.args)
	}
}

// TestGenerateTokenIDsStream checks the plain output of a model without a
// tokenizer: the generated ids, space-separated, as they come.
func TestGenerateTokenIDsStream(t *testing.T) {
	c := readReference(t, "qwen3-tiny").Cases[4]
	out, errOut, err := runGen(t, "", "--model", fixtureDir("qwen3-tiny"), "--prompt-ids", idList(c.Prompt),
		"--max-tokens", "24", "--temperature", "0", "--ignore-eos")
	require.NoError(t, err, errOut)
	want := make([]string, len(c.Greedy.Tokens))
	for i, id := range c.Greedy.Tokens {
		want[i] = strconv.Itoa(int(id))
	}
	require.Equal(t, strings.Join(want, " ")+"\n", out)
}

// TestGenerateStdin: /dev/null is not a terminal (generate said it read
// the prompt from one), and stdin is read only up to the tokenizer's limit.
func TestGenerateStdin(t *testing.T) {
	null, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer null.Close()
	var stdout, stderr bytes.Buffer
	err = generate(context.Background(), []string{"--model", tinyVocabModel}, null, &stdout, &stderr)
	require.ErrorContains(t, err, "the prompt is empty")
	require.NotContains(t, stderr.String(), "terminal")
	require.False(t, isTerminal(null))
	require.False(t, isTerminal(strings.NewReader("")))

	var read countingReader
	start := time.Now()
	grew := heapGrowth(func() {
		err = generate(context.Background(), []string{"--model", tinyVocabModel}, &read, &stdout, &stderr)
	})
	require.ErrorIs(t, err, errInputTooLarge)
	require.ErrorContains(t, err, "the prompt on stdin is more than 16777216 bytes")
	require.Less(t, time.Since(start), 10*time.Second)
	require.Less(t, grew, uint64(128<<20))
}
