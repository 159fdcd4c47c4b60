package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

func ggufFixture(ckpt, typ string) string {
	return filepath.Join(repoRoot, "testdata", "gguf", ckpt, ckpt+"-"+typ+".gguf")
}

func runMain(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

// TestQuantizeMatchesFixtures: `nanovllm quantize` on the safetensors
// fixtures writes the GGUF fixtures byte for byte (their tensors are what
// llama-quantize --pure makes, and llama.cpp loads them), tokenizer
// metadata included for qwen3-tiny-vocab; the files load back.
func TestQuantizeMatchesFixtures(t *testing.T) {
	for _, tc := range []struct{ ckpt, typ string }{
		{"qwen3-tiny", "q8_0"}, {"qwen3-tiny", "q4_0"}, {"qwen3-tiny-untied", "q8_0"}, {"qwen3-tiny-untied", "q4_0"},
		{"qwen3-tiny-vocab", "q8_0"},
	} {
		t.Run(tc.ckpt+"/"+tc.typ, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "m.gguf")
			stdout, stderr, code := runMain(t, "quantize", "--model", fixtureDir(tc.ckpt), "--type", tc.typ, "--out", out)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout, "wrote "+out+": "+tc.ckpt+" "+strings.ToUpper(tc.typ))
			got, err := os.ReadFile(out)
			require.NoError(t, err)
			want, err := os.ReadFile(ggufFixture(tc.ckpt, tc.typ))
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got), "%d bytes written, the fixture has %d", len(got), len(want))
			st, err := os.Stat(out)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o644), st.Mode().Perm())

			dev := cpu.New(cpu.Options{})
			defer dev.Close()
			m, err := loadQwen3(out, dev, qwen3.Options{})
			require.NoError(t, err)
			require.NoError(t, m.Close())
		})
	}
	// From a GGUF file: a Q8_0 file re-written as Q8_0 is the same file.
	out := filepath.Join(t.TempDir(), "again.gguf")
	_, stderr, code := runMain(t, "quantize", "--model", ggufFixture("qwen3-tiny-vocab", "q8_0"), "--type", "q8_0", "--out", out,
		"--name", "qwen3-tiny-vocab Q8_0")
	require.Equal(t, 0, code, stderr)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	want, err := os.ReadFile(ggufFixture("qwen3-tiny-vocab", "q8_0"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got))
}

func TestQuantizeErrors(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "exists.gguf")
	require.NoError(t, os.WriteFile(existing, []byte("x"), 0o644))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--model", fixtureDir("qwen3-tiny")}, 1, "--out FILE.gguf is required"},
		{[]string{"--model", fixtureDir("qwen3-tiny"), "--out", existing}, 1, "exists; pass --force"},
		{[]string{"--model", fixtureDir("qwen3-tiny"), "--type", "q5_k", "--out", "x.gguf"}, 2, `"q5_k": want q8_0, q4_0, q4_k, bf16 or f32`},
		{[]string{"--model", "random:qwen3-0.6b", "--out", filepath.Join(dir, "r.gguf")}, 1, "quantize needs a checkpoint"},
		{[]string{"--model", ggufFixture("qwen3-tiny", "q4_0"), "--type", "q8_0", "--out", filepath.Join(dir, "q.gguf")}, 1,
			"stored as q4_0, wanted q8_0"},
	} {
		_, stderr, code := runMain(t, append([]string{"quantize"}, tc.args...)...)
		require.Equal(t, tc.code, code, stderr)
		require.Contains(t, stderr, tc.want)
	}
	got, err := os.ReadFile(existing)
	require.NoError(t, err)
	require.Equal(t, "x", string(got), "not overwritten")
	left, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
	require.NoError(t, err)
	require.Empty(t, left, "a failed run leaves no temporary file")
}

// TestGenerateGGUF runs generate on GGUF files: the F32 file gives
// transformers' greedy tokens; Q8_0 weights quantized on load
// (--quantize q8_0 on the safetensors checkpoint) give the same tokens as
// the Q8_0 file, whose blocks are byte-identical; and a directory holding
// one .gguf file is that file.
func TestGenerateGGUF(t *testing.T) {
	ref := readReference(t, "qwen3-tiny")
	gen := func(model string, extra ...string) []int32 {
		t.Helper()
		c := ref.Cases[2]
		args := append([]string{"--model", model, "--prompt-ids", idList(c.Prompt), "--max-tokens", "24",
			"--temperature", "0", "--ignore-eos"}, extra...)
		return genJSON(t, args...).TokenIDs
	}
	require.Equal(t, ref.Cases[2].Greedy.Tokens, gen(ggufFixture("qwen3-tiny", "f32")))

	fromFile := gen(ggufFixture("qwen3-tiny", "q8_0"))
	require.Equal(t, fromFile, gen(fixtureDir("qwen3-tiny"), "--quantize", "q8_0"))
	require.Equal(t, gen(ggufFixture("qwen3-tiny", "q4_0")), gen(fixtureDir("qwen3-tiny"), "--quantize", "q4_0"))

	dir := t.TempDir()
	data, err := os.ReadFile(ggufFixture("qwen3-tiny", "q8_0"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model-Q8_0.gguf"), data, 0o644))
	require.Equal(t, fromFile, gen(dir))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "model-Q4_0.gguf"), data, 0o644))
	_, _, err = runGen(t, "", "--model", dir, "--prompt-ids", "1")
	require.ErrorContains(t, err, "2 .gguf files (model-Q4_0.gguf, model-Q8_0.gguf): name one")
	_, _, err = runGen(t, "", "--model", filepath.Join(dir, "missing.gguf"), "--prompt-ids", "1")
	require.ErrorIs(t, err, os.ErrNotExist)
	_, errOut, err := runGen(t, "", "--model", fixtureDir("qwen3-tiny"), "--quantize", "q6_k", "--prompt-ids", "1")
	require.Error(t, err)
	require.Contains(t, errOut, `"q6_k": want q8_0, q4_0 or none`)
}

