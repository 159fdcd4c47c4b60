package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeHub speaks the Hugging Face Hub's URLs that the browser library uses,
// for repos of fixture files:
//
//	GET /api/models/{org}/{name}/tree/{rev}  the file list: size, git blob id, lfs {oid: sha256, size}
//	GET /{org}/{name}/resolve/{rev}/{file}   small files served, LFS files 302 to /cdn/...
//	GET /cdn/{org}/{name}/{file}             the LFS content, with Range (http.ServeContent)
//
// A repo named "gated" answers 401, unknown repos and revisions 404, as
// the Hub does. Faults are armed per file: cut (the next CDN GET sends that
// many bytes and drops the connection), corrupt (the CDN sends a byte
// changed), slow (the CDN trickles). It counts requests per path.
type fakeHub struct {
	t     *testing.T
	repos map[string]map[string][]byte // "org/name" -> file -> content

	mu       sync.Mutex
	requests map[string]int // "GET /path" -> count
	ranges   []string       // "file range" of every CDN request with a Range header
	cut      map[string]int64
	corrupt  map[string]bool
	slow     map[string]bool
}

// lfsFile says which files the fake stores in LFS, as the Hub's
// .gitattributes does for weights (.safetensors, .gguf) and the large
// tokenizer.json.
func lfsFile(name string) bool {
	return strings.HasSuffix(name, ".safetensors") || strings.HasSuffix(name, ".gguf") || name == "tokenizer.json"
}

// newFakeHub serves the fixture model directories under repo ids.
func newFakeHub(t *testing.T, repos map[string]string) *fakeHub {
	t.Helper()
	h := &fakeHub{t: t, repos: map[string]map[string][]byte{}, requests: map[string]int{},
		cut: map[string]int64{}, corrupt: map[string]bool{}, slow: map[string]bool{}}
	for repo, dir := range repos {
		files := map[string][]byte{}
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			if e.Name() == "reference.json" || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			require.NoError(t, err)
			files[e.Name()] = data
		}
		h.repos[repo] = files
	}
	return h
}

// count is how many requests the fake saw for "METHOD /path".
func (h *fakeHub) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests[key]
}

// weightGets counts GETs of a repo's file at the CDN or, for small files,
// at resolve: the downloads of its content.
func (h *fakeHub) weightGets(repo, file string) int {
	return h.count("GET /cdn/"+repo+"/"+file) + h.count("GET /"+repo+"/resolve/main/"+file)*boolInt(!lfsFile(file))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (h *fakeHub) arm(f func(h *fakeHub)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f(h)
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.requests[r.Method+" "+r.URL.Path]++
	h.mu.Unlock()
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "tree":
		h.tree(w, parts[2]+"/"+parts[3], parts[5])
	case len(parts) == 5 && parts[2] == "resolve":
		h.resolve(w, r, parts[0]+"/"+parts[1], parts[3], parts[4])
	case len(parts) == 4 && parts[0] == "cdn":
		h.cdn(w, r, parts[1]+"/"+parts[2], parts[3])
	default:
		http.NotFound(w, r)
	}
}

// repo answers for a repo id as the Hub does: 401 for a gated repo
// without a token, 404 for one that does not exist.
func (h *fakeHub) repo(w http.ResponseWriter, repo, rev string) map[string][]byte {
	if strings.HasSuffix(repo, "/gated") {
		w.Header().Set("X-Error-Code", "GatedRepo")
		http.Error(w, `{"error":"Access to model `+repo+` is restricted. You must have access to it and be authenticated to access it."}`, http.StatusUnauthorized)
		return nil
	}
	files, ok := h.repos[repo]
	if !ok || rev != "main" {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
		return nil
	}
	return files
}

func (h *fakeHub) tree(w http.ResponseWriter, repo, rev string) {
	files := h.repo(w, repo, rev)
	if files == nil {
		return
	}
	var list []treeEntry
	for name, data := range files {
		e := treeEntry{Type: "file", Path: name, Size: int64(len(data)), OID: gitBlobID(data)}
		if lfsFile(name) {
			// The Hub's oid of an LFS file is the pointer file's blob id.
			e.OID = gitBlobID([]byte("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256Hex(data) + "\n"))
			e.LFS = &lfsInfo{OID: sha256Hex(data), Size: int64(len(data))}
		}
		list = append(list, e)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(list)
}

func (h *fakeHub) resolve(w http.ResponseWriter, r *http.Request, repo, rev, name string) {
	files := h.repo(w, repo, rev)
	if files == nil {
		return
	}
	data, ok := files[name]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		http.Error(w, "Entry not found", http.StatusNotFound)
		return
	}
	if lfsFile(name) {
		http.Redirect(w, r, "/cdn/"+repo+"/"+name, http.StatusFound)
		return
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func (h *fakeHub) cdn(w http.ResponseWriter, r *http.Request, repo, name string) {
	data, ok := h.repos[repo][name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.mu.Lock()
	if rg := r.Header.Get("Range"); rg != "" {
		h.ranges = append(h.ranges, name+" "+rg)
	}
	cut := h.cut[name]
	delete(h.cut, name)
	corrupt, slow := h.corrupt[name], h.slow[name]
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/octet-stream")
	if corrupt {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0x40
	}
	switch {
	case cut > 0 && r.Header.Get("Range") == "":
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Header().Set("Accept-Ranges", "bytes")
		w.Write(data[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	case slow:
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		for off := 0; off < len(data); off += 4096 {
			if _, err := w.Write(data[off:min(off+4096, len(data))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	default:
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	}
}
