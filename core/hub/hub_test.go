package hub

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const repo = "Org/Tiny-Model"

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// standardRepo has a small plain file and a larger LFS file.
func standardRepo() map[string]*fakeFile {
	return map[string]*fakeFile{
		"config.json":       {content: []byte(`{"model_type":"qwen3"}`)},
		"model.safetensors": {content: randomBytes(50_000, 1), lfs: true},
	}
}

func newTestClient(t *testing.T, h *fakeHub) *Client {
	return &Client{Endpoint: h.srv.URL, CacheDir: t.TempDir(), HTTP: h.srv.Client(), RetryWait: time.Millisecond}
}

func TestDownloadLayout(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	c := newTestClient(t, h)
	ctx := context.Background()
	repoDir := filepath.Join(c.CacheDir, "models--Org--Tiny-Model")

	for name, f := range h.files {
		p, err := c.Download(ctx, repo, "", name)
		require.NoError(t, err)
		require.Equal(t, filepath.Join(repoDir, "snapshots", h.commit, name), p)

		// The snapshot entry is a relative symlink to the blob named by etag.
		etag := gitBlobSHA1(f.content)
		if f.lfs {
			etag = sha256Hex(f.content)
		}
		target, err := os.Readlink(p)
		require.NoError(t, err)
		require.Equal(t, "../../blobs/"+etag, target)
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Equal(t, f.content, got)
	}
	ref, err := os.ReadFile(filepath.Join(repoDir, "refs", "main"))
	require.NoError(t, err)
	require.Equal(t, h.commit, string(ref), "refs/main holds the bare commit hash")

	leftovers, err := filepath.Glob(filepath.Join(repoDir, "blobs", "*.incomplete"))
	require.NoError(t, err)
	require.Empty(t, leftovers)
	// The LFS body came from the CDN location, not the resolve URL.
	require.Equal(t, 1, h.count("GET", "/cdn/"))
}

func TestSecondDownloadReusesCache(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	c := newTestClient(t, h)
	ctx := context.Background()
	first, err := c.Download(ctx, repo, "main", "model.safetensors")
	require.NoError(t, err)
	h.reset()
	second, err := c.Download(ctx, repo, "main", "model.safetensors")
	require.NoError(t, err)
	require.Equal(t, first, second)
	require.Equal(t, 1, h.count("HEAD", "/"), "online mode still checks the commit")
	require.Equal(t, 0, h.count("GET", "/"), "but downloads nothing")

	// A pinned commit is immutable: no request at all.
	h.reset()
	pinned, err := c.Download(ctx, repo, h.commit, "model.safetensors")
	require.NoError(t, err)
	require.Equal(t, first, pinned)
	require.Empty(t, h.requests())
}

func TestResumeAfterCutConnection(t *testing.T) {
	content := standardRepo()["model.safetensors"].content
	for _, tc := range []struct {
		name    string
		retries int
	}{{"within one call", 0}, {"across calls", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHub(t, repo, standardRepo())
			h.cutAfter = 12_345
			c := newTestClient(t, h)
			c.Retries = tc.retries
			var mu sync.Mutex
			var last [2]int64
			c.Progress = func(file string, done, total int64) {
				mu.Lock()
				defer mu.Unlock()
				require.Equal(t, "model.safetensors", file)
				last = [2]int64{done, total}
			}
			ctx := context.Background()
			p, err := c.Download(ctx, repo, "main", "model.safetensors")
			if tc.retries < 0 {
				require.Error(t, err, "without retries the cut surfaces")
				partial := filepath.Join(c.repoDir(repo), "blobs", sha256Hex(content)+".incomplete")
				st, serr := os.Stat(partial)
				require.NoError(t, serr, "the partial download is kept")
				require.EqualValues(t, 12_345, st.Size())
				p, err = c.Download(ctx, repo, "main", "model.safetensors")
			}
			require.NoError(t, err)
			got, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Equal(t, content, got)

			var ranges []string
			for _, r := range h.requests() {
				if strings.HasPrefix(r.Path, "/cdn/") {
					ranges = append(ranges, r.Range)
				}
			}
			require.Equal(t, []string{"", "bytes=12345-"}, ranges)
			require.Equal(t, [2]int64{int64(len(content)), int64(len(content))}, last)
		})
	}
}

