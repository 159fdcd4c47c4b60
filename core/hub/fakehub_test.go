package hub

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeFile is one file of the fake repository.
type fakeFile struct {
	content []byte
	lfs     bool   // served like an LFS file: redirect to the CDN, sha256 etag
	serve   []byte // bytes the CDN actually sends, when they should differ (corruption)
}

// request is what the fake Hub saw.
type request struct {
	Method, Path, Range, Auth string
}

// fakeHub speaks the subset of the Hub's HTTP interface huggingface_hub
// uses: HEAD/GET {repo}/resolve/{rev}/{file} with X-Repo-Commit, ETag,
// X-Linked-Etag and X-Linked-Size, LFS files redirected to a CDN path
// that honours Range, error codes in X-Error-Code, and the model API
// listing files.
type fakeHub struct {
	t      *testing.T
	repo   string
	commit string
	files  map[string]*fakeFile
	token  string // when set, requests must carry it
	// renamedFrom answers requests for an old repo name with a relative
	// redirect, as the Hub does after a rename.
	renamedFrom string

	mu       sync.Mutex
	log      []request
	cutAfter int64 // next CDN GET sends this many bytes, then drops the connection
	// expireNext makes the CDN refuse the next n GETs with 403, like an
	// expired signed link.
	expireNext int
	// ignoreRange makes the CDN answer every GET with the whole file (200).
	ignoreRange bool
	// stallAfter makes the next stalls CDN GETs send this many bytes and
	// then nothing, until the client gives up.
	stallAfter int64
	stalls     int
	// stallHead makes every HEAD wait this long before answering.
	stallHead time.Duration
	// trickle makes the CDN send one byte per this interval.
	trickle time.Duration
	// fail makes the next n requests of the given method answer 503.
	fail       int
	failMethod string
	srv        *httptest.Server
	cdn        *httptest.Server // another host, like the Hub's CDN
}

func newFakeHub(t *testing.T, repo string, files map[string]*fakeFile) *fakeHub {
	h := &fakeHub{t: t, repo: repo, commit: strings.Repeat("ab", 20), files: files}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	h.cdn = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	t.Cleanup(h.cdn.Close)
	return h
}

func gitBlobSHA1(b []byte) string {
	s := sha1.New()
	fmt.Fprintf(s, "blob %d\x00", len(b))
	s.Write(b)
	return hex.EncodeToString(s.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (h *fakeHub) requests() []request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]request(nil), h.log...)
}

func (h *fakeHub) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = nil
}

// count returns how many requests matched method and a path prefix.
func (h *fakeHub) count(method, prefix string) int {
	n := 0
	for _, r := range h.requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.log = append(h.log, request{r.Method, r.URL.EscapedPath(), r.Header.Get("Range"), r.Header.Get("Authorization")})
	cut := h.cutAfter
	fail := h.fail > 0 && r.Method == h.failMethod
	if fail {
		h.fail--
	}
	h.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.Method == http.MethodHead && h.stallHead > 0 {
		select {
		case <-time.After(h.stallHead):
		case <-r.Context().Done():
			return
		}
	}

	p := r.URL.EscapedPath()
	cdn := r.Host == strings.TrimPrefix(h.cdn.URL, "http://")
	if cdn != strings.HasPrefix(p, "/cdn/") {
		http.NotFound(w, r) // blobs only on the CDN, repos only on the Hub
		return
	}
	switch {
	case cdn:
		h.serveCDN(w, r, strings.TrimPrefix(p, "/cdn/"), cut)
	case strings.HasPrefix(p, "/api/models/"):
		h.serveAPI(w, r, strings.TrimPrefix(p, "/api/models/"))
	default:
		h.serveResolve(w, r, p)
	}
}

func (h *fakeHub) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.token == "" || r.Header.Get("Authorization") == "Bearer "+h.token {
		return true
	}
	w.Header().Set("X-Error-Code", "GatedRepo")
	w.Header().Set("X-Error-Message", "Access to model "+h.repo+" is restricted.")
	w.WriteHeader(http.StatusUnauthorized)
	return false
}

