package hub

import (
	"net/http"
	"os"
	"path/filepath"
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
}

// NewClientFromEnv returns a client configured the way huggingface_hub
// configures itself: HF_ENDPOINT, HF_TOKEN (else the token file saved by
// `huggingface-cli login`), HF_HUB_CACHE / HF_HOME for the cache, and
// HF_HUB_OFFLINE. The environment is read once, here.
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
// answering turns into an error (and a cache fallback) instead of a hang,
// while leaving the body of a multi-gigabyte download unbounded in time.
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
