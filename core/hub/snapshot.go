package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
)

// repoInfo is the part of GET /api/models/{repo}/revision/{rev} we use.
type repoInfo struct {
	SHA      string `json:"sha"`
	Siblings []struct {
		RFilename string `json:"rfilename"`
	} `json:"siblings"`
}

// Snapshot downloads every file of the repository at revision whose path
// matches one of patterns (path.Match globs, e.g. "*.json",
// "model-*.safetensors"; nil means all files) and returns the snapshot
// folder holding them. A pattern that matches nothing is not an error.
//
// The file list comes from the Hub's model API; every file is then fetched
// at the single commit that listing reported, so a branch that moves during
// the download cannot mix two versions. Offline, or when the Hub cannot be
// reached, the cached snapshot of the revision is returned if there is one.
func (c *Client) Snapshot(ctx context.Context, repoID, revision string, patterns []string) (string, error) {
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
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return "", fmt.Errorf("hub: bad pattern %q: %w", p, err)
		}
	}
	dir := c.repoDir(repoID)
	if c.Offline {
		return c.cachedSnapshot(repoID, revision, "offline mode: HF_HUB_OFFLINE is set")
	}
	info, err := c.repoInfo(ctx, repoID, revision)
	if err != nil {
		if isNetworkError(ctx, err) {
			if snap, cerr := c.cachedSnapshot(repoID, revision, "Hub unreachable"); cerr == nil {
				return snap, nil
			}
		}
		return "", err
	}
	if err := writeRef(dir, revision, info.SHA); err != nil {
		return "", err
	}
	for _, s := range info.Siblings {
		if !matchAny(patterns, s.RFilename) {
			continue
		}
		if _, err := c.Download(ctx, repoID, info.SHA, s.RFilename); err != nil {
			return "", err
		}
	}
	snap := filepath.Join(dir, "snapshots", info.SHA)
	if err := os.MkdirAll(snap, 0o755); err != nil {
		return "", fmt.Errorf("hub: %w", err)
	}
	return snap, nil
}

func matchAny(patterns []string, name string) bool {
	if patterns == nil {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func (c *Client) cachedSnapshot(repoID, revision, why string) (string, error) {
	dir := c.repoDir(repoID)
	commit, err := readRef(dir, revision)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("hub: %s@%s: %w (%s)", repoID, revision, ErrNotCached, why)
		}
		return "", err
	}
	snap := filepath.Join(dir, "snapshots", commit)
	if st, err := os.Stat(snap); err != nil || !st.IsDir() {
		return "", fmt.Errorf("hub: %s@%s: %w: no snapshot folder %s (%s)", repoID, revision, ErrNotCached, snap, why)
	}
	return snap, nil
}

func (c *Client) repoInfo(ctx context.Context, repoID, revision string) (*repoInfo, error) {
	u := fmt.Sprintf("%s/api/models/%s/revision/%s", c.endpoint(), repoID, url.PathEscape(revision))
	gctx, guard, stop := startIdleGuard(ctx, c.idleTimeout())
	defer stop()
	req, err := c.newRequest(gctx, http.MethodGet, u, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("hub: GET %s: %w", u, stalledError(gctx, err))
	}
	defer resp.Body.Close()
	guard.touch()
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusError(resp, repoID, revision, "(file list)")
	}
	var info repoInfo
	if err := json.NewDecoder(io.LimitReader(&guardedReader{r: resp.Body, g: guard}, 64<<20)).Decode(&info); err != nil {
		return nil, fmt.Errorf("hub: GET %s: bad JSON: %w", u, stalledError(gctx, err))
	}
	if !commitRe.MatchString(info.SHA) {
		return nil, fmt.Errorf("hub: GET %s: missing or malformed commit sha %q", u, info.SHA)
	}
	for _, s := range info.Siblings {
		if err := validateFilename(s.RFilename); err != nil {
			return nil, fmt.Errorf("hub: GET %s: %w", u, err)
		}
	}
	return &info, nil
}

// The files a causal LM needs besides its weights. config.json is required;
// the others are used when present.
var (
	requiredModelFiles = []string{"config.json"}
	optionalModelFiles = []string{"generation_config.json", "tokenizer.json", "tokenizer_config.json"}
)

const (
	singleWeights = "model.safetensors"
	indexWeights  = "model.safetensors.index.json"
)

// ResolveModel turns a --model argument into a local model directory. An
// existing directory is returned unchanged. Otherwise model is a Hub repo id,
// "Org/Name" or "Org/Name@revision", whose config, tokenizer and safetensors
// weights (single file, or index plus shards) are downloaded, or found in the
// cache, and the snapshot folder holding them is returned.
func ResolveModel(ctx context.Context, c *Client, model string) (string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if st, err := os.Stat(model); err == nil {
		if !st.IsDir() {
			return "", fmt.Errorf("hub: model %q is a file; want a model directory or a Hub repo id", model)
		}
		return model, nil
	}
	repoID, revision, _ := strings.Cut(model, "@")
	if looksLikePath(repoID) || validateRepoID(repoID) != nil {
		return "", fmt.Errorf("hub: model %q: no such directory, and not a Hub repo id (Org/Name)", model)
	}
	if revision == "" {
		revision = DefaultRevision
	}
	// Resolve the revision to one commit with the first file, then fetch the
	// rest at that commit: every file comes from the same snapshot, and files
	// already cached need no further request.
	cfg, err := c.Download(ctx, repoID, revision, requiredModelFiles[0])
	if err != nil {
		return "", err
	}
	snap := filepath.Dir(cfg)
	commit := filepath.Base(snap)
	for _, f := range optionalModelFiles {
		if _, err := c.Download(ctx, repoID, commit, f); err != nil && !skippable(err) {
			return "", err
		}
	}
	_, err = c.Download(ctx, repoID, commit, singleWeights)
	if err == nil {
		return snap, nil
	}
	if !skippable(err) {
		return "", err
	}
	idxPath, ierr := c.Download(ctx, repoID, commit, indexWeights)
	if ierr != nil {
		if skippable(ierr) {
			return "", fmt.Errorf("hub: %s@%s has neither %s nor %s: %w", repoID, revision, singleWeights, indexWeights, err)
		}
		return "", ierr
	}
	shards, err := shardNames(idxPath)
	if err != nil {
		return "", err
	}
	for _, s := range shards {
		if _, err := c.Download(ctx, repoID, commit, s); err != nil {
			return "", err
		}
	}
	return snap, nil
}

// skippable reports whether a missing optional file should just be skipped:
// the Hub says it does not exist, or (offline) it was never cached.
func skippable(err error) bool {
	return errors.Is(err, ErrEntryNotFound) || errors.Is(err, ErrNotCached)
}

func shardNames(indexPath string) ([]string, error) {
	b, err := os.ReadFile(indexPath)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	idx, err := safetensors.ParseIndex(b)
	if err != nil {
		var fe *safetensors.FormatError
		if errors.As(err, &fe) {
			fe.File = indexPath
		}
		return nil, fmt.Errorf("hub: %w", err)
	}
	return idx.Shards(), nil
}

// looksLikePath tells a filesystem path from a repo id: "./x", "../x", "/x",
// "~/x" or more than one separator cannot be a repo id.
func looksLikePath(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~") ||
		strings.Contains(s, `\`) || strings.Count(s, "/") > 1
}
