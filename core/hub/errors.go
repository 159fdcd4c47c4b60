package hub

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is wrapped when the Hub reports a repository, revision or
	// file as missing.
	ErrNotFound = errors.New("not found on the Hub")
	// ErrEntryNotFound is wrapped (with ErrNotFound) when the repository and
	// revision exist but the file does not: the one case optional files may
	// ignore.
	ErrEntryNotFound = errors.New("file not in repository")
	// ErrUnauthorized is wrapped for 401 and 403 answers: a gated or private
	// repository, or a token that was refused.
	ErrUnauthorized = errors.New("access denied")
	// ErrChecksum is wrapped when a downloaded file's sha256 differs from the
	// Hub's ETag. The partial file is deleted; nothing is placed in the cache.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrNotCached is wrapped when a file must come from the cache (offline
	// mode, or the Hub unreachable) and is not there.
	ErrNotCached = errors.New("not in the local cache")
	// ErrInvalidName is wrapped when a repo id, revision or file name is
	// malformed (or could escape the cache folder).
	// Its text is just "invalid": errors read "hub: invalid repo id ...".
	ErrInvalidName = errors.New("invalid")
	// ErrStalled is wrapped when a server sent nothing for
	// Client.IdleTimeout, and resuming did not help.
	ErrStalled = errors.New("download stalled")
)

// HTTPError is an unexpected HTTP answer from the Hub.
type HTTPError struct {
	Method, URL string
	Status      int
	// Code and Message are the Hub's X-Error-Code and X-Error-Message
	// headers, when it sends them (e.g. "RepoNotFound", "GatedRepo").
	Code, Message string
	err           error  // sentinel classification, if any
	commit        string // X-Repo-Commit, sent even with some errors
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.URL, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap exposes the sentinel the status maps to.
func (e *HTTPError) Unwrap() error { return e.err }
