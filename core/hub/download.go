package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
)

// Download returns the local path of one file of a model repository at a
// revision (empty means "main"), downloading it into the cache if needed.
// The path is inside snapshots/<commit>/ and, natively, a symlink to the
// blob.
//
// Online, a HEAD request learns which commit the revision points to and
// which blob the file is; a blob already cached (by this package or by
// Python) is reused without downloading. If the Hub cannot be reached the
// file is resolved from the cache, as with Offline set.
func (c *Client) Download(ctx context.Context, repoID, revision, filename string) (string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if revision == "" {
		revision = DefaultRevision
	}
	if c.CacheDir == "" {
		return "", errNoCache
	}
	if err := validateRepoID(repoID); err != nil {
		return "", err
	}
	if err := validateRevision(revision); err != nil {
		return "", err
	}
	if err := validateFilename(filename); err != nil {
		return "", err
	}
	dir := c.repoDir(repoID)
	// A commit hash names immutable content: a cached copy is final.
	if commitRe.MatchString(revision) {
		if p := snapshotPath(dir, revision, filename); exists(p) {
			return p, nil
		}
	}
	if c.Offline {
		p, err := c.cachedFile(repoID, revision, filename)
		if err != nil {
			return "", fmt.Errorf("%w (offline mode: HF_HUB_OFFLINE is set)", err)
		}
		return p, nil
	}

	m, err := c.head(ctx, repoID, revision, filename)
	if err != nil {
		if isNetworkError(ctx, err) {
			if p, cerr := c.cachedFile(repoID, revision, filename); cerr == nil {
				return p, nil
			}
			return "", fmt.Errorf("%w (and %s is not in the cache: %w)", err, filename, ErrNotCached)
		}
		var he *HTTPError
		if errors.Is(err, ErrEntryNotFound) && errors.As(err, &he) {
			// Remember the absence at this commit, like huggingface_hub.
			if commit := he.commit; commitRe.MatchString(commit) {
				markNoExist(dir, commit, filename)
				_ = writeRef(dir, revision, commit)
			}
		}
		return "", err
	}
	if err := writeRef(dir, revision, m.commit); err != nil {
		return "", err
	}
	pointer := snapshotPath(dir, m.commit, filename)
	if exists(pointer) {
		return pointer, nil
	}
	blob := blobPath(dir, m.etag)
	if !exists(blob) {
		if err := c.fetchBlob(ctx, repoID, revision, filename, m, blob); err != nil {
			return "", err
		}
	}
	if err := linkSnapshot(blob, pointer); err != nil {
		return "", err
	}
	return pointer, nil
}

// isNetworkError reports whether err means the Hub could not be reached
// (as opposed to an answer we dislike, or the caller cancelling).
func isNetworkError(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, ErrStalled)
}
