package gguf

import (
	"fmt"
	"os"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Tensor is one tensor as a device takes it.
type Tensor struct {
	Info  TensorInfo
	DType device.DType
	// Shape is row-major (Hugging Face order): Info.Dims reversed.
	Shape []int
	// Data is the tensor's bytes exactly as stored (ggml's blocks for the
	// quantized types). For a file from Open it points into a read-only
	// memory mapping: writing to it faults, and it is invalid after the
	// File is closed.
	Data []byte
}

// File is an open GGUF file whose header has been validated.
type File struct {
	path   string
	data   []byte
	header *Header
	unmap  func() error
	// headerOnly marks a File from ParsePrefix, which has no tensor data.
	headerOnly bool
}

func (f *File) noData() string {
	if f.headerOnly {
		return "only the file's header was read"
	}
	return "the file is closed"
}

// Open opens and validates a GGUF file. Where the platform supports it the
// file is memory-mapped, so tensors cost no reads until they are used;
// otherwise (js/wasm, Windows) it is read into memory.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, &FormatError{File: path, Offset: -1, Problem: "not a regular file"}
	}
	if st.Size() == 0 {
		return nil, &FormatError{File: path, Offset: -1, Problem: "the file is empty"}
	}
	data, unmap, err := mapFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	h, err := ParseHeader(data)
	if err != nil {
		if unmap != nil {
			_ = unmap()
		}
		return nil, withFile(err, path)
	}
	return &File{path: path, data: data, header: h, unmap: unmap}, nil
}

// Parse validates a GGUF file held in memory. The File aliases data:
// tensors are slices of it, nothing is copied.
func Parse(data []byte) (*File, error) {
	h, err := ParseHeader(data)
	if err != nil {
		return nil, err
	}
	return &File{data: data, header: h}, nil
}

// Header returns the validated header.
func (f *File) Header() *Header { return f.header }

// Metadata returns the file's metadata.
func (f *File) Metadata() *Metadata { return &f.header.Metadata }

// Tensors returns the tensor descriptions in file order (the File's own
// slice: do not modify it).
func (f *File) Tensors() []TensorInfo { return f.header.Tensors }

// Tensor returns the named tensor, its data aliasing the file. It fails
// with ErrNotFound for a missing tensor and ErrUnsupported for a ggml type
// devices do not take (the error names the type).
func (f *File) Tensor(name string) (Tensor, error) {
	info, ok := f.header.Lookup(name)
	if !ok {
		return Tensor{}, fmt.Errorf("gguf: tensor %q: %w", name, ErrNotFound)
	}
	if f.data == nil {
		return Tensor{}, fmt.Errorf("gguf: tensor %q: %s", name, f.noData())
	}
	dt, ok := info.Type.DType()
	if !ok {
		return Tensor{}, fmt.Errorf("gguf: tensor %q has type %s: %w tensor type (only f32, f16, bf16, q8_0, q4_0, q4_K, q6_K)",
			name, info.Type, ErrUnsupported)
	}
	// The full slice expression caps the capacity so an append by the
	// caller cannot scribble over the next tensor.
	return Tensor{Info: info, DType: dt, Shape: info.Shape(), Data: f.data[info.Begin:info.End:info.End]}, nil
}

// RawData returns the stored bytes of the named tensor whatever its type
// (for copying a tensor to another file, or checksumming it).
func (f *File) RawData(name string) ([]byte, error) {
	info, ok := f.header.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, ErrNotFound)
	}
	if f.data == nil {
		return nil, fmt.Errorf("gguf: tensor %q: %s", name, f.noData())
	}
	return f.data[info.Begin:info.End:info.End], nil
}

// DropMetadata lets go of the file's metadata once nothing will read it
// again: a tokenizer's vocabulary and merges are megabytes of strings that
// a loaded model no longer needs. The tensor table and data stay readable;
// Metadata is empty afterwards.
func (f *File) DropMetadata() { f.header.Metadata = Metadata{} }

// Close releases the file's memory mapping. Tensor data obtained from the
// file must not be used afterwards. Metadata stays valid. Close is
// idempotent.
func (f *File) Close() error {
	f.data = nil
	if f.unmap == nil {
		return nil
	}
	unmap := f.unmap
	f.unmap = nil
	if err := unmap(); err != nil {
		return fmt.Errorf("gguf: closing %s: %w", f.path, err)
	}
	return nil
}
