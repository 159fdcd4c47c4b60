package main

import (
	"bytes"
	"context"
	"io"
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
		"repo/docs/index.html":          "docs index",
		"model/config.json":             `{"model_type":"qwen3"}`,
		"model/model.safetensors":       "\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
		"model/sub/notes.txt":           "nested",
		"repo/testdata/shared/tok.json": `{"tok":1}`,
	})
	// A link inside the model dir, like the fixtures' shared tokenizer.
	require.NoError(t, os.Symlink(filepath.Join(root, "testdata", "shared", "tok.json"), filepath.Join(model, "tokenizer.json")))

	srv := httptest.NewServer(newServeHandler(root, map[string]string{"local": model}))
	defer srv.Close()

	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType           string // exact Content-Type, "" = don't care
		wantBody           string // exact body, "" = don't care
		wantCORS           bool
	}{
		{"index at root", "GET", "/", 200, "text/html; charset=utf-8", "<!doctype html><title>page</title>", false},
		{"wasm mime", "GET", "/web/nanovllm.wasm", 200, "application/wasm", "\x00asm\x01\x00\x00\x00", false},
		{"js module mime", "GET", "/web/nanovllm.js", 200, "text/javascript; charset=utf-8", "export const x = 1;", false},
		{"css mime", "GET", "/web/style.css", 200, "text/css; charset=utf-8", "body{}", false},
		{"head has no body", "HEAD", "/web/nanovllm.js", 200, "text/javascript; charset=utf-8", "", false},
		{"no listing without index", "GET", "/web/", 404, "", "", false},
		{"dir with index", "GET", "/docs/", 200, "", "docs index", false},
		{"missing file", "GET", "/nope.js", 404, "", "", false},
		{"dotdot cleaned to root", "GET", "/../secret.txt", 404, "", "", false},
		{"encoded dotdot", "GET", "/%2e%2e/secret.txt", 404, "", "", false},
		{"encoded slash dotdot", "GET", "/web/..%2f..%2fsecret.txt", 404, "", "", false},
		{"backslash dotdot", "GET", "/..\\secret.txt", 404, "", "", false},
		{"post refused", "POST", "/index.html", 405, "", "", false},
		{"model config", "GET", "/models/local/config.json", 200, "application/json", `{"model_type":"qwen3"}`, true},
		{"model weights", "GET", "/models/local/model.safetensors", 200, "application/octet-stream", "", true},
		{"model symlink followed", "GET", "/models/local/tokenizer.json", 200, "application/json", `{"tok":1}`, true},
		{"model nested", "GET", "/models/local/sub/notes.txt", 200, "text/plain; charset=utf-8", "nested", true},
		{"model dir not listed", "GET", "/models/local/", 404, "", "", true},
		{"model escape", "GET", "/models/local/../../secret.txt", 404, "", "", false},
		{"model encoded escape", "GET", "/models/local/%2e%2e/%2e%2e/secret.txt", 404, "", "", true},
		{"unknown model", "GET", "/models/other/config.json", 404, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Build the request by hand so the client does not clean the path.
			req, err := http.NewRequest(tt.method, srv.URL, nil)
			require.NoError(t, err)
			req.URL.Opaque = tt.path
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
				if tt.wantCORS {
					require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
				} else {
					require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
				}
			}
		})
	}
}

func TestServeHandlerRange(t *testing.T) {
	// The page may fetch a safetensors header with a Range request.
	root := t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "x", "w.safetensors": "0123456789"})
	srv := httptest.NewServer(newServeHandler(root, nil))
	defer srv.Close()
	req, err := http.NewRequest("GET", srv.URL+"/w.safetensors", nil)
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