func (h *fakeHub) serveResolve(w http.ResponseWriter, r *http.Request, p string) {
	repo, rest, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/resolve/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	if h.renamedFrom != "" && repo == h.renamedFrom {
		w.Header().Set("Location", "/"+h.repo+"/resolve/"+rest)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	if repo != h.repo {
		// Like the Hub: an unknown repo is a 401 for anonymous callers.
		w.Header().Set("X-Error-Code", "RepoNotFound")
		w.Header().Set("X-Error-Message", "Repository not found")
		status := http.StatusNotFound
		if r.Header.Get("Authorization") == "" {
			status = http.StatusUnauthorized
		}
		w.WriteHeader(status)
		return
	}
	if !h.authorized(w, r) {
		return
	}
	rev, file, _ := strings.Cut(rest, "/")
	if rev != "main" && rev != h.commit && rev != "refs%2Fpr%2F1" {
		w.Header().Set("X-Error-Code", "RevisionNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("X-Repo-Commit", h.commit)
	f, ok := h.files[file]
	if !ok {
		w.Header().Set("X-Error-Code", "EntryNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if f.lfs {
		sum := sha256Hex(f.content)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.content)))
		w.Header().Set("ETag", `"`+gitBlobSHA1([]byte("pointer"))+`"`)
		w.Header().Set("Location", h.cdn.URL+"/cdn/"+sum+"?sig=x")
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitBlobSHA1(f.content)+`"`)
	http.ServeContent(w, r, file, time.Time{}, bytes.NewReader(f.content))
}

func (h *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request, sum string, cut int64) {
	if r.Header.Get("Authorization") != "" {
		h.t.Errorf("CDN received an Authorization header")
	}
	h.mu.Lock()
	expired := h.expireNext > 0
	if expired {
		h.expireNext--
	}
	h.mu.Unlock()
	if expired {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	var f *fakeFile
	for _, ff := range h.files {
		if ff.lfs && sha256Hex(ff.content) == sum {
			f = ff
		}
	}
	if f == nil {
		http.NotFound(w, r)
		return
	}
	body := f.content
	if f.serve != nil {
		body = f.serve
	}
	h.mu.Lock()
	stall := h.stalls > 0
	if stall {
		h.stalls--
	}
	trickle := h.trickle
	h.mu.Unlock()
	if stall {
		start := int64(0)
		if rng := r.Header.Get("Range"); rng != "" {
			fmt.Sscanf(rng, "bytes=%d-", &start)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(body)-1, len(body)))
			w.Header().Set("Content-Length", strconv.Itoa(len(body)-int(start)))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
		}
		w.Write(body[start:min(start+h.stallAfter, int64(len(body)))])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // send nothing more until the client gives up
		return
	}
	if trickle > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		for i := range body {
			w.Write(body[i : i+1])
			w.(http.Flusher).Flush()
			select {
			case <-time.After(trickle):
			case <-r.Context().Done():
				return
			}
		}
		return
	}
	if cut > 0 && r.Header.Get("Range") == "" {
		h.mu.Lock()
		h.cutAfter = 0
		h.mu.Unlock()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	if h.ignoreRange {
		r.Header.Del("Range")
	}
	http.ServeContent(w, r, "blob", time.Time{}, bytes.NewReader(body))
}

func (h *fakeHub) serveAPI(w http.ResponseWriter, r *http.Request, p string) {
	repo, rev, ok := strings.Cut(p, "/revision/")
	if !ok || repo != h.repo {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if !h.authorized(w, r) {
		return
	}
	if rev != "main" && rev != h.commit {
		w.Header().Set("X-Error-Code", "RevisionNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	type sib struct {
		RFilename string `json:"rfilename"`
	}
	out := struct {
		SHA      string `json:"sha"`
		Siblings []sib  `json:"siblings"`
	}{SHA: h.commit}
	for name := range h.files {
		out.Siblings = append(out.Siblings, sib{name})
	}
	json.NewEncoder(w).Encode(out)
}