func TestChecksumMismatchRejected(t *testing.T) {
	files := standardRepo()
	bad := bytes.Clone(files["model.safetensors"].content)
	bad[100] ^= 1
	files["model.safetensors"].serve = bad
	h := newFakeHub(t, repo, files)
	c := newTestClient(t, h)
	_, err := c.Download(context.Background(), repo, "main", "model.safetensors")
	require.ErrorIs(t, err, ErrChecksum)
	require.ErrorContains(t, err, "sha256 "+sha256Hex(bad))
	require.ErrorContains(t, err, sha256Hex(files["model.safetensors"].content))
	require.Equal(t, 1, h.count("GET", "/cdn/"), "a bad checksum is not retried")

	blobs, err := os.ReadDir(filepath.Join(c.repoDir(repo), "blobs"))
	require.NoError(t, err)
	require.Empty(t, blobs, "neither the blob nor the partial file is kept")
	_, err = os.Lstat(filepath.Join(c.repoDir(repo), "snapshots", h.commit, "model.safetensors"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestHubErrors(t *testing.T) {
	tests := []struct {
		name, repo, rev, file, token string
		hubToken                     string
		is                           []error
		isNot                        error
		want                         []string
	}{
		{name: "missing file", repo: repo, file: "nope.json", is: []error{ErrEntryNotFound, ErrNotFound}, want: []string{"file nope.json not found in Org/Tiny-Model@main", "HTTP 404 EntryNotFound"}},
		{name: "missing revision", repo: repo, rev: "v9", file: "config.json", is: []error{ErrNotFound}, isNot: ErrEntryNotFound, want: []string{`revision "v9" not found in Org/Tiny-Model`}},
		{name: "missing repo with token", repo: "Org/Other", file: "config.json", token: "t", is: []error{ErrNotFound}, isNot: ErrEntryNotFound, want: []string{"repository Org/Other not found"}},
		{name: "missing repo anonymous", repo: "Org/Other", file: "config.json", is: []error{ErrUnauthorized}, want: []string{"HF_TOKEN", "private or gated", "HTTP 401 RepoNotFound"}},
		{name: "gated without token", repo: repo, file: "config.json", hubToken: "secret", is: []error{ErrUnauthorized}, want: []string{"set HF_TOKEN", "gated", "Access to model Org/Tiny-Model is restricted"}},
		{name: "gated wrong token", repo: repo, file: "config.json", hubToken: "secret", token: "wrong", is: []error{ErrUnauthorized}, want: []string{"HF_TOKEN was refused"}},
		{name: "bad repo id", repo: "../etc", file: "config.json", is: []error{ErrInvalidName}, want: []string{`invalid repo id "../etc"`}},
		{name: "escaping file name", repo: repo, file: "../../x", is: []error{ErrInvalidName}, want: []string{`invalid file name "../../x"`}},
		{name: "escaping revision", repo: repo, rev: "../../x", file: "config.json", is: []error{ErrInvalidName}, want: []string{`invalid revision "../../x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHub(t, repo, standardRepo())
			h.token = tc.hubToken
			c := newTestClient(t, h)
			c.Token = tc.token
			_, err := c.Download(context.Background(), tc.repo, tc.rev, tc.file)
			require.Error(t, err)
			for _, e := range tc.is {
				require.ErrorIs(t, err, e)
			}
			if tc.isNot != nil {
				require.NotErrorIs(t, err, tc.isNot)
			}
			for _, s := range tc.want {
				require.ErrorContains(t, err, s)
			}
		})
	}
}

func TestMissingFileRecordedForOffline(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	c := newTestClient(t, h)
	_, err := c.Download(context.Background(), repo, "main", "generation_config.json")
	require.ErrorIs(t, err, ErrEntryNotFound)
	// Like huggingface_hub, the absence is remembered per commit...
	require.FileExists(t, filepath.Join(c.repoDir(repo), ".no_exist", h.commit, "generation_config.json"))
	// ...so offline the file is known to be missing, not merely uncached.
	c.Offline = true
	_, err = c.Download(context.Background(), repo, "main", "generation_config.json")
	require.ErrorIs(t, err, ErrEntryNotFound)
}

func TestTokenSentAsBearerToHubOnly(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	h.token = "hf_secret"
	c := newTestClient(t, h)
	c.Token = "hf_secret"
	_, err := c.Download(context.Background(), repo, "main", "model.safetensors")
	require.NoError(t, err)
	_, err = c.Download(context.Background(), repo, "main", "config.json")
	require.NoError(t, err)
	for _, r := range h.requests() {
		if strings.HasPrefix(r.Path, "/cdn/") {
			require.Empty(t, r.Auth, "the CDN must not see the token")
		} else {
			require.Equal(t, "Bearer hf_secret", r.Auth, r.Path)
		}
	}
}

func TestOfflineMode(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	c := newTestClient(t, h)
	online, err := c.Download(context.Background(), repo, "main", "config.json")
	require.NoError(t, err)
	h.reset()

	c.Offline = true
	p, err := c.Download(context.Background(), repo, "main", "config.json")
	require.NoError(t, err, "offline hit")
	require.Equal(t, online, p)

	_, err = c.Download(context.Background(), repo, "main", "model.safetensors")
	require.ErrorIs(t, err, ErrNotCached, "offline miss")
	require.ErrorContains(t, err, "HF_HUB_OFFLINE")
	require.ErrorContains(t, err, "model.safetensors")

	_, err = c.Download(context.Background(), "Org/Never", "main", "config.json")
	require.ErrorIs(t, err, ErrNotCached)
	require.ErrorContains(t, err, "no ref refs/main")
	require.Empty(t, h.requests(), "offline mode makes no request")
}

// pythonCache lays out a cache by hand, the way huggingface_hub leaves it.
func pythonCache(t *testing.T, cacheDir, commit string, files map[string]*fakeFile) {
	repoDir := filepath.Join(cacheDir, "models--Org--Tiny-Model")
	for name, f := range files {
		etag := gitBlobSHA1(f.content)
		if f.lfs {
			etag = sha256Hex(f.content)
		}
		require.NoError(t, os.MkdirAll(filepath.Join(repoDir, "blobs"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(repoDir, "blobs", etag), f.content, 0o644))
		snap := filepath.Join(repoDir, "snapshots", commit)
		require.NoError(t, os.MkdirAll(snap, 0o755))
		require.NoError(t, os.Symlink("../../blobs/"+etag, filepath.Join(snap, name)))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(repoDir, "refs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repoDir, "refs", "main"), []byte(commit), 0o644))
}

func TestReusesPythonCache(t *testing.T) {
	files := standardRepo()
	h := newFakeHub(t, repo, files)
	c := newTestClient(t, h)
	pythonCache(t, c.CacheDir, h.commit, files)
	want := filepath.Join(c.CacheDir, "models--Org--Tiny-Model", "snapshots", h.commit, "model.safetensors")

	p, err := c.Download(context.Background(), repo, "main", "model.safetensors")
	require.NoError(t, err)
	require.Equal(t, want, p)
	require.Equal(t, 0, h.count("GET", "/"), "the Python download is reused")

	// With the Hub unreachable, the cached commit is used.
	h.srv.Close()
	p, err = c.Download(context.Background(), repo, "main", "model.safetensors")
	require.NoError(t, err)
	require.Equal(t, want, p)
	_, err = c.Download(context.Background(), repo, "main", "tokenizer.json")
	require.ErrorIs(t, err, ErrNotCached)
}

func TestBlobSharedAcrossCommits(t *testing.T) {
	// A new commit that leaves the weights unchanged reuses the blob: only
	// a new snapshot link is made.
	h := newFakeHub(t, repo, standardRepo())
	c := newTestClient(t, h)
	_, err := c.Download(context.Background(), repo, "main", "model.safetensors")
	require.NoError(t, err)
	h.commit = strings.Repeat("cd", 20)
	h.reset()
	p, err := c.Download(context.Background(), repo, "main", "model.safetensors")
	require.NoError(t, err)
	require.Contains(t, p, h.commit)
	require.Equal(t, 0, h.count("GET", "/"))
	ref, err := os.ReadFile(filepath.Join(c.repoDir(repo), "refs", "main"))
	require.NoError(t, err)
	require.Equal(t, h.commit, string(ref), "refs/main follows the branch")
}

func TestRenamedRepoRelativeRedirect(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	h.renamedFrom = "Org/Old-Name"
	c := newTestClient(t, h)
	p, err := c.Download(context.Background(), "Org/Old-Name", "main", "model.safetensors")
	require.NoError(t, err)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, h.files["model.safetensors"].content, got)
}

func TestRevisionWithSlash(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	c := newTestClient(t, h)
	_, err := c.Download(context.Background(), repo, "refs/pr/1", "config.json")
	require.NoError(t, err)
	require.Equal(t, 1, h.count("HEAD", "/Org/Tiny-Model/resolve/refs%2Fpr%2F1/config.json"))
	ref, err := os.ReadFile(filepath.Join(c.repoDir(repo), "refs", "refs", "pr", "1"))
	require.NoError(t, err)
	require.Equal(t, h.commit, string(ref))
}

func TestConcurrentDownloadsShareOneTransfer(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	c := newTestClient(t, h)
	var wg sync.WaitGroup
	paths := make([]string, 4)
	errs := make([]error, 4)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = c.Download(context.Background(), repo, "main", "model.safetensors")
		}()
	}
	wg.Wait()
	for i := range paths {
		require.NoError(t, errs[i])
		got, err := os.ReadFile(paths[i])
		require.NoError(t, err)
		require.Equal(t, h.files["model.safetensors"].content, got)
	}
	require.Equal(t, 1, h.count("GET", "/cdn/"), "the blob lock serialises the downloads")
}

func TestCancelledContext(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	c := newTestClient(t, h)
	pythonCache(t, c.CacheDir, h.commit, map[string]*fakeFile{"config.json": h.files["config.json"]})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Cancelling is not a network failure: no silent fallback to the cache.
	_, err := c.Download(ctx, repo, "main", "config.json")
	require.ErrorIs(t, err, context.Canceled)
}

func TestNewClientFromEnv(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "token"), []byte("hf_fromfile\n"), 0o600))
	tests := []struct {
		name string
		env  map[string]string
		want Client
	}{
		{"defaults", map[string]string{"HOME": "/home/u"}, Client{Endpoint: DefaultEndpoint, CacheDir: "/home/u/.cache/huggingface/hub"}},
		{"xdg", map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"}, Client{Endpoint: DefaultEndpoint, CacheDir: "/xdg/huggingface/hub"}},
		{"hf home and token file", map[string]string{"HF_HOME": dir}, Client{Endpoint: DefaultEndpoint, CacheDir: filepath.Join(dir, "hub"), Token: "hf_fromfile"}},
		{"hub cache wins", map[string]string{"HF_HOME": "/h", "HF_HUB_CACHE": "/c", "HF_TOKEN": "tok"}, Client{Endpoint: DefaultEndpoint, CacheDir: "/c", Token: "tok"}},
		{"endpoint and offline", map[string]string{"HOME": "/u", "HF_ENDPOINT": "http://mirror:8080/", "HF_HUB_OFFLINE": "yes"}, Client{Endpoint: "http://mirror:8080", CacheDir: "/u/.cache/huggingface/hub", Offline: true}},
		{"offline off", map[string]string{"HOME": "/u", "HF_HUB_OFFLINE": "0"}, Client{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub"}},
		{"download timeout", map[string]string{"HOME": "/u", "HF_HUB_DOWNLOAD_TIMEOUT": "2.5"}, Client{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub", IdleTimeout: 2500 * time.Millisecond}},
		{"bad download timeout", map[string]string{"HOME": "/u", "HF_HUB_DOWNLOAD_TIMEOUT": "-1"}, Client{Endpoint: DefaultEndpoint, CacheDir: "/u/.cache/huggingface/hub"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClientFromEnv(func(k string) string { return tc.env[k] })
			require.NotNil(t, c.HTTP)
			require.Equal(t, tc.want.Endpoint, c.Endpoint)
			require.Equal(t, tc.want.CacheDir, c.CacheDir)
			require.Equal(t, tc.want.Token, c.Token)
			require.Equal(t, tc.want.Offline, c.Offline)
			require.Equal(t, tc.want.IdleTimeout, c.IdleTimeout)
		})
	}
}

func TestServerIgnoringRangeRestarts(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	h.cutAfter = 20_000
	h.ignoreRange = true
	c := newTestClient(t, h)
	p, err := c.Download(context.Background(), repo, "main", "model.safetensors")
	require.NoError(t, err)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	// The 200 answer to the ranged GET is the whole file: appending it to
	// the 20,000 bytes already there would corrupt the blob.
	require.Equal(t, h.files["model.safetensors"].content, got)
	require.Equal(t, 2, h.count("GET", "/cdn/"))
}

func TestTransientServerErrors(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	c := newTestClient(t, h)
	ctx := context.Background()

	// A 503 on the download is retried.
	h.fail, h.failMethod = 2, "GET"
	p, err := c.Download(ctx, repo, "main", "model.safetensors")
	require.NoError(t, err)
	require.Equal(t, 3, h.count("GET", "/cdn/"))

	// A 503 on the HEAD falls back to the cache...
	h.fail, h.failMethod = 1, "HEAD"
	cached, err := c.Download(ctx, repo, "main", "model.safetensors")
	require.NoError(t, err)
	require.Equal(t, p, cached)

	// ...and says so when the file is not cached.
	h.fail, h.failMethod = 1, "HEAD"
	_, err = c.Download(ctx, repo, "main", "config.json")
	require.ErrorIs(t, err, ErrNotCached)
	require.ErrorContains(t, err, "HTTP 503")

	// Retries run out.
	c.Retries = 2
	h.fail, h.failMethod = 10, "GET"
	h.files["other.safetensors"] = &fakeFile{content: randomBytes(1000, 9), lfs: true}
	_, err = c.Download(ctx, repo, "main", "other.safetensors")
	require.ErrorContains(t, err, "giving up after 3 attempts")
}

func TestClientWithoutCacheDir(t *testing.T) {
	c := &Client{}
	_, err := c.Download(context.Background(), repo, "main", "config.json")
	require.ErrorContains(t, err, "CacheDir is empty")
	_, err = c.Snapshot(context.Background(), repo, "main", nil)
	require.ErrorContains(t, err, "CacheDir is empty")
}

func TestExpiredCDNLinkRefreshed(t *testing.T) {
	h := newFakeHub(t, repo, standardRepo())
	h.expireNext = 1
	c := newTestClient(t, h)
	p, err := c.Download(context.Background(), repo, "main", "model.safetensors")
	require.NoError(t, err)
	got, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Equal(t, h.files["model.safetensors"].content, got)
	require.Equal(t, 2, h.count("GET", "/cdn/"))
	require.Equal(t, 2, h.count("HEAD", "/Org/"), "the retry asked the Hub for a fresh link")

	// A 403 from the Hub itself is an answer, not a passing failure.
	h.token = "secret"
	h.reset()
	_, err = c.Download(context.Background(), repo, "main", "tokenizer.json")
	require.ErrorIs(t, err, ErrUnauthorized)
	require.Equal(t, 1, len(h.requests()))
}

// TestStalledDownloads covers servers that stop sending: a body that stalls
// is resumed with a Range request, one that keeps stalling ends in a clear
// error, a Hub that never answers falls back to the cache, and a transfer
// that never stalls but never ends either stops at Client.Timeout. Each
// finishes within seconds; before IdleTimeout, a stalled body hung forever.
func TestStalledDownloads(t *testing.T) {
	content := standardRepo()["model.safetensors"].content
	const idle = 150 * time.Millisecond
	t.Run("resumed after a stall", func(t *testing.T) {
		h := newFakeHub(t, repo, standardRepo())
		h.stallAfter, h.stalls = 10_000, 1
		c := newTestClient(t, h)
		c.IdleTimeout = idle
		start := time.Now()
		p, err := c.Download(context.Background(), repo, "main", "model.safetensors")
		require.NoError(t, err)
		require.Less(t, time.Since(start), 5*time.Second)
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Equal(t, content, got)
		var ranges []string
		for _, r := range h.requests() {
			if strings.HasPrefix(r.Path, "/cdn/") {
				ranges = append(ranges, r.Range)
			}
		}
		require.Equal(t, []string{"", "bytes=10000-"}, ranges)
	})
	t.Run("always stalls", func(t *testing.T) {
		h := newFakeHub(t, repo, standardRepo())
		h.stallAfter, h.stalls = 1000, 1000
		c := newTestClient(t, h)
		c.IdleTimeout, c.Retries = idle, 2
		start := time.Now()
		_, err := c.Download(context.Background(), repo, "main", "model.safetensors")
		require.ErrorIs(t, err, ErrStalled)
		require.ErrorContains(t, err, "giving up after 3 attempts")
		require.ErrorContains(t, err, "no data for 150ms")
		require.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("hub never answers", func(t *testing.T) {
		h := newFakeHub(t, repo, standardRepo())
		h.stallHead = time.Minute
		c := newTestClient(t, h)
		c.IdleTimeout = idle
		start := time.Now()
		_, err := c.Download(context.Background(), repo, "main", "config.json")
		require.ErrorIs(t, err, ErrStalled)
		require.ErrorIs(t, err, ErrNotCached)
		pythonCache(t, c.CacheDir, h.commit, map[string]*fakeFile{"config.json": h.files["config.json"]})
		p, err := c.Download(context.Background(), repo, "main", "config.json")
		require.NoError(t, err, "a stalled Hub is an unreachable one: the cache answers")
		require.FileExists(t, p)
		require.Less(t, time.Since(start), 5*time.Second)
	})
	t.Run("overall deadline", func(t *testing.T) {
		h := newFakeHub(t, repo, standardRepo())
		h.trickle = 10 * time.Millisecond
		c := newTestClient(t, h)
		c.IdleTimeout, c.Timeout = idle, 300*time.Millisecond
		start := time.Now()
		_, err := c.Download(context.Background(), repo, "main", "model.safetensors")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Less(t, time.Since(start), 5*time.Second)
	})
}
