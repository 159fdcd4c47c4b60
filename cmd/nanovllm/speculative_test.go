package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGenerateSpeculativeContract is the contract: with
// --speculative ngram or --speculative draft, greedy generate prints the
// same token ids as without, for every fixture prompt.
func TestGenerateSpeculativeContract(t *testing.T) {
	ref := readReference(t, "qwen3-tiny")
	base := []string{"--model", fixtureDir("qwen3-tiny"), "--max-tokens", "24", "--temperature", "0", "--ignore-eos", "--json"}
	prompts := [][]int32{{1, 2, 3}}
	for _, c := range ref.Cases[:3] {
		prompts = append(prompts, c.Prompt)
	}
	for _, prompt := range prompts {
		args := append([]string{"--prompt-ids", idList(prompt)}, base...)
		plain, _, err := runCmd(t, runGenerate, args...)
		require.NoError(t, err)
		for _, spec := range [][]string{
			{"--speculative", "ngram", "--num-speculative-tokens", "4"},
			{"--speculative", "draft", "--draft-model", fixtureDir("qwen3-tiny-untied")},
			{"--speculative", "draft", "--draft-model", fixtureDir("qwen3-tiny"), "--num-speculative-tokens", "6"},
		} {
			got, _, err := runCmd(t, runGenerate, append(args, spec...)...)
			require.NoError(t, err, "%v", spec)
			require.Equal(t, plain, got, "prompt %v with %v", prompt, spec)
		}
	}
}

func TestSpeculativeFlagErrors(t *testing.T) {
	m := fixtureDir("qwen3-tiny")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--speculative", "medusa"}, `--speculative "medusa": want ngram or draft`},
		{[]string{"--speculative", "draft"}, "--speculative draft needs --draft-model"},
		{[]string{"--speculative", "ngram", "--draft-model", m}, "--draft-model is for --speculative draft"},
		{[]string{"--speculative", "ngram", "--num-speculative-tokens", "0"}, "--num-speculative-tokens 0: want 1 to 32"},
		{[]string{"--speculative", "ngram", "--prompt-lookup-min", "3", "--prompt-lookup-max", "2"}, "--prompt-lookup-min 3 / --prompt-lookup-max 2"},
		{[]string{"--speculative", "draft", "--draft-model", fixtureDir("qwen3-tiny-vocab")}, "a draft must share the target's vocabulary"},
	} {
		args := append([]string{"--model", m, "--prompt-ids", "1,2", "--max-tokens", "2"}, tc.args...)
		_, _, err := runCmd(t, runGenerate, args...)
		require.ErrorContains(t, err, tc.want, "%v", tc.args)
	}
}

// TestBenchSpec runs the speculative benchmark on a fixture: the oracle
// at acceptance 1 has every proposal accepted (the benchmark itself checks
// that the outputs equal the plain run's), at 0 none.
func TestBenchSpec(t *testing.T) {
	for _, tc := range []struct {
		acceptance string
		rate       float64
	}{{"1", 1}, {"0", 0}} {
		out, _, err := runCmd(t, runBenchCommand, "spec", "--model", fixtureDir("qwen3-tiny"), "--acceptance", tc.acceptance,
			"--batch", "2", "--output-len", "16", "--rounds", "1", "--json")
		require.NoError(t, err)
		var res specBenchResult
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		require.Equal(t, tc.rate, res.AcceptanceRate)
		require.Positive(t, res.BaselineTokensPerS)
		require.Positive(t, res.SpecTokensPerS)
		require.Equal(t, 2, res.Batch)
		require.Equal(t, 4, res.NumSpeculativeTokens)
	}
	_, _, err := runCmd(t, runBenchCommand, "spec", "--model", fixtureDir("qwen3-tiny"), "--acceptance", "1.5")
	require.ErrorContains(t, err, "--acceptance 1.5")
	_, errOut, err := runCmd(t, runBenchCommand, "-h")
	require.Error(t, err)
	require.True(t, strings.Contains(errOut, "bench spec"))
}
