package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The file names Hugging Face uses for single-file and sharded checkpoints.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Checkpoint is a model's weights, stored in one safetensors file or sharded
// across several.
type Checkpoint struct {
	dir   string
	files []*File
	owner map[string]*File // tensor name -> file holding it
	names []string
	meta  map[string]string
}

// Index is a parsed model.safetensors.index.json.
type Index struct {
	// WeightMap maps each tensor name to the shard file holding it.
	WeightMap map[string]string `json:"weight_map"`
	// Metadata is free-form (save_pretrained writes "total_size").
	Metadata map[string]any `json:"metadata"`
}

// ParseIndex parses and validates a sharded checkpoint's index: the weight
// map must be non-empty and name only shard files that ValidShardName
// accepts, since shards must sit next to the index (a name like "../x"
// would let a downloaded index point the loader at arbitrary files, and
// one like "http:evil.example" a browser at another origin).
func ParseIndex(data []byte) (*Index, error) {
	var idx Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, &FormatError{Problem: fmt.Sprintf("bad index JSON: %v", err)}
	}
	if len(idx.WeightMap) == 0 {
		return nil, &FormatError{Problem: "weight_map is missing or empty"}
	}
	for _, name := range sortedKeys(idx.WeightMap) {
		if err := ValidShardName(idx.WeightMap[name]); err != nil {
			return nil, &FormatError{Tensor: name, Problem: err.Error()}
		}
	}
	return &idx, nil
}

// MaxShardName is the longest shard file name accepted, in bytes.
const MaxShardName = 255

// ValidShardName checks that name, a shard file named by an index, is a
// plain file name in the checkpoint's directory: letters, digits, '.', '_'
// and '-', not starting with '.' or '-', ending in ".safetensors", at most
// MaxShardName bytes. Hugging Face names its shards
// "model-00001-of-00004.safetensors". Nothing else can then be read as a
// path, a URL or a scheme: web/nanovllm.js applies the same rule before
// resolving a shard against the model's URL.
func ValidShardName(name string) error {
	ok := len(name) > len(".safetensors") && len(name) <= MaxShardName && strings.HasSuffix(name, ".safetensors")
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		case (c == '.' || c == '-') && i > 0:
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("shard %q is not a file name in the checkpoint directory (want letters, digits, '.', '_' and '-', ending in .safetensors, at most %d bytes)", name, MaxShardName)
	}
	return nil
}

// Shards returns the distinct shard file names, sorted.
func (ix *Index) Shards() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ix.WeightMap {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// OpenDir opens the checkpoint in a model directory: the shards listed by
// model.safetensors.index.json when it exists, otherwise model.safetensors.
// A path to a single .safetensors file is accepted too.
func OpenDir(dir string) (*Checkpoint, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.IsDir() {
		f, err := Open(dir)
		if err != nil {
			return nil, err
		}
		return newCheckpoint(dir, []*File{f}, nil)
	}
	idxPath := filepath.Join(dir, IndexFileName)
	raw, err := os.ReadFile(idxPath)
	switch {
	case err == nil:
		return openSharded(dir, idxPath, raw)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	single := filepath.Join(dir, SingleFileName)
	f, err := Open(single)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("safetensors: %s: %w (want %s or %s)", dir, ErrNoCheckpoint, SingleFileName, IndexFileName)
	}
	if err != nil {
		return nil, err
	}
	return newCheckpoint(dir, []*File{f}, nil)
}

func openSharded(dir, idxPath string, raw []byte) (*Checkpoint, error) {
	idx, err := ParseIndex(raw)
	if err != nil {
		return nil, withFile(err, idxPath)
	}
	byShard := map[string]*File{}
	var files []*File
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, shard := range idx.Shards() {
		f, err := Open(filepath.Join(dir, shard))
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("%w (listed in %s)", err, IndexFileName)
		}
		byShard[shard] = f
		files = append(files, f)
	}
	// The index is the contract: every tensor it names must be in its shard.
	for _, name := range sortedKeys(idx.WeightMap) {
		f := byShard[idx.WeightMap[name]]
		if _, ok := f.header.Lookup(name); !ok {
			closeAll()
			return nil, &FormatError{File: f.path, Tensor: name, Problem: fmt.Sprintf("listed in %s but missing from the shard", IndexFileName)}
		}
	}
	return newCheckpoint(dir, files, idx.WeightMap)
}

// newCheckpoint indexes the tensors of files. With a weight map, a tensor is
// served from the shard the map names; tensors a shard holds beyond the map
// are still reachable, but a name in two files without a map entry to
// disambiguate is an error.
func newCheckpoint(dir string, files []*File, weightMap map[string]string) (*Checkpoint, error) {
	c := &Checkpoint{dir: dir, files: files, owner: map[string]*File{}, meta: map[string]string{}}
	for _, f := range files {
		for k, v := range f.header.Metadata {
			c.meta[k] = v
		}
		for _, t := range f.header.Tensors {
			if prev, dup := c.owner[t.Name]; dup {
				if shard, ok := weightMap[t.Name]; ok {
					if filepath.Base(f.path) == shard {
						c.owner[t.Name] = f
					}
					continue
				}
				c.Close()
				return nil, &FormatError{File: f.path, Tensor: t.Name, Problem: fmt.Sprintf("also present in %s", prev.path)}
			}
			c.owner[t.Name] = f
		}
	}
	c.names = sortedKeys(c.owner)
	return c, nil
}

// Dir returns the directory (or file) the checkpoint was opened from.
func (c *Checkpoint) Dir() string { return c.dir }

// Names returns every tensor name in sorted order.
func (c *Checkpoint) Names() []string { return append([]string(nil), c.names...) }

// Metadata returns the union of the files' __metadata__ maps.
func (c *Checkpoint) Metadata() map[string]string { return c.meta }

// Tensor returns the named tensor, or an error wrapping ErrTensorNotFound.
func (c *Checkpoint) Tensor(name string) (Tensor, error) {
	f, ok := c.owner[name]
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors: %w: %q in %s", ErrTensorNotFound, name, c.dir)
	}
	t, ok := f.Tensor(name)
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q in %s: checkpoint is closed", name, c.dir)
	}
	return t, nil
}

// Close closes every file of the checkpoint.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
