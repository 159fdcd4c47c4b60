package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultEndpoint is the public Hub.
const DefaultEndpoint = "https://huggingface.co"

// DefaultRevision is the branch downloaded when none is given.
const DefaultRevision = "main"

// Client downloads files from a Hugging Face Hub endpoint into a cache.
// The zero value is not ready: use NewClientFromEnv, or set CacheDir (and
// Endpoint, unless the public Hub is meant) yourself.
type Client struct {
	// Endpoint is the Hub's base URL, e.g. https://huggingface.co.
	Endpoint string
	// Token, when set, is sent as "Authorization: Bearer <token>" to the Hub
	// (not to the CDN it redirects large files to).
	Token string
	// CacheDir is the hub cache root holding models--Org--Name folders.
	CacheDir string
	// HTTP is the client used for every request; nil means
	// http.DefaultClient. Redirects are handled by this package, whatever
	// the client's CheckRedirect says.
	HTTP *http.Client
	// Offline resolves every file from the cache without any request.
	Offline bool
	// Progress, when set, is called as a file downloads with the bytes done
	// so far (including any resumed prefix) and the total (-1 if unknown).
	Progress func(file string, done, total int64)
	// Retries is how many times an interrupted download is resumed within
	// one call before giving up; 0 means 5, negative means none (the
	// partial file is still kept for the next call to resume).
	Retries int
	// RetryWait is the pause before the first retry, doubled after each;
	// 0 means one second.
	RetryWait time.Duration
	// UserAgent identifies the client; empty means "nano-vllm-go".
	UserAgent string
	// IdleTimeout bounds how long a request may wait for its response
	// headers or for the next bytes of a body: a transfer that stalls
	// longer fails with ErrStalled, and a download is then resumed with a
	// Range request (Retries times). 0 means DefaultIdleTimeout; negative
	// means no bound (a stalled server then hangs the call until ctx ends).
	IdleTimeout time.Duration
	// Timeout, when positive, is a deadline for each Download, Snapshot or
	// ResolveModel call as a whole, on top of any deadline of its context.
	Timeout time.Duration
}

// DefaultIdleTimeout is Client.IdleTimeout's default. huggingface_hub
// waits 10 seconds (HF_HUB_DOWNLOAD_TIMEOUT); CDNs that pause under load
// are given longer here.
const DefaultIdleTimeout = 30 * time.Second

// NewClientFromEnv returns a client configured the way huggingface_hub
// configures itself: HF_ENDPOINT, HF_TOKEN (else the token file saved by
// `huggingface-cli login`), HF_HUB_CACHE / HF_HOME for the cache,
// HF_HUB_OFFLINE, and HF_HUB_DOWNLOAD_TIMEOUT (seconds without data before
// a transfer counts as stalled). The environment is read once, here.
func NewClientFromEnv() *Client { return newClientFromEnv(os.Getenv) }

func newClientFromEnv(getenv func(string) string) *Client {
	c := &Client{
		HTTP:     newHTTPClient(),
		Endpoint: strings.TrimRight(getenv("HF_ENDPOINT"), "/"),
		Token:    getenv("HF_TOKEN"),
		Offline:  isTrue(getenv("HF_HUB_OFFLINE")),
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if secs, err := strconv.ParseFloat(getenv("HF_HUB_DOWNLOAD_TIMEOUT"), 64); err == nil && secs > 0 && secs < 1e6 {
		c.IdleTimeout = time.Duration(secs * float64(time.Second))
	}
	home := getenv("HF_HOME")
	if home == "" {
		home = defaultHFHome(getenv)
	}
	c.CacheDir = getenv("HF_HUB_CACHE")
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(home, "hub")
	}
	if c.Token == "" {
		tokenPath := getenv("HF_TOKEN_PATH")
		if tokenPath == "" {
			tokenPath = filepath.Join(home, "token")
		}
		if b, err := os.ReadFile(tokenPath); err == nil {
			c.Token = strings.TrimSpace(string(b))
		}
	}
	return c
}

// defaultHFHome mirrors huggingface_hub: $XDG_CACHE_HOME/huggingface, else
// ~/.cache/huggingface.
func defaultHFHome(getenv func(string) string) string {
	if xdg := getenv("XDG_CACHE_HOME"); xdg != "" {
		return filepath.Join(xdg, "huggingface")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".cache", "huggingface")
}

// isTrue parses boolean environment values the way huggingface_hub does.
func isTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

// newHTTPClient bounds the wait for response headers, so a Hub that stops
// answering turns into an error (and a cache fallback) instead of a hang.
// The body of a multi-gigabyte download is unbounded in time as a whole;
// IdleTimeout bounds each pause in it.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ResponseHeaderTimeout: 30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		IdleConnTimeout:       90 * time.Second,
	}}
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) retries() int {
	if c.Retries == 0 {
		return 5
	}
	if c.Retries < 0 {
		return 0
	}
	return c.Retries
}

func (c *Client) retryWait() time.Duration {
	if c.RetryWait <= 0 {
		return time.Second
	}
	return c.RetryWait
}

func (c *Client) userAgent() string {
	if c.UserAgent == "" {
		return "nano-vllm-go"
	}
	return c.UserAgent
}

func (c *Client) idleTimeout() time.Duration {
	if c.IdleTimeout == 0 {
		return DefaultIdleTimeout
	}
	return c.IdleTimeout
}

// withTimeout applies Timeout to one call.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.Timeout > 0 {
		return context.WithTimeout(ctx, c.Timeout)
	}
	return ctx, func() {}
}

// idleGuard cancels a request's context when no progress was made for a
// while: no response headers, or no bytes of the body. Progress is
// reported with touch. The transport then fails the pending read.
type idleGuard struct {
	timer *time.Timer
	d     time.Duration
}

// startIdleGuard returns a context for one request that is cancelled with
// cause ErrStalled after d without touch, and the function that stops the
// guard and releases the context. A non-positive d guards nothing.
func startIdleGuard(ctx context.Context, d time.Duration) (context.Context, *idleGuard, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	g := &idleGuard{d: d}
	if d > 0 {
		g.timer = time.AfterFunc(d, func() { cancel(fmt.Errorf("no data for %v: %w", d, ErrStalled)) })
	}
	return ctx, g, func() {
		if g.timer != nil {
			g.timer.Stop()
		}
		cancel(nil)
	}
}

// touch records progress.
func (g *idleGuard) touch() {
	if g.timer != nil {
		g.timer.Reset(g.d)
	}
}

// stalledError returns ctx's ErrStalled cause in place of err, when the
// guard is what ended the request.
func stalledError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && errors.Is(cause, ErrStalled) {
		return cause
	}
	return err
}

// guardedReader touches its guard on every read that returns bytes.
type guardedReader struct {
	r io.Reader
	g *idleGuard
}

func (r *guardedReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.g.touch()
	}
	return n, err
}