// TestGGUFTokenizerCLI: a GGUF model without tokenizer.json uses the
// tokenizer in its metadata, for text prompts and for tokenize.
func TestGGUFTokenizerCLI(t *testing.T) {
	tok, err := tokenizer.Load(tinyVocabModel)
	require.NoError(t, err)
	model := ggufFixture("qwen3-tiny-vocab", "q8_0")
	got := genJSON(t, "--model", model, "--prompt", "Hello, world", "--temperature", "0", "--max-tokens", "6", "--ignore-eos")
	require.Len(t, got.TokenIDs, 6)
	require.NotNil(t, got.Text)
	require.Equal(t, tok.Decode(got.TokenIDs, true), *got.Text)

	text := "Héllo wörld, 1234 — ünïcödé"
	stdout, stderr, code := runMain(t, "tokenize", "--model", model, "--json", "--text", text)
	require.Equal(t, 0, code, stderr)
	var res struct {
		IDs []int32 `json:"ids"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	require.Equal(t, tok.Encode(text), res.IDs)

	// A GGUF without a tokenizer runs on ids only.
	_, stderr, code = runMain(t, "tokenize", "--model", ggufFixture("qwen3-tiny", "f32"), "--text", "hello")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `has no tokenizer (tokenizer.ggml.model is "none")`)
}

// TestBenchWeightType: bench engine's and bench model's JSON name the
// weight type.
func TestBenchWeightType(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.NoError(t, runBenchCommand(context.Background(), []string{"model", "--model", ggufFixture("qwen3-tiny", "q4_0"),
		"--batch-sizes", "1", "--context", "4", "--decode-steps", "2", "--prefill-tokens", "16", "--bandwidth-bytes", "1048576",
		"--json"}, &stdout, &stderr), stderr.String())
	var model benchResult
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &model))
	require.Equal(t, "q4_0", model.WeightType)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", fixtureDir("qwen3-tiny")}, "bf16"},
		{[]string{"--model", fixtureDir("qwen3-tiny"), "--quantize", "q4_0"}, "q4_0"},
		{[]string{"--model", ggufFixture("qwen3-tiny", "q8_0")}, "q8_0"},
	} {
		var stdout, stderr bytes.Buffer
		err := runBenchCommand(context.Background(), append([]string{"engine", "--num-requests", "2", "--min-input-len", "4",
			"--max-input-len", "8", "--min-output-len", "2", "--max-output-len", "4", "--kv-cache-mib", "4", "--json"}, tc.args...), &stdout, &stderr)
		require.NoError(t, err, stderr.String())
		var res benchEngineResult
		require.NoError(t, json.Unmarshal(stdout.Bytes(), &res))
		require.Equal(t, tc.want, res.WeightType)
	}
}

// TestGGUFRepoFromCache resolves GGUF repo ids offline from a cache in
// huggingface_hub's layout: Org/Name:QUANT picks a file, and a repository
// without config.json falls back to its only .gguf file.
func TestGGUFRepoFromCache(t *testing.T) {
	cache := t.TempDir()
	commit := strings.Repeat("beef", 10)
	repo := filepath.Join(cache, "models--Org--Tiny-GGUF")
	snap := filepath.Join(repo, "snapshots", commit)
	require.NoError(t, os.MkdirAll(snap, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "refs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644))
	abs, err := filepath.Abs(ggufFixture("qwen3-tiny", "q8_0"))
	require.NoError(t, err)
	require.NoError(t, os.Symlink(abs, filepath.Join(snap, "tiny-Q8_0.gguf")))
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_HUB_OFFLINE", "1")

	c := readReference(t, "qwen3-tiny").Cases[0]
	want := genJSON(t, "--model", abs, "--prompt-ids", idList(c.Prompt), "--max-tokens", "8", "--temperature", "0", "--ignore-eos").TokenIDs
	for _, model := range []string{"Org/Tiny-GGUF:Q8_0", "Org/Tiny-GGUF:tiny-Q8_0.gguf", "Org/Tiny-GGUF", "Org/Tiny-GGUF@main:q8_0"} {
		got := genJSON(t, "--model", model, "--prompt-ids", idList(c.Prompt), "--max-tokens", "8", "--temperature", "0", "--ignore-eos")
		require.Equal(t, want, got.TokenIDs, model)
	}
	_, _, err = runGen(t, "", "--model", "Org/Tiny-GGUF:Q4_0", "--prompt-ids", "1")
	require.ErrorContains(t, err, `no matching GGUF file for "Q4_0": its .gguf files: tiny-Q8_0.gguf`)
}

// TestTokenizerFlagGGUF: --tokenizer takes a .gguf file too, for a model
// without a tokenizer.
func TestTokenizerFlagGGUF(t *testing.T) {
	tok, err := tokenizer.Load(tinyVocabModel)
	require.NoError(t, err)
	stdout, stderr, code := runMain(t, "tokenize", "--tokenizer", ggufFixture("qwen3-tiny-vocab", "q8_0"), "--json", "--text", "Hello, world")
	require.Equal(t, 0, code, stderr)
	var res struct {
		IDs []int32 `json:"ids"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	require.Equal(t, tok.Encode("Hello, world"), res.IDs)
}
