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
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/sysmem"
	"github.com/stretchr/testify/require"
)

// testHub is a minimal Hugging Face Hub: it serves one repository's files
// at /{repo}/resolve/{revision}/{file} with the headers core/hub reads
// (X-Repo-Commit, X-Linked-Etag with the sha256, X-Linked-Size, the
// X-Error-Code of a missing repository or file) and counts the file bodies
// it sends.
type testHub struct {
	repo, commit string
	files        map[string][]byte

	mu     sync.Mutex
	bodies int
}

func newTestHub(t *testing.T, repo, dir string) (*testHub, *httptest.Server) {
	t.Helper()
	h := &testHub{repo: repo, commit: strings.Repeat("c0ffee", 6) + "c0ff", files: map[string][]byte{}}
	for _, f := range []string{"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		h.files[f] = b
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

func (h *testHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	repo, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/resolve/")
	if !ok || repo != h.repo {
		// The Hub answers 401 for a repository it will not confirm exists.
		w.Header().Set("X-Error-Code", "RepoNotFound")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rev, file, _ := strings.Cut(rest, "/")
	if rev != "main" && rev != h.commit {
		w.Header().Set("X-Error-Code", "RevisionNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("X-Repo-Commit", h.commit)
	content, ok := h.files[file]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	sum := sha256.Sum256(content)
	w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.Header().Set("X-Linked-Size", strconv.Itoa(len(content)))
	if r.Method == http.MethodGet {
		h.mu.Lock()
		h.bodies++
		h.mu.Unlock()
	}
	http.ServeContent(w, r, file, time.Time{}, bytes.NewReader(content))
}

func (h *testHub) bodyCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bodies
}

// hubEnv points the Hugging Face environment variables at endpoint and a
// fresh cache.
func hubEnv(t *testing.T, endpoint string) string {
	t.Helper()
	cache := t.TempDir()
	t.Setenv("HF_ENDPOINT", endpoint)
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	return cache
}

// TestModelFromHub runs every command that takes --model on a repo id
// served by a local fake Hub, and checks that the results equal those of
// the same model as a local directory, that the second use comes from the
// cache, and that HF_HUB_OFFLINE works from the cache alone.
func TestModelFromHub(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads 21 MB from a local server")
	}
	const repo = "Org/Tiny"
	h, srv := newTestHub(t, repo, tinyVocabModel)
	cache := hubEnv(t, srv.URL)

	genArgs := func(model string) []string {
		return []string{"--model", model, "--prompt", "Hello", "--temperature", "0", "--max-tokens", "8", "--ignore-eos", "--json"}
	}
	local, errOut, err := runGen(t, "", genArgs(tinyVocabModel)...)
	require.NoError(t, err, errOut)

	fromHub, errOut, err := runGen(t, "", genArgs(repo)...)
	require.NoError(t, err, errOut)
	require.Equal(t, local, fromHub)
	require.Equal(t, len(h.files), h.bodyCount(), "every file downloaded once")
	// The progress bar shows the files of 1 MB and more.
	require.Contains(t, errOut, "model.safetensors")
	require.Contains(t, errOut, "tokenizer.json")
	require.DirExists(t, filepath.Join(cache, "models--Org--Tiny", "snapshots", h.commit))

	// The second time every file comes from the cache; a revision works.
	fromHub, errOut, err = runGen(t, "", genArgs(repo+"@main")...)
	require.NoError(t, err, errOut)
	require.Equal(t, local, fromHub)
	require.Equal(t, len(h.files), h.bodyCount(), "nothing downloaded again")

	// The other commands resolve repo ids the same way.
	want, _, err := runCmd(t, runTokenize, "--model", tinyVocabModel, "--text", "Hello, world", "--json")
	require.NoError(t, err)
	got, errOut, err := runCmd(t, runTokenize, "--model", repo, "--text", "Hello, world", "--json")
	require.NoError(t, err, errOut)
	require.Equal(t, want, got)
	got, errOut, err = runCmd(t, runDetokenize, "--model", repo, "--ids", "9707,11,1879", "--json")
	require.NoError(t, err, errOut)
	require.JSONEq(t, `{"text": "Hello, world"}`, got)
	var chatOut, chatErr bytes.Buffer
	require.NoError(t, chat(context.Background(), []string{"--model", repo, "--max-tokens", "2"}, strings.NewReader("/exit\n"), &chatOut, &chatErr), chatErr.String())
	got, errOut, err = runCmd(t, runBenchCommand, "engine", "--model", repo, "--num-requests", "2", "--max-input-len", "20",
		"--max-output-len", "20", "--kv-cache-mib", "4", "--json")
	require.NoError(t, err, errOut)
	var bench benchEngineResult
	require.NoError(t, json.Unmarshal([]byte(got), &bench))
	require.Equal(t, repo, bench.Model)
	require.Positive(t, bench.OutputTokens)
	got, errOut, err = runCmd(t, runBenchCommand, "--model", repo, "--batch-sizes", "1", "--context", "4", "--decode-steps", "1",
		"--prefill-tokens", "8", "--bandwidth-bytes", "1048576", "--json")
	require.NoError(t, err, errOut)
	require.Contains(t, got, `"decode_tokens_per_s"`)
	require.Equal(t, len(h.files), h.bodyCount(), "nothing downloaded again")

	// Offline, with the server gone, the cache alone serves the model.
	srv.Close()
	t.Setenv("HF_HUB_OFFLINE", "1")
	fromHub, errOut, err = runGen(t, "", genArgs(repo)...)
	require.NoError(t, err, errOut)
	require.Equal(t, local, fromHub)
}

// TestModelFromHubErrors checks that Hub failures say what to do.
func TestModelFromHubErrors(t *testing.T) {
	_, srv := newTestHub(t, "Org/Tiny", tinyVocabModel)
	for _, tc := range []struct {
		name  string
		env   map[string]string
		model string
		want  []string
	}{
		{"unknown repo", nil, "Org/Missing", []string{"--model Org/Missing", "HF_TOKEN"}},
		{"unknown revision", nil, "Org/Tiny@v9", []string{`revision "v9" not found`, "check the repo id and revision"}},
		{"offline, not cached", map[string]string{"HF_HUB_OFFLINE": "1"}, "Org/Tiny", []string{"HF_HUB_OFFLINE is set", "HF_HUB_CACHE"}},
		{"Hub unreachable", map[string]string{"HF_ENDPOINT": "http://127.0.0.1:1"}, "Org/Tiny",
			[]string{"could not be reached", "HF_ENDPOINT", "HF_HUB_OFFLINE=1", "is not a local directory"}},
		{"not a repo id", nil, "no/such/dir", []string{"no such directory, and not a Hub repo id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hubEnv(t, srv.URL)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			for _, cmd := range []func() error{
				func() error { _, _, err := runGen(t, "", "--model", tc.model, "--prompt", "hi"); return err },
				func() error { _, _, err := runCmd(t, runTokenize, "--model", tc.model, "--text", "hi"); return err },
				func() error {
					_, _, err := runCmd(t, runBenchCommand, "engine", "--model", tc.model)
					return err
				},
			} {
				err := cmd()
				require.Error(t, err)
				for _, w := range tc.want {
					require.ErrorContains(t, err, w)
				}
			}
		})
	}
}

// heapGrowth runs f and returns how much the heap grew at most while it
// ran, sampled every millisecond.
func heapGrowth(f func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := heap()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if h := heap(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	<-done
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// TestEngineSizeLimits passes sizes that ended in "fatal error: runtime: out
// of memory", a negative or wrapped byte count, or gigabytes of threads:
// each must be a clear error naming the value and its limit, at once and
// within a few megabytes.
func TestEngineSizeLimits(t *testing.T) {
	if _, ok := sysmem.Available(); !ok {
		t.Skip("the machine's available memory is unknown here")
	}
	huge := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(fixtureDir("qwen3-tiny"), "config.json"))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(cfg, &m))
	m["max_position_embeddings"] = 1 << 50
	cfg, err = json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(huge, "config.json"), cfg, 0o644))
	weights, err := os.ReadFile(filepath.Join(fixtureDir("qwen3-tiny"), "model.safetensors"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(huge, "model.safetensors"), weights, 0o644))

	tiny := fixtureDir("qwen3-tiny")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"many threads", []string{"--model", tiny, "--threads", "1000000"}, "--threads 1000000: want 0 (all CPUs) up to 1024"},
		{"negative threads", []string{"--model", tiny, "--threads", "-1"}, "--threads -1"},
		{"KV cache beyond the machine", []string{"--model", tiny, "--kv-cache-mib", "100000000"}, "--kv-cache-mib 100000000 (the KV cache) needs 95.4 TiB, but only"},
		{"KV cache overflowing bytes", []string{"--model", tiny, "--kv-cache-mib", "8796093022208"}, "--kv-cache-mib 8796093022208 is above the limit of 1073741824 MiB"},
		{"KV cache at int64's end", []string{"--model", tiny, "--kv-cache-mib", "9223372036854775807"}, "is above the limit"},
		{"context beyond the limit", []string{"--model", tiny, "--max-model-len", "1000000000", "--max-tokens", "0"}, "--max-model-len 1000000000: want a length from 1 to 16777216"},
		{"many sequences", []string{"--model", tiny, "--max-num-seqs", "10000000"}, "--max-num-seqs 10000000: want a count from 1 to 65536"},
		{"huge batches", []string{"--model", tiny, "--max-num-batched-tokens", "1000000000"}, "--max-num-batched-tokens 1000000000 is above the limit of 1048576"},
		{"config context of 2^50", []string{"--model", huge, "--max-tokens", "0"}, "max_position_embeddings = 1125899906842624 is above the limit of 16777216"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			start := time.Now()
			grew := heapGrowth(func() { _, _, err = runGen(t, "", append(tc.args, "--prompt-ids", "1,2")...) })
			require.ErrorContains(t, err, tc.want)
			require.Less(t, time.Since(start), 10*time.Second)
			require.Less(t, grew, uint64(64<<20), "heap grew by %d bytes", grew)
		})
	}
}

