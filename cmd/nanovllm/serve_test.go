package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeTree creates files (path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

func TestServeHandler(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "repo")
	model := filepath.Join(base, "model")
	writeTree(t, base, map[string]string{
		"secret.txt":                    "outside the root",
		"repo/index.html":               "<!doctype html><title>page</title>",
		"repo/web/nanovllm.wasm":        "\x00asm\x01\x00\x00\x00",
		"repo/web/nanovllm.js":          "export const x = 1;",
		"repo/web/style.css":            "body{}",
		"repo/web/.hidden.js":           "outside the root: a dotfile",
		"repo/docs/index.html":          "outside the root: docs are not the page",
		"repo/go.mod":                   "outside the root: module",
		"repo/.git/config":              "outside the root: git",
		"repo/.env":                     "outside the root: env",
		"model/config.json":             `{"model_type":"qwen3"}`,
		"model/model.safetensors":       "\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
		"model/sub/notes.txt":           "nested",
		"model/.cache/secret":           "outside the root: a dot dir in the model",
		"repo/testdata/shared/tok.json": `{"tok":1}`,
	})
	// A link inside the model directory stays inside: followed.
	require.NoError(t, os.Symlink("config.json", filepath.Join(model, "alias.json")))
	// Links leading out of it are not, whatever they point at.
	require.NoError(t, os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(model, "tokenizer.json")))
	require.NoError(t, os.Symlink("../secret.txt", filepath.Join(model, "relative.txt")))
	require.NoError(t, os.Symlink(base, filepath.Join(model, "up")))

	srv := httptest.NewServer(newServeHandler(root, map[string]string{"local": model}))
	defer srv.Close()

	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType           string // exact Content-Type, "" = don't care
		wantBody           string // exact body, "" = don't care
	}{
		{"index at root", "GET", "/", 200, "text/html; charset=utf-8", "<!doctype html><title>page</title>"},
		{"wasm mime", "GET", "/web/nanovllm.wasm", 200, "application/wasm", "\x00asm\x01\x00\x00\x00"},
		{"js module mime", "GET", "/web/nanovllm.js", 200, "text/javascript; charset=utf-8", "export const x = 1;"},
		{"css mime", "GET", "/web/style.css", 200, "text/css; charset=utf-8", "body{}"},
		{"head has no body", "HEAD", "/web/nanovllm.js", 200, "text/javascript; charset=utf-8", ""},
		{"no listing without index", "GET", "/web/", 404, "", ""},
		{"only the page is served", "GET", "/docs/", 404, "", ""},
		{"not the module", "GET", "/go.mod", 404, "", ""},
		{"no .git", "GET", "/.git/config", 404, "", ""},
		{"no dotfile", "GET", "/.env", 404, "", ""},
		{"no dotfile in web", "GET", "/web/.hidden.js", 404, "", ""},
		{"no encoded dotfile", "GET", "/web/%2ehidden.js", 404, "", ""},
		{"missing file", "GET", "/nope.js", 404, "", ""},
		{"dotdot cleaned to root", "GET", "/../secret.txt", 404, "", ""},
		{"encoded dotdot", "GET", "/%2e%2e/secret.txt", 404, "", ""},
		{"encoded slash dotdot", "GET", "/web/..%2f..%2fsecret.txt", 404, "", ""},
		{"backslash dotdot", "GET", "/..\\secret.txt", 404, "", ""},
		{"post refused", "POST", "/index.html", 405, "", ""},
		{"model config", "GET", "/models/local/config.json", 200, "application/json", `{"model_type":"qwen3"}`},
		{"model weights", "GET", "/models/local/model.safetensors", 200, "application/octet-stream", ""},
		{"model link inside", "GET", "/models/local/alias.json", 200, "application/json", `{"model_type":"qwen3"}`},
		{"model link outside", "GET", "/models/local/tokenizer.json", 404, "", ""},
		{"model relative link outside", "GET", "/models/local/relative.txt", 404, "", ""},
		{"model dir link outside", "GET", "/models/local/up/secret.txt", 404, "", ""},
		{"model nested", "GET", "/models/local/sub/notes.txt", 200, "text/plain; charset=utf-8", "nested"},
		{"model dot dir", "GET", "/models/local/.cache/secret", 404, "", ""},
		{"model dir not listed", "GET", "/models/local/", 404, "", ""},
		{"model escape", "GET", "/models/local/../../secret.txt", 404, "", ""},
		{"model encoded escape", "GET", "/models/local/%2e%2e/%2e%2e/secret.txt", 404, "", ""},
		{"unknown model", "GET", "/models/other/config.json", 404, "", ""},
		{"preflight answered", "OPTIONS", "/models/local/config.json", 204, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Build the request by hand so the client does not clean the path.
			req, err := http.NewRequest(tt.method, srv.URL, nil)
			require.NoError(t, err)
			req.URL.Opaque = tt.path
			req.Header.Set("Origin", "https://elsewhere.example")
			// Redirects (the mux cleans "/a/../b") are followed: wherever
			// they lead must still be inside the served directories.
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, resp.StatusCode, "body: %s", body)
			require.NotContains(t, string(body), "outside the root")
			if tt.wantType != "" {
				require.Equal(t, tt.wantType, resp.Header.Get("Content-Type"))
			}
			if tt.wantBody != "" {
				require.Equal(t, tt.wantBody, string(body))
			}
			if tt.method == "HEAD" {
				require.Empty(t, body)
			}
			if tt.wantStatus == 200 {
				require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
			}
			// No origin was allowed: no page elsewhere may read anything.
			require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		})
	}
}

