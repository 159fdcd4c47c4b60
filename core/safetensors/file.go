package safetensors

import (
	"bytes"
	"fmt"
	"os"
	"sort"
)

// Tensor is one tensor's description and its raw little-endian bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	// Data has exactly NumElements()*DType.Size() bytes. For a file from
	// Open it points into a read-only memory mapping: writing to it faults,
	// and it is invalid after the File is closed.
	Data []byte
}

// NumElements returns the product of the shape (1 for a scalar).
func (t Tensor) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is an open safetensors file whose header has been validated.
type File struct {
	path   string
	data   []byte // the whole file
	header *Header
	unmap  func() error // releases data; nil when data is ordinary memory
}

// Open opens and validates a safetensors file. Where the platform supports
// it the file is memory-mapped, so opening a multi-gigabyte checkpoint costs
// no reads until tensors are used; otherwise it is read into memory.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s: %w", path, &FormatError{Problem: "not a regular file"})
	}
	// Validate the header with ordinary reads first: a corrupt file is
	// rejected without mapping it, and the header is all we need to read.
	h, err := ReadHeader(f, st.Size())
	if err != nil {
		return nil, withFile(err, path)
	}
	data, unmap, err := mapFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return &File{path: path, data: data, header: h, unmap: unmap}, nil
}

// Parse validates a safetensors file held in memory. The returned File
// aliases data: tensors are slices of it, nothing is copied.
func Parse(data []byte) (*File, error) {
	h, err := ReadHeader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	return &File{data: data, header: h}, nil
}

// Header returns the validated header.
func (f *File) Header() *Header { return f.header }

// Names returns the tensor names in sorted order.
func (f *File) Names() []string { return f.header.Names() }

// Metadata returns the file's __metadata__ map (empty when absent).
func (f *File) Metadata() map[string]string { return f.header.Metadata }

// Tensor returns the named tensor. Its Data aliases the file's bytes.
func (f *File) Tensor(name string) (Tensor, bool) {
	info, ok := f.header.Lookup(name)
	if !ok || f.data == nil {
		return Tensor{}, false
	}
	// The full slice expression caps the capacity so an append by the
	// caller cannot scribble over the next tensor.
	return Tensor{Name: info.Name, DType: info.DType, Shape: info.Shape, Data: f.data[info.Begin:info.End:info.End]}, true
}

// Close releases the file's memory mapping. Tensor data obtained from the
// file must not be used afterwards. Close is idempotent.
func (f *File) Close() error {
	f.data = nil
	if f.unmap == nil {
		return nil
	}
	unmap := f.unmap
	f.unmap = nil
	if err := unmap(); err != nil {
		return fmt.Errorf("safetensors: closing %s: %w", f.path, err)
	}
	return nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
