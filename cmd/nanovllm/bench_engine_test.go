package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBenchEngine runs the engine benchmark on the tiny fixture with one
// sequence at a time and a 32-token shared prefix: every request after the
// first must find exactly the prefix's two full blocks in the prefix cache.
func TestBenchEngine(t *testing.T) {
	const n, prefix = 6, 32
	var stdout, stderr bytes.Buffer
	err := runBenchCommand(context.Background(), []string{"engine", "--model", fixtureDir("qwen3-tiny"),
		"--num-requests", "6", "--min-input-len", "8", "--max-input-len", "40", "--min-output-len", "4", "--max-output-len", "12",
		"--shared-prefix", "32", "--max-num-seqs", "1", "--seed", "5", "--kv-cache-mib", "16", "--json"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())

	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &raw), stdout.String())
	for _, k := range []string{"mode", "model", "device", "threads", "num_requests", "seed", "input_len_range", "output_len_range",
		"shared_prefix_tokens", "temperature", "kv_cache_blocks", "max_num_seqs", "prompt_tokens", "output_tokens", "elapsed_s",
		"total_tokens_per_s", "output_tokens_per_s", "ttft_ms", "tpot_ms", "cached_prompt_tokens", "prefix_cache_hit_rate",
		"preemptions", "cpu_share", "note"} {
		require.Contains(t, raw, k)
	}
	var res benchEngineResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
	require.Equal(t, "engine", res.Mode)
	require.Equal(t, n, res.NumRequests)

	// ignore_eos: every request generates exactly its drawn length.
	_, reqs := benchRequests(benchSpec{numRequests: n, minInput: 8, maxInput: 40, minOutput: 4, maxOutput: 12,
		sharedPrefix: prefix, seed: 5, temperature: 0.6, vocab: 512})
	wantOut, wantPrompt := 0, 0
	for _, r := range reqs {
		wantOut += r.Params.MaxTokens
		wantPrompt += len(r.PromptIDs)
		require.True(t, r.Params.IgnoreEOS)
		require.Equal(t, r.PromptIDs[:prefix], reqs[0].PromptIDs[:prefix])
	}
	require.Equal(t, wantOut, res.OutputTokens)
	require.Equal(t, wantPrompt, res.PromptTokens)
	require.GreaterOrEqual(t, res.OutputTokens, n*4)
	require.LessOrEqual(t, res.OutputTokens, n*12)
	require.GreaterOrEqual(t, res.PromptTokens, n*(prefix+8))
	require.LessOrEqual(t, res.PromptTokens, n*(prefix+40))

	require.Equal(t, (n-1)*prefix, res.CachedPromptTokens)
	require.InDelta(t, float64(res.CachedPromptTokens)/float64(res.PromptTokens), res.PrefixCacheHitRate, 1e-4)
	require.Zero(t, res.Preemptions)

	require.Positive(t, res.ElapsedS)
	require.InEpsilon(t, float64(res.PromptTokens+res.OutputTokens)/res.ElapsedS, res.TotalTokensPerS, 0.01)
	require.InEpsilon(t, float64(res.OutputTokens)/res.ElapsedS, res.OutputTokensPerS, 0.01)
	for _, l := range []latencyStats{res.TTFTMs, res.TPOTMs} {
		require.Positive(t, l.P50)
		require.LessOrEqual(t, l.P50, l.P90)
		require.LessOrEqual(t, l.P90, l.P99)
		require.Positive(t, l.Mean)
	}
	// One sequence at a time: the last request waits for all the others.
	require.Greater(t, res.TTFTMs.P99, res.TTFTMs.P50)
}

func TestBenchRequestsSeeded(t *testing.T) {
	spec := benchSpec{numRequests: 20, minInput: 1, maxInput: 100, minOutput: 1, maxOutput: 100, seed: 1, temperature: 0.6, vocab: 151936}
	_, a := benchRequests(spec)
	_, b := benchRequests(spec)
	require.Equal(t, a, b)
	spec.seed = 2
	_, c := benchRequests(spec)
	require.NotEqual(t, a, c)
	for _, r := range a {
		require.GreaterOrEqual(t, len(r.PromptIDs), 1)
		require.LessOrEqual(t, len(r.PromptIDs), 100)
		for _, id := range r.PromptIDs {
			require.Less(t, id, int32(10000), "bench.py draws prompt ids below 10000")
		}
	}
}

// TestPercentile compares with numpy.percentile's default (linear)
// interpolation, computed by hand.
func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{[]float64{7}, 99, 7},
		{[]float64{1, 2, 3, 4}, 50, 2.5},
		{[]float64{1, 2, 3, 4}, 90, 3.7},
		{[]float64{1, 2, 3, 4}, 99, 3.97},
		{[]float64{10, 20, 30, 40, 50}, 0, 10},
		{[]float64{10, 20, 30, 40, 50}, 100, 50},
		{[]float64{10, 20, 30, 40, 50}, 90, 46},
	} {
		require.InDelta(t, tc.want, percentile(tc.xs, tc.p), 1e-9, "%v p%v", tc.xs, tc.p)
	}
	s := summarize([]float64{4, 1, 3, 2})
	require.Equal(t, latencyStats{Mean: 2.5, P50: 2.5, P90: 3.7, P99: 3.97}, s)
}

func TestBenchModes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := runBenchCommand(context.Background(), []string{"-h"}, &stdout, &stderr)
	require.ErrorIs(t, err, flag.ErrHelp)
	require.Contains(t, stderr.String(), "nanovllm bench engine")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--num-requests", "0"}, "--num-requests 0"},
		{[]string{"--min-input-len", "9", "--max-input-len", "8"}, "--max-input-len 8"},
		{[]string{"--max-output-len", "0"}, "--max-output-len 0"},
		{[]string{"--shared-prefix", "-1"}, "--shared-prefix -1"},
		{[]string{"--max-input-len", "5000"}, "exceeds --max-model-len 4096"},
		{[]string{"--model", fixtureDir("qwen3-tiny"), "--max-input-len", "400"}, "max_position_embeddings 512"},
	} {
		stderr.Reset()
		err := runBenchCommand(context.Background(), append([]string{"engine"}, tc.args...), &stdout, &stderr)
		require.ErrorContains(t, err, tc.want, tc.args)
	}
}

// TestBenchModelMode checks that "bench model" (and plain "bench") is still
// the model-level benchmark with its JSON keys.
func TestBenchModelMode(t *testing.T) {
	for _, mode := range [][]string{{"model"}, nil} {
		var stdout, stderr bytes.Buffer
		args := append(mode, "--model", fixtureDir("qwen3-tiny"), "--batch-sizes", "1,2", "--context", "4", "--decode-steps", "2",
			"--prefill-tokens", "16", "--bandwidth-bytes", "1048576", "--json")
		require.NoError(t, runBenchCommand(context.Background(), args, &stdout, &stderr), stderr.String())
		var raw map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &raw), stdout.String())
		for _, k := range []string{"decode_tokens_per_s", "prefill_tokens_per_s", "weight_bytes_per_token", "memory_read_gb_per_s"} {
			require.Contains(t, raw, k)
		}
		require.NotContains(t, raw, "mode")
	}
}
