package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startServe runs `nanovllm serve` with args until the test ends and
// returns its base URL.
func startServe(t *testing.T, args ...string) (url string, stdout *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout = &syncBuffer{}
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not stop after cancellation")
		}
	})
	urlRE := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v; stderr: %s", err, stderr.String())
		default:
		}
		url = urlRE.FindString(stdout.String())
		return url != ""
	}, 30*time.Second, 10*time.Millisecond, "no URL printed; stdout: %q", stdout.String())
	return url, stdout
}

func request(t *testing.T, method, url, body string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, data
}

// TestServeAPI: serve --model answers OpenAI's API beside the page, with
// the key from NANOVLLM_API_KEY, behind the page's Host check, with CORS
// for --allow-origin; and it stops at once with a stream in flight.
func TestServeAPI(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "hello page"})
	t.Setenv(apiKeyEnv, "k3y")
	model := filepath.Join("..", "..", "testdata", "qwen3-tiny-vocab")
	url, stdout := startServe(t, "--root", root, "--model", model, "--served-model-name", "tiny", "--kv-cache-mib", "16",
		"--allow-origin", "https://chat.example")
	require.Contains(t, stdout.String(), url+"v1")
	auth := map[string]string{"Authorization": "Bearer k3y"}

	status, _, body := request(t, "GET", url, "", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "\n<meta name=\"nanovllm-default-model\" content=\"/model/\">hello page", string(body),
		"the page is still served, naming the model to load")

	status, _, body = request(t, "GET", url+"v1/models", "", auth)
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.Contains(t, string(body), `"id":"tiny"`)
	status, _, _ = request(t, "GET", url+"v1/models", "", nil)
	require.Equal(t, http.StatusUnauthorized, status)

	chat := `{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0}`
	status, _, body = request(t, "POST", url+"v1/chat/completions", chat, auth)
	require.Equal(t, http.StatusOK, status, "%s", body)
	var resp map[string]any
	require.NoError(t, json.Unmarshal(body, &resp))
	require.Equal(t, "chat.completion", resp["object"])

	for _, p := range []string{"health", "metrics"} {
		status, _, _ = request(t, "GET", url+p, "", nil)
		require.Equal(t, http.StatusOK, status, p)
	}
	status, _, _ = request(t, "GET", url+"v1/models", "", map[string]string{"Authorization": "Bearer k3y", "Host": "evil.example"})
	require.Equal(t, http.StatusMisdirectedRequest, status, "a rebound host name is refused")

	status, h, _ := request(t, "OPTIONS", url+"v1/chat/completions", "", map[string]string{"Origin": "https://chat.example",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os"})
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, "https://chat.example", h.Get("Access-Control-Allow-Origin"))
	require.Contains(t, h.Get("Access-Control-Allow-Headers"), "authorization")
	_, h, _ = request(t, "OPTIONS", url+"v1/chat/completions", "", map[string]string{"Origin": "https://other.example",
		"Access-Control-Request-Method": "POST"})
	require.Empty(t, h.Get("Access-Control-Allow-Origin"))

	// A long stream in flight when serve is stopped (by the cleanup) ends
	// with the stream's error event instead of holding the shutdown.
	req, err := http.NewRequest("POST", url+"v1/completions", strings.NewReader(`{"prompt": "a", "max_tokens": 400, "ignore_eos": true, "stream": true}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer k3y")
	stream, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, stream.StatusCode)
	first, err := bufio.NewReader(stream.Body).ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(first, "data: "), first)
	t.Cleanup(func() { stream.Body.Close() })
}

// TestServeAPIOnly: without index.html in --root, serve --model serves the
// API alone.
func TestServeAPIOnly(t *testing.T) {
	url, _ := startServe(t, "--root", t.TempDir(), "--model", filepath.Join("..", "..", "testdata", "qwen3-tiny"), "--kv-cache-mib", "4")
	status, _, body := request(t, "POST", url+"v1/completions", `{"prompt": [1, 2, 3], "max_tokens": 3, "return_token_ids": true}`, nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.Contains(t, string(body), `"token_ids":[`)
	status, _, _ = request(t, "GET", url, "", nil)
	require.Equal(t, http.StatusNotFound, status)
}

func TestServeAPIErrors(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "x", "web/nanovllm.wasm": "w"})
	model := filepath.Join("..", "..", "testdata", "qwen3-tiny")
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"api key without a model", []string{"--root", root, "--api-key", "k"}, "--api-key needs --model"},
		{"served name without a model", []string{"--root", root, "--served-model-name", "x"}, "--served-model-name needs --model"},
		{"bad reasoning parser", []string{"--root", root, "--model", model, "--reasoning-parser", "deepseek"}, "--reasoning-parser"},
		{"missing model", []string{"--root", root, "--model", filepath.Join(root, "nope", "model")}, "--model"},
		{"bad kv cache", []string{"--root", root, "--model", model, "--kv-cache-mib", "-1"}, "--kv-cache-mib"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HF_HUB_OFFLINE", "1")
			var stdout, stderr bytes.Buffer
			err := runServe(context.Background(), tt.args, &stdout, &stderr)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
			require.NotContains(t, stdout.String(), "Serving")
		})
	}
}