// TestCheckEngineMemory sizes engines over the tiny fixture whose KV cache
// or activations cannot fit any machine: refused before allocation, with
// the sizes and flags named.
func TestCheckEngineMemory(t *testing.T) {
	if _, ok := sysmem.Available(); !ok {
		t.Skip("the machine's available memory is unknown here")
	}
	ef := engineFlags{model: fixtureDir("qwen3-tiny"), maxModelLen: 512, maxNumSeqs: 4, maxBatchedTokens: 64}
	lm, err := ef.load(context.Background(), io.Discard)
	require.NoError(t, err)
	defer lm.Close()

	ok := ef.engineConfig(64)
	require.NoError(t, checkEngineMemory(lm.model, ok))

	blocks := ef.engineConfig(64)
	blocks.Cache.NumBlocks = 1 << 40 // 2^40 blocks of 16 tokens of 512 bytes: 8 PiB
	err = checkEngineMemory(lm.model, blocks)
	require.ErrorIs(t, err, sysmem.ErrInsufficient)
	require.ErrorContains(t, err, "the KV cache (8.0 PiB for 16-token blocks of 8.0 KiB each)")
	require.ErrorContains(t, err, "lower --kv-cache-mib or --max-model-len")

	acts := ef.engineConfig(64)
	acts.Scheduler.MaxBatchedTokens, acts.Scheduler.MaxSeqs = 1<<40, 1<<40
	err = checkEngineMemory(lm.model, acts)
	require.ErrorIs(t, err, sysmem.ErrInsufficient)
	require.ErrorContains(t, err, "--max-num-batched-tokens 1099511627776, --max-num-seqs 1099511627776")
}