// TestServeModelLinks covers where a model directory's symbolic links may
// lead: into the Hugging Face cache folder the directory is a snapshot of,
// or into --root when the directory is inside it (the fixtures share a
// tokenizer that way), but never to a name starting with '.'.
func TestServeModelLinks(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "repo")
	repoDir := filepath.Join(base, "hub", "models--Org--Name")
	snap := filepath.Join(repoDir, "snapshots", "abc123")
	writeTree(t, base, map[string]string{
		"secret.txt":                             "outside the root",
		"repo/index.html":                        "page",
		"repo/testdata/shared/tokenizer.json":    `{"shared":1}`,
		"repo/testdata/tiny/config.json":         "{}",
		"repo/.git/config":                       "outside the root: git",
		"hub/models--Org--Name/blobs/e1":         `{"blob":1}`,
		"hub/models--Org--Name/snapshots/x/a":    "another snapshot",
		"hub/models--Org--Name/.no_exist/x/zz":   "outside the root: cache metadata",
		"hub/models--Other--Model/blobs/e2":      "outside the root: another repo",
		"hub/models--Org--Name/snapshots/abc123": "",
	})
	require.NoError(t, os.Remove(snap))
	require.NoError(t, os.MkdirAll(snap, 0o755))
	link := func(target, name string) { require.NoError(t, os.Symlink(target, name)) }
	fixture := filepath.Join(root, "testdata", "tiny")
	link("../shared/tokenizer.json", filepath.Join(fixture, "tokenizer.json"))
	link("../../.git/config", filepath.Join(fixture, "git.json"))
	link("../../../secret.txt", filepath.Join(fixture, "secret.json"))
	link("../../blobs/e1", filepath.Join(snap, "config.json"))
	link("../x/a", filepath.Join(snap, "other.txt"))
	link("../../.no_exist/x/zz", filepath.Join(snap, "hidden.txt"))
	link("../../../models--Other--Model/blobs/e2", filepath.Join(snap, "foreign.json"))
	link("../../../../secret.txt", filepath.Join(snap, "secret.json"))

	srv := httptest.NewServer(newServeHandler(root, map[string]string{"fixture": fixture, "cached": snap}))
	defer srv.Close()
	for path, want := range map[string]string{
		"/models/fixture/tokenizer.json": `{"shared":1}`,
		"/models/fixture/config.json":    "{}",
		"/models/fixture/git.json":       "",
		"/models/fixture/secret.json":    "",
		"/models/cached/config.json":     `{"blob":1}`,
		"/models/cached/other.txt":       "another snapshot",
		"/models/cached/hidden.txt":      "",
		"/models/cached/foreign.json":    "",
		"/models/cached/secret.json":     "",
	} {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		if want == "" {
			require.Equal(t, http.StatusNotFound, resp.StatusCode, path)
			require.NotContains(t, string(body), "outside the root", path)
			continue
		}
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Equal(t, want, string(body), path)
	}
}

