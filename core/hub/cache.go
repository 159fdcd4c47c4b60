package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	commitRe = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// repoPartRe is the Hub's rule for user, organisation and repository
	// names; it also keeps them safe to use as path components.
	repoPartRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// errNoCache is returned by a Client without a cache directory: writing
// models--* folders into the working directory is never what was meant.
var errNoCache = errors.New("hub: Client.CacheDir is empty (use NewClientFromEnv or set it)")

// validateRepoID accepts "Name" or "Org/Name".
func validateRepoID(repoID string) error {
	parts := strings.Split(repoID, "/")
	if len(parts) > 2 {
		return fmt.Errorf("hub: %w repo id %q: want Org/Name", ErrInvalidName, repoID)
	}
	for _, p := range parts {
		if !repoPartRe.MatchString(p) || strings.Contains(p, "--") || strings.Contains(p, "..") || len(p) > 96 {
			return fmt.Errorf("hub: %w repo id %q: want Org/Name of letters, digits, '-', '_', '.'", ErrInvalidName, repoID)
		}
	}
	return nil
}

// validateFilename rejects names that could escape the snapshot folder.
func validateFilename(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("hub: %w file name %q", ErrInvalidName, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("hub: %w file name %q", ErrInvalidName, name)
		}
	}
	return nil
}

// validateRevision rejects revisions that could escape the refs folder.
// Branch names may contain "/" (refs/pr/1), which becomes nested folders,
// exactly as in huggingface_hub.
func validateRevision(rev string) error {
	if err := validateFilename(rev); err != nil {
		return fmt.Errorf("hub: %w revision %q", ErrInvalidName, rev)
	}
	return nil
}

// repoDir is the cache folder of a model repository.
func (c *Client) repoDir(repoID string) string {
	return filepath.Join(c.CacheDir, "models--"+strings.ReplaceAll(repoID, "/", "--"))
}

func snapshotPath(repoDir, commit, filename string) string {
	return filepath.Join(repoDir, "snapshots", commit, filepath.FromSlash(filename))
}

func blobPath(repoDir, etag string) string {
	return filepath.Join(repoDir, "blobs", etag)
}

func noExistPath(repoDir, commit, filename string) string {
	return filepath.Join(repoDir, ".no_exist", commit, filepath.FromSlash(filename))
}

// lockPath follows huggingface_hub (cache/.locks/models--Org--Name/<etag>.lock)
// so a Python process and this one never download the same blob at once.
func (c *Client) lockPath(repoID, etag string) string {
	return filepath.Join(c.CacheDir, ".locks", filepath.Base(c.repoDir(repoID)), etag+".lock")
}

// readRef returns the commit a branch or tag last resolved to, or the
// revision itself when it already is a commit hash.
func readRef(repoDir, revision string) (string, error) {
	if commitRe.MatchString(revision) {
		return revision, nil
	}
	b, err := os.ReadFile(filepath.Join(repoDir, "refs", filepath.FromSlash(revision)))
	if err != nil {
		return "", err
	}
	commit := strings.TrimSpace(string(b))
	if !commitRe.MatchString(commit) {
		return "", fmt.Errorf("hub: %s: ref %q holds %q, not a commit hash", repoDir, revision, commit)
	}
	return commit, nil
}

// writeRef records that revision resolved to commit. The file holds the bare
// hash, no newline, as huggingface_hub writes it. It is written to a temporary
// file and renamed so a concurrent reader never sees half a hash.
func writeRef(repoDir, revision, commit string) error {
	if revision == commit {
		return nil
	}
	p := filepath.Join(repoDir, "refs", filepath.FromSlash(revision))
	if cur, err := os.ReadFile(p); err == nil && string(cur) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".ref-*")
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	_, werr := tmp.WriteString(commit)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("hub: writing ref: %w", err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("hub: writing ref: %w", err)
	}
	return nil
}

// linkSnapshot makes snapshots/<commit>/<file> point at the blob with a
// relative symlink (so the cache folder can be moved). Where symlinks are
// unavailable (Windows without the privilege, wasm) the blob is moved into
// the snapshot instead, as huggingface_hub does.
func linkSnapshot(blob, pointer string) error {
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	for attempt := 0; attempt < 2; attempt++ {
		err := os.Symlink(rel, pointer)
		if err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrExist) {
			break // no symlinks here: fall back to moving the blob
		}
		// Another download of the same file got here first, or a stale
		// link survived an interrupted run: keep a correct one, replace
		// anything else.
		if target, lerr := os.Readlink(pointer); lerr == nil && target == rel {
			return nil
		}
		if err := os.Remove(pointer); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
	}
	if err := os.Rename(blob, pointer); err != nil {
		return fmt.Errorf("hub: placing %s: %w", pointer, err)
	}
	return nil
}

// exists reports whether p exists, following symlinks: a snapshot entry
// whose blob was deleted does not count.
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// cachedFile resolves a file from the cache alone.
func (c *Client) cachedFile(repoID, revision, filename string) (string, error) {
	dir := c.repoDir(repoID)
	commit, err := readRef(dir, revision)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("hub: %s@%s: %w (no ref %s under %s)", repoID, revision, ErrNotCached, path.Join("refs", revision), dir)
		}
		return "", err
	}
	p := snapshotPath(dir, commit, filename)
	if exists(p) {
		return p, nil
	}
	if exists(noExistPath(dir, commit, filename)) {
		return "", fmt.Errorf("hub: %s@%s: %s: %w: %w (the Hub reported it missing)", repoID, revision, filename, ErrEntryNotFound, ErrNotFound)
	}
	return "", fmt.Errorf("hub: %s@%s: %s: %w (looked for %s)", repoID, revision, filename, ErrNotCached, p)
}

// markNoExist records that a file is absent at a commit, as huggingface_hub
// does, so later offline lookups know not to expect it.
func markNoExist(repoDir, commit, filename string) {
	p := noExistPath(repoDir, commit, filename)
	if os.MkdirAll(filepath.Dir(p), 0o755) == nil {
		if f, err := os.Create(p); err == nil {
			f.Close()
		}
	}
}
