package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Writer assembles a GGUF version 3 file: metadata entries and tensors,
// written in the order they were added, as llama.cpp's gguf_write does.
// The alignment is general.alignment when that key is set (a uint32 power
// of two), else DefaultAlignment; the data section and every tensor start
// on it, tensors padded with zeros.
type Writer struct {
	kvs     []KV
	keys    map[string]bool
	tensors []writerTensor
	names   map[string]bool
}

type writerTensor struct {
	name string
	typ  Type
	dims []int64
	size int64
	data []byte
	load func() ([]byte, error) // when data is nil: called by WriteTo
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer {
	return &Writer{keys: map[string]bool{}, names: map[string]bool{}}
}

// Set adds a metadata entry. A key may be set only once.
func (w *Writer) Set(key string, v Value) error {
	if key == "" || len(key) > MaxKeyLength {
		return fmt.Errorf("gguf: metadata key of %d bytes, want 1 to %d", len(key), MaxKeyLength)
	}
	if w.keys[key] {
		return fmt.Errorf("gguf: metadata key %q set twice", key)
	}
	if err := checkValue(v, 0); err != nil {
		return fmt.Errorf("gguf: metadata %s: %w", key, err)
	}
	if key == KeyAlignment {
		if a := v.bits; v.typ != Uint32 || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: %s must be a uint32 power of two", KeyAlignment)
		}
	}
	w.keys[key] = true
	w.kvs = append(w.kvs, KV{Key: key, Value: v})
	return nil
}

func checkValue(v Value, depth int) error {
	switch {
	case v.typ == String || v.typ.size() > 0:
		return nil
	case v.typ != Array:
		return fmt.Errorf("unknown value type %d", uint32(v.typ))
	case depth >= MaxArrayDepth:
		return fmt.Errorf("arrays nested more than %d deep", MaxArrayDepth)
	case v.elem == String:
		if len(v.strs) != v.n {
			return fmt.Errorf("array of %d strings holds %d", v.n, len(v.strs))
		}
	case v.elem == Array:
		if len(v.arrs) != v.n {
			return fmt.Errorf("array of %d arrays holds %d", v.n, len(v.arrs))
		}
		for _, a := range v.arrs {
			if err := checkValue(a, depth+1); err != nil {
				return err
			}
		}
	case v.elem.size() > 0:
		if len(v.raw) != v.n*v.elem.size() {
			return fmt.Errorf("array of %d %s has %d bytes", v.n, v.elem, len(v.raw))
		}
	default:
		return fmt.Errorf("array of unknown value type %d", uint32(v.elem))
	}
	return nil
}

// AddTensor adds a tensor: its ggml type, its dimensions innermost first
// (ggml's ne; a Hugging Face [out, in] matrix is [in, out]) and its bytes,
// which must be exactly the size the type and dimensions make. The bytes
// are not copied: they must stay unchanged until WriteTo returns.
func (w *Writer) AddTensor(name string, typ Type, dims []int64, data []byte) error {
	size, err := w.checkTensor(name, typ, dims)
	if err != nil {
		return err
	}
	if int64(len(data)) != size {
		return fmt.Errorf("gguf: tensor %q (%s, dims %v) has %d bytes, want %d", name, typ, dims, len(data), size)
	}
	w.names[name] = true
	w.tensors = append(w.tensors, writerTensor{name: name, typ: typ, dims: append([]int64(nil), dims...), size: size, data: data})
	return nil
}

// AddTensorFunc adds a tensor whose bytes load produces when WriteTo
// reaches it, so a file of converted tensors is written holding one
// tensor at a time. load must return exactly the size the type and
// dimensions make; its error ends WriteTo.
func (w *Writer) AddTensorFunc(name string, typ Type, dims []int64, load func() ([]byte, error)) error {
	if load == nil {
		return fmt.Errorf("gguf: tensor %q: nil load function", name)
	}
	size, err := w.checkTensor(name, typ, dims)
	if err != nil {
		return err
	}
	w.names[name] = true
	w.tensors = append(w.tensors, writerTensor{name: name, typ: typ, dims: append([]int64(nil), dims...), size: size, load: load})
	return nil
}

