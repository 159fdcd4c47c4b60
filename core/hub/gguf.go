package hub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

var (
	// ErrNoGGUF is wrapped when a repository has no GGUF file matching the
	// selector (the error lists the ones it has).
	ErrNoGGUF = errors.New("no matching GGUF file")
	// ErrAmbiguousGGUF is wrapped when several GGUF files match (the error
	// lists them).
	ErrAmbiguousGGUF = errors.New("several GGUF files match")
)

// splitGGUFRe matches the shards of a GGUF split by llama-gguf-split.
var splitGGUFRe = regexp.MustCompile(`-\d{5}-of-\d{5}\.gguf$`)

// ParseModelRef splits a --model argument of the form
// "Org/Name[:SELECTOR][@REVISION]" (or "Org/Name@REVISION:SELECTOR") into
// the repo id, the revision ("" for the default) and the selector: a GGUF
// file name ("Qwen3-0.6B-Q8_0.gguf") or a quantization ("Q8_0").
func ParseModelRef(model string) (repoID, revision, selector string) {
	left, revision, _ := strings.Cut(model, "@")
	if r, s, ok := strings.Cut(revision, ":"); ok {
		revision, selector = r, s
	}
	if l, s, ok := strings.Cut(left, ":"); ok {
		left, selector = l, s
	}
	return left, revision, selector
}

// IsGGUF reports whether a file name ends in .gguf (any case).
func IsGGUF(name string) bool { return strings.EqualFold(path.Ext(name), ".gguf") }

// SelectGGUF picks the GGUF file a selector names among a repository's
// files (slash-separated paths). An empty selector wants the only GGUF
// file; a selector ending in .gguf names a file (by path or base name);
// anything else is a quantization, matched case-insensitively against the
// file names: first as a whole word (between '-' or '.' and the
// extension, so "Q4_K" is not "Q4_K_M"), then as any substring. None or
// several matches are an error listing the candidates.
func SelectGGUF(files []string, selector string) (string, error) {
	var ggufs []string
	for _, f := range files {
		if IsGGUF(f) {
			ggufs = append(ggufs, f)
		}
	}
	sort.Strings(ggufs)
	list := func() string {
		if len(ggufs) == 0 {
			return "the repository has no .gguf file"
		}
		return "its .gguf files: " + strings.Join(ggufs, ", ")
	}
	var matches []string
	switch {
	case selector == "":
		matches = ggufs
		if len(matches) > 1 {
			return "", fmt.Errorf("hub: %w: pick one with Org/Name:QUANT or Org/Name:FILE.gguf; %s", ErrAmbiguousGGUF, list())
		}
	case IsGGUF(selector):
		for _, f := range ggufs {
			if f == selector || path.Base(f) == selector {
				matches = append(matches, f)
			}
		}
	default:
		word := regexp.MustCompile(`(?i)(^|[-.])` + regexp.QuoteMeta(selector) + `\.gguf$`)
		for _, f := range ggufs {
			if word.MatchString(path.Base(f)) {
				matches = append(matches, f)
			}
		}
		if len(matches) == 0 {
			for _, f := range ggufs {
				if strings.Contains(strings.ToLower(path.Base(f)), strings.ToLower(selector)) {
					matches = append(matches, f)
				}
			}
		}
	}
	switch {
	case len(matches) == 0 && selector == "":
		return "", fmt.Errorf("hub: %w: %s", ErrNoGGUF, list())
	case len(matches) == 0:
		return "", fmt.Errorf("hub: %w for %q: %s", ErrNoGGUF, selector, list())
	case len(matches) > 1:
		return "", fmt.Errorf("hub: %w %q: %s", ErrAmbiguousGGUF, selector, strings.Join(matches, ", "))
	}
	if splitGGUFRe.MatchString(matches[0]) {
		return "", fmt.Errorf("hub: %s is one shard of a split GGUF, which is not supported (merge the shards with llama-gguf-split --merge)", matches[0])
	}
	return matches[0], nil
}

// ResolveGGUF returns the local path of one GGUF file of a Hub repository,
// downloaded into the cache if needed. model is "Org/Name[:SELECTOR][@REV]"
// (see ParseModelRef and SelectGGUF): the repository's file list comes
// from the Hub's model API, or, offline or when the Hub cannot be reached,
// from the cached snapshot of the revision.
func ResolveGGUF(ctx context.Context, c *Client, model string) (string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	repoID, revision, selector := ParseModelRef(model)
	if err := validateRepoID(repoID); err != nil {
		return "", err
	}
	if revision == "" {
		revision = DefaultRevision
	}
	if err := validateRevision(revision); err != nil {
		return "", err
	}
	if c.CacheDir == "" {
		return "", errNoCache
	}
	if !c.Offline {
		info, err := c.repoInfo(ctx, repoID, revision)
		if err == nil {
			if err := writeRef(c.repoDir(repoID), revision, info.SHA); err != nil {
				return "", err
			}
			names := make([]string, len(info.Siblings))
			for i, s := range info.Siblings {
				names[i] = s.RFilename
			}
			name, err := SelectGGUF(names, selector)
			if err != nil {
				return "", fmt.Errorf("%w (%s@%s)", err, repoID, revision)
			}
			return c.Download(ctx, repoID, info.SHA, name)
		}
		if !isNetworkError(ctx, err) {
			return "", err
		}
	}
	why := "offline mode: HF_HUB_OFFLINE is set"
	if !c.Offline {
		why = "Hub unreachable"
	}
	snap, err := c.cachedSnapshot(repoID, revision, why)
	if err != nil {
		return "", err
	}
	var names []string
	err = filepath.WalkDir(snap, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(snap, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	name, err := SelectGGUF(names, selector)
	if err != nil {
		return "", fmt.Errorf("%w (%s@%s, from the cache: %s)", err, repoID, revision, why)
	}
	return filepath.Join(snap, filepath.FromSlash(name)), nil
}
