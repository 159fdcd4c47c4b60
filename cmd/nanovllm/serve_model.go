package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// servedModelPath is where serve --model puts the model's files for the
// page: /model/<file>, with the file list at /model/ itself.
const servedModelPath = "/model/"

// defaultModelMeta is the <meta> name the page's library reads
// (defaultModel() in web/nanovllm.js) to know which model to load.
const defaultModelMeta = "nanovllm-default-model"

// treeEntry is one file of a model's file list, in the shape of the
// Hugging Face Hub's tree API (GET /api/models/{repo}/tree/{revision}), so
// the page checks files from serve and from the Hub with the same code.
// Every file carries lfs.oid, the SHA-256 of its content; files the
// Hugging Face cache stores under their git blob id carry that as oid
// instead.
type treeEntry struct {
	Type string   `json:"type"`
	Path string   `json:"path"`
	Size int64    `json:"size"`
	OID  string   `json:"oid,omitempty"`
	LFS  *lfsInfo `json:"lfs,omitempty"`
}

// lfsInfo is the tree API's lfs object: the content's SHA-256 and size.
type lfsInfo struct {
	OID  string `json:"oid"`
	Size int64  `json:"size"`
}

// modelFiles serves one model directory at /model/: its files (with Range
// and HEAD, through http.ServeContent) and, at /model/ itself, their list
// with hashes. Hashes are computed once per file version (path, size,
// modification time) and remembered; in a Hugging Face cache snapshot they
// are read from the blob names instead, which are the hashes.
type modelFiles struct {
	fsys  *confinedFS
	files http.Handler
	// blobs is the snapshot's blobs directory when dir is a Hugging
	// Face cache snapshot, else "".
	blobs string
	// only is the one file served when --model is a GGUF file (its
	// directory's other files stay private), else "".
	only string

	mu     sync.Mutex
	hashes map[string]fileHash // by path, for the version in fileHash
}

type fileHash struct {
	size   int64
	mod    time.Time
	sha256 string
}

// newModelFiles serves dir, confined like --model-dir (serveRoot). When dir
// is a GGUF file instead, it serves that file alone: the list at /model/
// has that one entry, and the page loads /model/<file> (pagePath).
func newModelFiles(dir, root string) (*modelFiles, error) {
	only := ""
	if st, err := os.Stat(dir); err == nil && st.Mode().IsRegular() {
		if !isGGUFPath(dir) {
			return nil, fmt.Errorf("%s is a file but not a .gguf file: give a model directory or a GGUF file", dir)
		}
		dir, only = filepath.Dir(dir), filepath.Base(dir)
		if strings.HasPrefix(only, ".") {
			return nil, fmt.Errorf("%s: a file name starting with '.' is never served", only)
		}
	}
	base, prefix, err := serveRoot(dir, root)
	if err != nil {
		return nil, err
	}
	fsys, err := newConfinedFS(base, prefix)
	if err != nil {
		return nil, err
	}
	m := &modelFiles{fsys: fsys, hashes: map[string]fileHash{}, only: only}
	if filepath.Base(filepath.Dir(prefix)) == "snapshots" {
		m.blobs = filepath.Join(base, "blobs")
	}
	m.files = fileHandler(fsys, false)
	return m, nil
}

// pagePath is what the page loads: the folder /model/, or the GGUF file in
// it.
func (m *modelFiles) pagePath() string {
	if m.only == "" {
		return servedModelPath
	}
	return servedModelPath + url.PathEscape(m.only)
}

func (m *modelFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "" && r.URL.Path != "/" {
		if m.only != "" && strings.TrimPrefix(r.URL.Path, "/") != m.only {
			http.NotFound(w, r)
			return
		}
		m.files.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		m.files.ServeHTTP(w, r) // the 405
		return
	}
	tree, err := m.tree()
	if err != nil {
		http.Error(w, fmt.Sprintf("listing the model: %v", err), http.StatusInternalServerError)
		return
	}
	data, err := json.Marshal(tree)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "tree.json", time.Time{}, bytes.NewReader(data))
}

// gitBlobName and sha256Name are the names of blobs in the Hugging Face
// cache: a regular file's git blob id, an LFS file's SHA-256.
var (
	gitBlobName = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256Name  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// tree lists the model directory's regular files (top level, no
// dotfiles) with their sizes and hashes.
func (m *modelFiles) tree() ([]treeEntry, error) {
	entries, err := fs.ReadDir(m.fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []treeEntry
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || (m.only != "" && name != m.only) {
			continue
		}
		st, err := fs.Stat(m.fsys, name) // follows links, within the confinement
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		te := treeEntry{Type: "file", Path: name, Size: st.Size()}
		if blob := m.blobName(name); gitBlobName.MatchString(blob) {
			te.OID = blob
		} else if sha256Name.MatchString(blob) {
			te.LFS = &lfsInfo{OID: blob, Size: st.Size()}
		} else {
			sum, err := m.sha256(name, st)
			if err != nil {
				return nil, err
			}
			te.LFS = &lfsInfo{OID: sum, Size: st.Size()}
		}
		out = append(out, te)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// blobName is the name of the blob a Hugging Face cache snapshot's file
// links to, or "".
func (m *modelFiles) blobName(name string) string {
	if m.blobs == "" {
		return ""
	}
	real, err := filepath.EvalSymlinks(filepath.Join(m.fsys.base, filepath.FromSlash(m.fsys.prefix), name))
	if err != nil || filepath.Dir(real) != m.blobs {
		return ""
	}
	return filepath.Base(real)
}

// sha256 hashes a file, or returns the hash of the same version computed
// before.
func (m *modelFiles) sha256(name string, st fs.FileInfo) (string, error) {
	m.mu.Lock()
	h, ok := m.hashes[name]
	m.mu.Unlock()
	if ok && h.size == st.Size() && h.mod.Equal(st.ModTime()) {
		return h.sha256, nil
	}
	f, err := m.fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	d := sha256.New()
	if _, err := io.Copy(d, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", name, err)
	}
	sum := hex.EncodeToString(d.Sum(nil))
	m.mu.Lock()
	m.hashes[name] = fileHash{size: st.Size(), mod: st.ModTime(), sha256: sum}
	m.mu.Unlock()
	return sum, nil
}

// pageWithDefaultModel serves index.html with a <meta> naming the model the
// page should load (defaultModel() in web/nanovllm.js), and passes every
// other request to next.
func pageWithDefaultModel(root fs.FS, model string, next http.Handler) http.Handler {
	meta := fmt.Sprintf(`<meta name="%s" content="%s">`, defaultModelMeta, html.EscapeString(model))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Path != "/" && r.URL.Path != "/index.html") || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		page, err := fs.ReadFile(root, "index.html")
		if err != nil {
			next.ServeHTTP(w, r) // the file server's 404
			return
		}
		w.Header().Set("Content-Type", contentTypes[".html"])
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(injectMeta(page, meta)))
	})
}

// injectMeta puts meta into an HTML page's head: after its <meta charset>
// (which must come first), else after <head ...>, else at the start.
func injectMeta(page []byte, meta string) []byte {
	lower := bytes.ToLower(page)
	at := 0
	for _, tag := range []string{"<meta charset", "<head"} {
		if i := bytes.Index(lower, []byte(tag)); i >= 0 {
			if j := bytes.IndexByte(page[i:], '>'); j >= 0 {
				at = i + j + 1
				break
			}
		}
	}
	out := make([]byte, 0, len(page)+len(meta)+1)
	out = append(out, page[:at]...)
	out = append(out, '\n')
	out = append(out, meta...)
	return append(out, page[at:]...)
}