// checkTensor validates a tensor's name, type and dimensions and returns
// its size in bytes.
func (w *Writer) checkTensor(name string, typ Type, dims []int64) (int64, error) {
	switch {
	case len(name) > MaxTensorName:
		return 0, fmt.Errorf("gguf: tensor name %q is longer than %d bytes", name, MaxTensorName)
	case w.names[name]:
		return 0, fmt.Errorf("gguf: tensor %q added twice", name)
	case !typ.Known():
		return 0, fmt.Errorf("gguf: tensor %q: unknown ggml type %d", name, uint32(typ))
	case len(dims) < 1 || len(dims) > MaxDims:
		return 0, fmt.Errorf("gguf: tensor %q has %d dimensions, want 1 to %d", name, len(dims), MaxDims)
	}
	n := int64(1)
	for _, d := range dims {
		if d <= 0 || n > (1<<62)/d {
			return 0, fmt.Errorf("gguf: tensor %q: dimensions %v", name, dims)
		}
		n *= d
	}
	if dims[0]%typ.BlockValues() != 0 {
		return 0, fmt.Errorf("gguf: tensor %q of type %s: rows of %d values, not a multiple of the block of %d",
			name, typ, dims[0], typ.BlockValues())
	}
	return n / typ.BlockValues() * typ.BlockBytes(), nil
}

// WriteTo writes the file.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	align := int64(DefaultAlignment)
	for _, kv := range w.kvs {
		if kv.Key == KeyAlignment {
			align = int64(kv.Value.bits)
		}
	}
	e := &encoder{w: bufio.NewWriterSize(out, 1<<20)}
	e.raw([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.typ))
		e.value(kv.Value)
	}
	off := int64(0)
	for _, t := range w.tensors {
		e.str(t.name)
		e.u32(uint32(len(t.dims)))
		for _, d := range t.dims {
			e.u64(uint64(d))
		}
		e.u32(uint32(t.typ))
		e.u64(uint64(off))
		off += pad(t.size, align)
	}
	e.pad(align)
	for _, t := range w.tensors {
		data := t.data
		if data == nil && t.load != nil && e.err == nil {
			var err error
			if data, err = t.load(); err != nil {
				return e.n, fmt.Errorf("gguf: tensor %q: %w", t.name, err)
			}
			if int64(len(data)) != t.size {
				return e.n, fmt.Errorf("gguf: tensor %q: produced %d bytes, want %d", t.name, len(data), t.size)
			}
		}
		e.raw(data)
		e.pad(align)
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return e.n, fmt.Errorf("gguf: writing: %w", e.err)
	}
	return e.n, nil
}

func pad(n, align int64) int64 { return (n + align - 1) / align * align }

// encoder writes little-endian fields, remembering the first error.
type encoder struct {
	w   *bufio.Writer
	n   int64
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err != nil {
		return
	}
	m, err := e.w.Write(b)
	e.n += int64(m)
	e.err = err
}

func (e *encoder) u32(x uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], x)
	e.raw(e.buf[:4])
}

func (e *encoder) u64(x uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], x)
	e.raw(e.buf[:8])
}

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		m, err := e.w.WriteString(s)
		e.n += int64(m)
		e.err = err
	}
}

func (e *encoder) pad(align int64) {
	var zeros [64]byte
	for e.n%align != 0 && e.err == nil {
		e.raw(zeros[:min(int64(len(zeros)), align-e.n%align)])
	}
}

// value writes v without its type tag.
func (e *encoder) value(v Value) {
	switch {
	case v.typ == String:
		e.str(v.str)
	case v.typ == Array:
		e.u32(uint32(v.elem))
		e.u64(uint64(v.n))
		switch v.elem {
		case String:
			for _, s := range v.strs {
				e.str(s)
			}
		case Array:
			for _, a := range v.arrs {
				e.value(a)
			}
		default:
			e.raw(v.raw)
		}
	default:
		binary.LittleEndian.PutUint64(e.buf[:], v.bits)
		e.raw(e.buf[:v.typ.size()])
	}
}