// TestServeHostCheck: a page on another site whose host name was pointed
// at this machine (DNS rebinding) sends its own name as Host, and must get
// nothing; the names of this machine's addresses work.
func TestServeHostCheck(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "page"})
	for _, tc := range []struct {
		name   string
		opts   serveOptions
		host   string
		status int
	}{
		{"loopback address", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "127.0.0.1:8080", 200},
		{"other loopback", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "127.0.0.2", 200},
		{"ipv6 loopback", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "[::1]:8080", 200},
		{"localhost", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "localhost:8080", 200},
		{"localhost with dot", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "LocalHost.:8080", 200},
		{"sub.localhost", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "app.localhost:8080", 200},
		{"rebound name", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "attacker.example:8080", 421},
		{"rebound name without port", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "attacker.example", 421},
		{"localhost lookalike", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "localhost.attacker.example", 421},
		{"lan address not listened on", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "192.168.1.5:8080", 421},
		{"lan address listened on", serveOptions{listen: net.IPv4(192, 168, 1, 5)}, "192.168.1.5:8080", 200},
		{"any address when listening on all", serveOptions{listen: net.IPv4zero}, "10.1.2.3:8080", 200},
		{"names still checked on all", serveOptions{listen: net.IPv4zero}, "attacker.example", 421},
		{"allowed name", serveOptions{listen: net.IPv4zero, hosts: []string{"box.lan"}}, "box.lan:8080", 200},
		{"allowed name, other case", serveOptions{listen: net.IPv4zero, hosts: []string{"box.lan"}}, "BOX.LAN", 200},
		{"empty host", serveOptions{listen: net.IPv4(127, 0, 0, 1)}, "", 421},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.root = root
			h, err := newServeHandlerOpts(tc.opts)
			require.NoError(t, err)
			req := httptest.NewRequest("GET", "/", nil)
			req.Host = tc.host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.status == 421 {
				require.Contains(t, rec.Body.String(), "--allowed-host")
				require.NotContains(t, rec.Body.String(), "page")
			}
		})
	}
}

