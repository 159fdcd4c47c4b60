package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// fileMeta is what a HEAD on the resolve URL tells about a file.
type fileMeta struct {
	commit   string // X-Repo-Commit
	etag     string // X-Linked-Etag (LFS: the sha256) or ETag, unquoted
	size     int64  // X-Linked-Size or Content-Length; -1 if unknown
	location string // where to GET the bytes (a CDN for LFS files)
	lfs      bool   // etag is a sha256 of the content
}

// resolveURL is {endpoint}/{repo}/resolve/{revision}/{file}, with the
// revision escaped as one path segment ("refs/pr/1" -> "refs%2Fpr%2F1").
func (c *Client) resolveURL(repoID, revision, filename string) string {
	segs := strings.Split(filename, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return fmt.Sprintf("%s/%s/resolve/%s/%s", c.endpoint(), repoID, url.PathEscape(revision), strings.Join(segs, "/"))
}

func (c *Client) newRequest(ctx context.Context, method, u string, auth bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	req.Header.Set("User-Agent", c.userAgent())
	if auth && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// noRedirect stops the client at the first redirect so the resolve
// response's own headers (commit, etag, CDN location) can be read.
func (c *Client) noRedirectClient() *http.Client {
	hc := *c.httpClient()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// head fetches a file's metadata. Relative redirects (a renamed repository)
// are followed; an absolute one is the CDN location of an LFS file and is
// recorded, not followed, as in huggingface_hub.
func (c *Client) head(ctx context.Context, repoID, revision, filename string) (*fileMeta, error) {
	u := c.resolveURL(repoID, revision, filename)
	hc := c.noRedirectClient()
	for hops := 0; ; hops++ {
		gctx, _, stop := startIdleGuard(ctx, c.idleTimeout())
		req, err := c.newRequest(gctx, http.MethodHead, u, true)
		if err != nil {
			stop()
			return nil, err
		}
		// Compressed transfer would make Content-Length the compressed size.
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := hc.Do(req)
		if err != nil {
			err = stalledError(gctx, err)
			stop()
			return nil, fmt.Errorf("hub: HEAD %s: %w", u, err)
		}
		resp.Body.Close()
		stop()
		if resp.StatusCode >= 400 {
			return nil, c.statusError(resp, repoID, revision, filename)
		}
		loc := resp.Header.Get("Location")
		if resp.StatusCode >= 300 && loc != "" {
			target, err := url.Parse(loc)
			if err != nil {
				return nil, fmt.Errorf("hub: HEAD %s: bad redirect %q: %w", u, loc, err)
			}
			if target.Host == "" {
				if hops >= 10 {
					return nil, fmt.Errorf("hub: HEAD %s: too many redirects", u)
				}
				u = resp.Request.URL.ResolveReference(target).String()
				continue
			}
		}
		m := &fileMeta{
			commit:   resp.Header.Get("X-Repo-Commit"),
			etag:     normalizeETag(firstNonEmpty(resp.Header.Get("X-Linked-Etag"), resp.Header.Get("ETag"))),
			size:     parseSize(firstNonEmpty(resp.Header.Get("X-Linked-Size"), resp.Header.Get("Content-Length"))),
			location: u,
		}
		if resp.StatusCode >= 300 && loc != "" {
			m.location = loc
		}
		switch {
		case !commitRe.MatchString(m.commit):
			return nil, fmt.Errorf("hub: HEAD %s: missing or malformed X-Repo-Commit %q (is %s a Hugging Face Hub?)", u, m.commit, c.endpoint())
		case m.etag == "" || strings.ContainsAny(m.etag, `/\`) || m.etag == "." || m.etag == "..":
			return nil, fmt.Errorf("hub: HEAD %s: missing or unusable ETag %q", u, m.etag)
		}
		m.lfs = sha256Re.MatchString(m.etag)
		return m, nil
	}
}

// statusError classifies an error answer. The Hub answers 401, not 404,
// for a repository it will not confirm exists (private or mistyped), so the
// message for 401 covers both.
func (c *Client) statusError(resp *http.Response, repoID, revision, filename string) error {
	e := &HTTPError{
		Method:  resp.Request.Method,
		URL:     resp.Request.URL.String(),
		Status:  resp.StatusCode,
		Code:    resp.Header.Get("X-Error-Code"),
		Message: resp.Header.Get("X-Error-Message"),
		commit:  resp.Header.Get("X-Repo-Commit"),
	}
	where := fmt.Sprintf("%s@%s", repoID, revision)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.err = ErrUnauthorized
		hint := "the repository may be private or gated, or not exist; set HF_TOKEN to a token that can read it (for a gated model, accept its terms on the Hub first)"
		if c.Token != "" {
			hint = "the token in HF_TOKEN was refused or lacks access; the repository may be gated (accept its terms on the Hub) or private, or not exist"
		}
		return fmt.Errorf("hub: %s: %s: %w: %s (%w)", where, filename, ErrUnauthorized, hint, e)
	case resp.StatusCode == http.StatusNotFound:
		switch e.Code {
		case "RepoNotFound":
			e.err = ErrNotFound
			return fmt.Errorf("hub: repository %s not found: %w", repoID, e)
		case "RevisionNotFound":
			e.err = ErrNotFound
			return fmt.Errorf("hub: revision %q not found in %s: %w", revision, repoID, e)
		}
		e.err = ErrNotFound
		return fmt.Errorf("hub: file %s not found in %s: %w: %w", filename, where, ErrEntryNotFound, e)
	}
	return fmt.Errorf("hub: %s: %s: %w", where, filename, e)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// normalizeETag strips the weak marker and quotes: W/"abc" -> abc.
func normalizeETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.Trim(s, `"`)
}

func parseSize(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// retryable reports whether a failed transfer is worth resuming: the
// connection broke, the server had a passing failure, or a CDN refused a
// signed link that has since expired (the retry asks the Hub for a fresh
// one) - and the caller did not cancel.
func (c *Client) retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		if he.Status >= 500 || he.Status == http.StatusTooManyRequests {
			return true
		}
		return (he.Status == http.StatusForbidden || he.Status == http.StatusGone) && !c.onHub(he.URL)
	}
	// Local file errors (a full disk) will not go away by asking again.
	var pe *fs.PathError
	return !errors.Is(err, ErrChecksum) && !errors.As(err, &pe)
}

// onHub reports whether u is on the Hub's own host (not a CDN).
func (c *Client) onHub(u string) bool {
	a, err1 := url.Parse(u)
	b, err2 := url.Parse(c.endpoint())
	return err1 == nil && err2 == nil && a.Host == b.Host
}

// fetchBlob downloads the file described by m into blob, resuming from
// blob+".incomplete" when an earlier attempt left one.
func (c *Client) fetchBlob(ctx context.Context, repoID, revision, filename string, m *fileMeta, blob string) error {
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	unlock, err := lockFile(ctx, c.lockPath(repoID, m.etag))
	if err != nil {
		return fmt.Errorf("hub: locking %s: %w", filename, err)
	}
	defer unlock()
	if exists(blob) { // another process finished it while we waited
		return nil
	}
	partial := blob + ".incomplete"
	wait := c.retryWait()
	var lastErr error
	for attempt := 0; attempt <= c.retries(); attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return fmt.Errorf("hub: downloading %s: %w", filename, ctx.Err())
			}
			wait *= 2
			// CDN links are signed and expire; a long download that broke
			// asks the Hub where the same blob lives now.
			if fresh, err := c.head(ctx, repoID, revision, filename); err == nil && fresh.etag == m.etag {
				m.location = fresh.location
			}
		}
		lastErr = c.fetchOnce(ctx, repoID, revision, filename, m, partial)
		if lastErr == nil {
			break
		}
		if !c.retryable(ctx, lastErr) {
			return lastErr
		}
	}
	if lastErr != nil {
		return fmt.Errorf("hub: downloading %s: giving up after %d attempts: %w", filename, c.retries()+1, lastErr)
	}
	if err := verify(partial, filename, m); err != nil {
		os.Remove(partial)
		return err
	}
	if err := os.Rename(partial, blob); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// fetchOnce makes one GET, appending to partial from its current length.
func (c *Client) fetchOnce(ctx context.Context, repoID, revision, filename string, m *fileMeta, partial string) error {
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if m.size >= 0 && have > m.size { // not this blob's prefix after all
		if err := restart(f); err != nil {
			return err
		}
		have = 0
	}
	if m.size >= 0 && have == m.size {
		return nil // complete; verify() decides whether it is right
	}
	// The bearer token is for the Hub only; a CDN on another host gets none
	// (Go also drops it on cross-host redirects, but be explicit). A server
	// that stops sending (headers or body) for IdleTimeout ends the attempt
	// with ErrStalled, and the caller resumes from what arrived.
	gctx, guard, stop := startIdleGuard(ctx, c.idleTimeout())
	defer stop()
	req, err := c.newRequest(gctx, http.MethodGet, m.location, c.onHub(m.location))
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("hub: GET %s: %w", m.location, stalledError(gctx, err))
	}
	defer resp.Body.Close()
	guard.touch()
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != have {
			// The server sent some other range: start over rather than
			// splice bytes from the wrong place into the file.
			if err := restart(f); err != nil {
				return err
			}
			return fmt.Errorf("hub: GET %s: asked for bytes from %d, got Content-Range %q", m.location, have, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if have > 0 { // Range ignored: the body is the whole file
			if err := restart(f); err != nil {
				return err
			}
			have = 0
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0:
		// Our prefix is at least the whole file; verify() judges it.
		if m.size < 0 {
			return nil
		}
		if err := restart(f); err != nil {
			return err
		}
		return fmt.Errorf("hub: GET %s: range from %d not satisfiable", m.location, have)
	default:
		return c.statusError(resp, repoID, revision, filename)
	}
	total := m.size
	if total < 0 && resp.ContentLength >= 0 {
		total = have + resp.ContentLength
	}
	w := io.Writer(f)
	if c.Progress != nil {
		c.Progress(filename, have, total)
		w = &progressWriter{w: f, file: filename, done: have, total: total, report: c.Progress}
	}
	n, err := io.Copy(w, &guardedReader{r: resp.Body, g: guard})
	if err != nil {
		return fmt.Errorf("hub: GET %s: after %d bytes: %w", m.location, have+n, stalledError(gctx, err))
	}
	if m.size >= 0 && have+n < m.size {
		// A body without Content-Length can end early with no error.
		return fmt.Errorf("hub: GET %s: connection closed at %d of %d bytes: %w", m.location, have+n, m.size, io.ErrUnexpectedEOF)
	}
	return nil
}

func restart(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// contentRangeStart parses the first byte of "bytes START-END/TOTAL".
func contentRangeStart(s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, false
	}
	startStr, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(startStr, 10, 64)
	return n, err == nil
}

// verify checks the finished download's size and, for LFS files, that its
// sha256 is the ETag the Hub announced. The hash is computed over the whole
// file, resumed prefix included, so a corrupt earlier attempt is caught too.
func verify(partial, filename string, m *fileMeta) error {
	f, err := os.Open(partial)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("hub: verifying %s: %w", filename, err)
	}
	if m.size >= 0 && n != m.size {
		return fmt.Errorf("hub: %s: %w: downloaded %d bytes, the Hub announced %d", filename, ErrChecksum, n, m.size)
	}
	if m.lfs {
		if got := hex.EncodeToString(h.Sum(nil)); got != m.etag {
			return fmt.Errorf("hub: %s: %w: sha256 %s, the Hub's ETag says %s; the download was discarded", filename, ErrChecksum, got, m.etag)
		}
	}
	return nil
}

// progressWriter reports bytes as they are written.
type progressWriter struct {
	w           io.Writer
	file        string
	done, total int64
	report      func(string, int64, int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	p.report(p.file, p.done, p.total)
	return n, err
}
