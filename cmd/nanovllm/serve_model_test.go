package main

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// gitBlobID is git's object id of a file: the SHA-1 of "blob <size>\0" and
// the content (what `git hash-object` prints).
func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func serveModelHandler(t *testing.T, root, model string) *httptest.Server {
	t.Helper()
	h, err := newServeHandlerOpts(serveOptions{root: root, model: model, listen: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func getTree(t *testing.T, url string) map[string]treeEntry {
	t.Helper()
	code, hdr, body := request(t, "GET", url, "", nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	var list []treeEntry
	require.NoError(t, json.Unmarshal(body, &list))
	out := map[string]treeEntry{}
	for _, e := range list {
		out[e.Path] = e
	}
	return out
}

// TestServeModel: --model's directory at /model/: the files with their
// MIME types, Range and HEAD; the file list with each file's size and
// SHA-256 (against crypto/sha256 over the same bytes); index.html naming
// /model/ for the page; dotfiles and links out of the directory hidden.
func TestServeModel(t *testing.T) {
	base := t.TempDir()
	root, model := filepath.Join(base, "repo"), filepath.Join(base, "model")
	weights := "\x08\x00\x00\x00\x00\x00\x00\x00{}      0123456789"
	writeTree(t, base, map[string]string{
		"secret.txt":              "outside",
		"repo/index.html":         "<!doctype html><html><head><title>page</title></head><body></body></html>",
		"model/config.json":       `{"model_type":"qwen3"}`,
		"model/model.safetensors": weights,
		"model/.env":              "hidden",
	})
	require.NoError(t, os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(model, "tokenizer.json")))
	srv := serveModelHandler(t, root, model)

	tree := getTree(t, srv.URL+"/model/")
	require.Len(t, tree, 2, "config.json and model.safetensors; no dotfile, no link out of the directory: %v", tree)
	for name, content := range map[string]string{"config.json": `{"model_type":"qwen3"}`, "model.safetensors": weights} {
		e := tree[name]
		require.Equal(t, "file", e.Type)
		require.Equal(t, int64(len(content)), e.Size)
		require.NotNil(t, e.LFS, name)
		require.Equal(t, sha256Hex([]byte(content)), e.LFS.OID, name)
		require.Equal(t, int64(len(content)), e.LFS.Size)
	}

	code, hdr, body := request(t, "GET", srv.URL+"/model/model.safetensors", "", map[string]string{"Range": "bytes=16-19"})
	require.Equal(t, http.StatusPartialContent, code)
	require.Equal(t, "0123", string(body))
	require.Equal(t, fmt.Sprintf("bytes 16-19/%d", len(weights)), hdr.Get("Content-Range"))
	require.Equal(t, "application/octet-stream", hdr.Get("Content-Type"))
	code, hdr, body = request(t, "HEAD", srv.URL+"/model/model.safetensors", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, body)
	require.Equal(t, fmt.Sprint(len(weights)), hdr.Get("Content-Length"))
	require.Equal(t, "bytes", hdr.Get("Accept-Ranges"))
	code, hdr, _ = request(t, "GET", srv.URL+"/model/config.json", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	for _, p := range []string{"/model/.env", "/model/tokenizer.json", "/model/../secret.txt"} {
		code, _, _ = request(t, "GET", srv.URL+p, "", nil)
		require.Equal(t, http.StatusNotFound, code, p)
	}

	for _, p := range []string{"/", "/index.html"} {
		code, hdr, body = request(t, "GET", srv.URL+p, "", nil)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "text/html; charset=utf-8", hdr.Get("Content-Type"))
		require.Contains(t, string(body), `<head>`+"\n"+`<meta name="nanovllm-default-model" content="/model/"><title>page</title>`)
	}
	require.Equal(t, "<html><head><meta charset=\"utf-8\">\n<meta name=\"m\" content=\"v\"><title>t</title>",
		string(injectMeta([]byte(`<html><head><meta charset="utf-8"><title>t</title>`), `<meta name="m" content="v">`)),
		"after the charset, which must come first")
	// Another Host (DNS rebinding) gets nothing, the list included.
	code, _, _ = request(t, "GET", srv.URL+"/model/", "", map[string]string{"Host": "evil.example"})
	require.Equal(t, http.StatusMisdirectedRequest, code)
	// Without --model the page is served as it is, and there is no /model/.
	plain := httptest.NewServer(newServeHandler(root, nil))
	defer plain.Close()
	_, _, body = request(t, "GET", plain.URL+"/", "", nil)
	require.NotContains(t, string(body), "nanovllm-default-model")
	code, _, _ = request(t, "GET", plain.URL+"/model/", "", nil)
	require.Equal(t, http.StatusNotFound, code)
}

// TestServeModelHFCache: a snapshot in the Hugging Face cache links its
// files to blobs named by their hashes (git blob ids for small files,
// SHA-256 for LFS files): the list takes the hashes from the names.
func TestServeModelHFCache(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "repo")
	writeTree(t, root, map[string]string{"index.html": "<html><head></head></html>"})
	repo := filepath.Join(base, "hub", "models--Org--Tiny")
	snap := filepath.Join(repo, "snapshots", "0123456789abcdef0123456789abcdef01234567")
	require.NoError(t, os.MkdirAll(snap, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "blobs"), 0o755))
	config := []byte(`{"model_type":"qwen3"}`)
	weights := []byte("weights, stored in LFS")
	for name, blob := range map[string]struct {
		id   string
		data []byte
	}{"config.json": {gitBlobID(config), config}, "model.safetensors": {sha256Hex(weights), weights}} {
		require.NoError(t, os.WriteFile(filepath.Join(repo, "blobs", blob.id), blob.data, 0o644))
		require.NoError(t, os.Symlink(filepath.Join("..", "..", "blobs", blob.id), filepath.Join(snap, name)))
	}
	srv := serveModelHandler(t, root, snap)
	tree := getTree(t, srv.URL+"/model/")
	require.Equal(t, treeEntry{Type: "file", Path: "config.json", Size: int64(len(config)), OID: gitBlobID(config)}, tree["config.json"])
	require.Equal(t, treeEntry{Type: "file", Path: "model.safetensors", Size: int64(len(weights)),
		LFS: &lfsInfo{OID: sha256Hex(weights), Size: int64(len(weights))}}, tree["model.safetensors"])
	_, _, body := request(t, "GET", srv.URL+"/model/model.safetensors", "", nil)
	require.Equal(t, string(weights), string(body))
}

// TestRunServeModel: serve --model DIR --port N serves the page with the
// model named in it, the model's files, and the API, on that port.
func TestRunServeModel(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "<html><head></head></html>"})
	model := filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	url, stdout := startServe(t, "--root", root, "--model", model, "--port", fmt.Sprint(port))
	require.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/", port), url)
	require.Contains(t, stdout.String(), "The page loads")
	_, _, page := request(t, "GET", url, "", nil)
	require.Contains(t, string(page), `content="/model/"`)
	tree := getTree(t, url+"model/")
	data, err := os.ReadFile(filepath.Join(model, "model.safetensors"))
	require.NoError(t, err)
	require.Equal(t, sha256Hex(data), tree["model.safetensors"].LFS.OID)
	code, _, body := request(t, "GET", url+"v1/models", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.True(t, strings.Contains(string(body), "qwen3-tiny-vocab"), string(body))

	var stderr strings.Builder
	err = runServe(t.Context(), []string{"--root", root, "--port", "70000"}, &strings.Builder{}, &stderr)
	require.ErrorContains(t, err, "--port 70000")
}