// TestServeCORS: model files are readable cross-origin only by the origins
// given with --allow-origin, which also get their preflights answered; the
// page's own files never are.
func TestServeCORS(t *testing.T) {
	root, model := t.TempDir(), t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "page", "web/app.js": "x"})
	writeTree(t, model, map[string]string{"config.json": "{}"})
	serve := func(origins ...string) http.Handler {
		h, err := newServeHandlerOpts(serveOptions{root: root, models: map[string]string{"m": model},
			listen: net.IPv4(127, 0, 0, 1), origins: origins})
		require.NoError(t, err)
		return h
	}
	do := func(h http.Handler, method, path, origin string, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.Host = "127.0.0.1:8080"
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	preflight := map[string]string{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"}
	for _, tc := range []struct {
		name                 string
		origins              []string
		method, path, origin string
		hdr                  map[string]string
		status               int
		allow, methods       string
	}{
		{"default: same origin needs nothing", nil, "GET", "/models/m/config.json", "", nil, 200, "", ""},
		{"default: other origin gets no permission", nil, "GET", "/models/m/config.json", "https://a.example", nil, 200, "", ""},
		{"allowed origin", []string{"https://a.example"}, "GET", "/models/m/config.json", "https://a.example", nil, 200, "https://a.example", ""},
		{"other origin", []string{"https://a.example"}, "GET", "/models/m/config.json", "https://b.example", nil, 200, "", ""},
		{"any origin", []string{"*"}, "GET", "/models/m/config.json", "https://b.example", nil, 200, "*", ""},
		{"page files never", []string{"*"}, "GET", "/web/app.js", "https://b.example", nil, 200, "", ""},
		{"preflight of an allowed origin", []string{"https://a.example"}, "OPTIONS", "/models/m/config.json", "https://a.example", preflight, 204, "https://a.example", "GET, HEAD"},
		{"preflight of another origin", []string{"https://a.example"}, "OPTIONS", "/models/m/config.json", "https://b.example", preflight, 204, "", ""},
		{"preflight for a POST", []string{"*"}, "OPTIONS", "/models/m/config.json", "https://b.example",
			map[string]string{"Access-Control-Request-Method": "POST"}, 204, "*", ""},
		{"preflight with another header", []string{"*"}, "OPTIONS", "/models/m/config.json", "https://b.example",
			map[string]string{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-evil"}, 204, "*", ""},
		{"preflight of the page", []string{"*"}, "OPTIONS", "/", "https://b.example", preflight, 204, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(serve(tc.origins...), tc.method, tc.path, tc.origin, tc.hdr)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.Equal(t, tc.allow, rec.Header().Get("Access-Control-Allow-Origin"))
			require.Equal(t, tc.methods, rec.Header().Get("Access-Control-Allow-Methods"))
			if tc.methods != "" {
				require.Equal(t, "Range", rec.Header().Get("Access-Control-Allow-Headers"))
			}
			if tc.method == "OPTIONS" {
				require.Equal(t, "GET, HEAD, OPTIONS", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestServeHandlerRange(t *testing.T) {
	// The page may fetch a safetensors header with a Range request.
	root, model := t.TempDir(), t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "x"})
	writeTree(t, model, map[string]string{"w.safetensors": "0123456789"})
	srv := httptest.NewServer(newServeHandler(root, map[string]string{"m": model}))
	defer srv.Close()
	req, err := http.NewRequest("GET", srv.URL+"/models/m/w.safetensors", nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=2-5")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, "2345", string(body))
}

// syncBuffer is a bytes.Buffer safe for one writer and one poller.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunServe(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "hello page"})
	model := t.TempDir()
	writeTree(t, model, map[string]string{"config.json": "{}"})

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--addr", "127.0.0.1:0", "--root", root, "--model-dir", model}, &stdout, &stderr)
	}()

	urlRE := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	var url string
	require.Eventually(t, func() bool {
		url = urlRE.FindString(stdout.String())
		return url != ""
	}, 5*time.Second, 10*time.Millisecond, "no URL printed; stdout: %q", stdout.String())
	require.Contains(t, stderr.String(), "make wasm", "missing wasm must be warned about")

	for path, want := range map[string]string{"": "hello page", "models/local/config.json": "{}"} {
		resp, err := http.Get(url + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, want, string(body))
	}

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop after cancellation")
	}
}

func TestRunServeErrors(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "x", "web/nanovllm.wasm": "w", "file": "f"})
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"missing root", []string{"--root", filepath.Join(root, "nope")}, "--root"},
		{"root is a file", []string{"--root", filepath.Join(root, "file")}, "not a directory"},
		{"root without page", []string{"--root", filepath.Join(root, "web")}, "no index.html"},
		{"missing model dir", []string{"--root", root, "--model-dir", filepath.Join(root, "nope")}, "--model-dir"},
		{"bad model name", []string{"--root", root, "--model-dir", root, "--model-name", "../x"}, "--model-name"},
		{"dot model name", []string{"--root", root, "--model-dir", root, "--model-name", ".git"}, "--model-name"},
		{"bad allowed host", []string{"--root", root, "--allowed-host", "http://x/"}, "--allowed-host"},
		{"bad origin", []string{"--root", root, "--allow-origin", "https://a.example/path"}, "--allow-origin"},
		{"bad addr", []string{"--root", root, "--addr", "256.0.0.1:99999"}, "listen"},
		{"extra argument", []string{"--root", root, "extra"}, "usage"},
		{"unknown flag", []string{"--bogus"}, "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runServe(context.Background(), tt.args, &stdout, &stderr)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
			require.False(t, strings.Contains(stdout.String(), "Serving"), "must not claim to serve")
		})
	}
}