// TestServeModelGGUF: --model FILE.gguf serves that file alone at /model/
// (the list has its one entry with its SHA-256; the directory's other
// files are not reachable), and the page is told to load /model/FILE.gguf.
func TestServeModelGGUF(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "repo")
	weights := "GGUF the Q8_0 file"
	writeTree(t, base, map[string]string{
		"repo/index.html":          "<html><head></head></html>",
		"models/tiny Q8_0.gguf":    weights,
		"models/other-Q4_0.gguf":   "GGUF another",
		"models/config.json":       "{}",
		"models/notes.txt":         "private",
		"models/.hidden-Q8_0.gguf": "GGUF hidden",
	})
	srv := serveModelHandler(t, root, filepath.Join(base, "models", "tiny Q8_0.gguf"))
	tree := getTree(t, srv.URL+"/model/")
	require.Equal(t, map[string]treeEntry{"tiny Q8_0.gguf": {Type: "file", Path: "tiny Q8_0.gguf", Size: int64(len(weights)),
		LFS: &lfsInfo{OID: sha256Hex([]byte(weights)), Size: int64(len(weights))}}}, tree)
	code, _, body := request(t, "GET", srv.URL+"/model/tiny%20Q8_0.gguf", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, weights, string(body))
	for _, p := range []string{"/model/other-Q4_0.gguf", "/model/config.json", "/model/notes.txt", "/model/.hidden-Q8_0.gguf"} {
		code, _, _ := request(t, "GET", srv.URL+p, "", nil)
		require.Equal(t, http.StatusNotFound, code, p)
	}
	_, _, page := request(t, "GET", srv.URL+"/", "", nil)
	require.Contains(t, string(page), `<meta name="nanovllm-default-model" content="/model/tiny%20Q8_0.gguf">`)

	for _, bad := range []string{"models/notes.txt", "models/.hidden-Q8_0.gguf"} {
		_, err := newServeHandlerOpts(serveOptions{root: root, model: filepath.Join(base, bad), listen: net.IPv4(127, 0, 0, 1)})
		require.Error(t, err, bad)
	}
}

// TestRunServeModelGGUF: serve --model FILE.gguf serves the file to the page
// (which is told to load it) and behind the API.
func TestRunServeModelGGUF(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{"index.html": "<html><head></head></html>"})
	model := filepath.Join(repoRoot, "testdata", "gguf", "qwen3-tiny-vocab", "qwen3-tiny-vocab-q8_0.gguf")
	url, _ := startServe(t, "--root", root, "--model", model)
	_, _, page := request(t, "GET", url, "", nil)
	require.Contains(t, string(page), `content="/model/qwen3-tiny-vocab-q8_0.gguf"`)
	tree := getTree(t, url+"model/")
	require.Len(t, tree, 1, "the GGUF alone: %v", tree)
	data, err := os.ReadFile(model)
	require.NoError(t, err)
	require.Equal(t, sha256Hex(data), tree["qwen3-tiny-vocab-q8_0.gguf"].LFS.OID)
	code, _, _ := request(t, "GET", url+"model/llamacpp_reference.json", "", nil)
	require.Equal(t, http.StatusNotFound, code, "the file's neighbours stay private")
	code, _, body := request(t, "GET", url+"v1/models", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "qwen3-tiny-vocab-q8_0")
}
