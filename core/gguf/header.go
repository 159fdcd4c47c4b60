package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strconv"
)

// Format constants.
const (
	// Magic is the first four bytes of every GGUF file.
	Magic = "GGUF"
	// Version is the format version Writer writes. Open reads 2 and 3,
	// which differ from each other only in nothing this package reads
	// (version 1 had 32-bit counts and is not supported).
	Version = 3
	// DefaultAlignment is the alignment of the data section and of every
	// tensor's offset when general.alignment is absent.
	DefaultAlignment = 32
	// KeyAlignment is the metadata key that sets another alignment.
	KeyAlignment = "general.alignment"

	// MaxDims is the most dimensions a tensor may have (GGML_MAX_DIMS).
	MaxDims = 4
	// MaxTensorName is the longest tensor name llama.cpp accepts, in bytes
	// (GGML_MAX_NAME - 1).
	MaxTensorName = 63
	// MaxKeyLength is the longest metadata key the specification allows.
	MaxKeyLength = 1<<16 - 1
	// MaxArrayDepth bounds how deeply metadata arrays may nest.
	MaxArrayDepth = 8
)

// TensorInfo describes one tensor as the file declares it.
type TensorInfo struct {
	Name string
	Type Type
	// Dims are ggml's ne: the dimensions innermost first, so a Hugging
	// Face [out, in] matrix has Dims [in, out]. Shape gives the row-major
	// order.
	Dims []int64
	// Offset is the stored offset, relative to the data section.
	Offset int64
	// Begin and End are the absolute byte range of the data in the file.
	Begin, End int64
}

// NumElements is the product of the dimensions.
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Shape returns the dimensions in row-major order (outermost first), the
// order of Hugging Face shapes.
func (t TensorInfo) Shape() []int {
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[len(s)-1-i] = int(d)
	}
	return s
}

// Header is the parsed, validated header of a GGUF file.
type Header struct {
	Version uint32
	// Alignment is general.alignment, or DefaultAlignment.
	Alignment int64
	// DataOffset is where the data section starts.
	DataOffset int64
	Metadata   Metadata
	// Tensors lists the tensors in file order.
	Tensors []TensorInfo

	index map[string]int
}

// Lookup returns the description of the named tensor.
func (h *Header) Lookup(name string) (TensorInfo, bool) {
	i, ok := h.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return h.Tensors[i], true
}

// quote quotes a name from the file for an error message, cut to 64
// bytes: keys may be 64 KiB long and hold any bytes.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}

// reader reads little-endian fields from the file's bytes, refusing to
// read past the end.
type reader struct {
	data []byte
	pos  int64
	// size is the length of the whole file: len(data), or more when data
	// is only its first bytes (ParsePrefix).
	size int64
}

func (r *reader) remaining() int64 { return int64(len(r.data)) - r.pos }

// short reports whether n more bytes are past the end of the prefix held
// but inside the file: the caller must read more of the file.
func (r *reader) short(n int64) bool {
	return n >= 0 && n > r.remaining() && n <= r.size-r.pos
}

// need fails unless n more bytes remain.
func (r *reader) need(n int64, what string) error {
	if r.short(n) {
		return fmt.Errorf("gguf: %s at byte %d: %w", what, r.pos, ErrShortPrefix)
	}
	if n < 0 || n > r.remaining() {
		return formatErr(r.pos, "%s needs %d bytes, but the file has only %d left", what, n, r.size-r.pos)
	}
	return nil
}

func (r *reader) bytes(n int64, what string) ([]byte, error) {
	if err := r.need(n, what); err != nil {
		return nil, err
	}
	b := r.data[r.pos : r.pos+n]
	r.pos += n
	return b, nil
}

func (r *reader) u32(what string) (uint32, error) {
	b, err := r.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *reader) u64(what string) (uint64, error) {
	b, err := r.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a u64 count of items that take at least minSize bytes each,
// and refuses one that the rest of the file cannot hold: this is what
// keeps a hostile count from making us allocate.
func (r *reader) count(minSize int64, what string) (int, error) {
	at := r.pos
	n, err := r.u64(what)
	if err != nil {
		return 0, err
	}
	if rem := r.remaining(); n > uint64(rem/minSize) {
		if n <= uint64((r.size-r.pos)/minSize) && r.size > int64(len(r.data)) {
			return 0, fmt.Errorf("gguf: %s %d at byte %d: %w", what, n, at, ErrShortPrefix)
		}
		rem = r.size - r.pos
		return 0, formatErr(at, "%s is %d, but the %d bytes left in the file hold at most %d", what, n, rem, rem/minSize)
	}
	return int(n), nil
}

// str reads a u64-length-prefixed string.
func (r *reader) str(what string) (string, error) {
	at := r.pos
	n, err := r.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(r.remaining()) {
		if n <= uint64(r.size-r.pos) {
			return "", fmt.Errorf("gguf: %s at byte %d: %w", what, at, ErrShortPrefix)
		}
		return "", formatErr(at, "%s is %d bytes long, but the file has only %d left", what, n, r.size-r.pos)
	}
	b, _ := r.bytes(int64(n), what)
	return string(b), nil
}

// ParseHeader parses and validates the header of a GGUF file held in data
// (the whole file: tensor ranges are checked against its length).
func ParseHeader(data []byte) (*Header, error) {
	return parseHeader(data, int64(len(data)))
}

// parseHeader parses the header from data, the first bytes of a file of
// size bytes (size >= len(data)).
func parseHeader(data []byte, size int64) (*Header, error) {
	r := &reader{data: data, size: size}
	if r.short(4) {
		return nil, fmt.Errorf("gguf: the magic: %w", ErrShortPrefix)
	}
	if len(data) < 4 || string(data[:4]) != Magic {
		n := min(len(data), 4)
		return nil, formatErr(0, "not a GGUF file: starts with %q, want %q", data[:n], Magic)
	}
	r.pos = 4
	h := &Header{Alignment: DefaultAlignment}
	var err error
	if h.Version, err = r.u32("version"); err != nil {
		return nil, err
	}
	switch {
	case h.Version == 2 || h.Version == 3:
	case h.Version&0xffff == 0 && h.Version != 0:
		return nil, formatErr(4, "version %d: a big-endian file? only little-endian GGUF is supported", h.Version)
	case h.Version == 1:
		return nil, fmt.Errorf("gguf: version 1 (32-bit counts): %w (only versions 2 and 3)", ErrUnsupported)
	default:
		return nil, fmt.Errorf("gguf: version %d: %w (only versions 2 and 3)", h.Version, ErrUnsupported)
	}
	// A tensor info takes at least 32 bytes (empty name, one dim, type,
	// offset), a metadata entry 13 (empty key, type, one byte).
	nTensors, err := r.count(32, "tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := r.count(13, "metadata count")
	if err != nil {
		return nil, err
	}
	if err := h.readMetadata(r, nKV); err != nil {
		return nil, err
	}
	if err := h.readAlignment(); err != nil {
		return nil, err
	}
	if err := h.readTensorInfos(r, nTensors); err != nil {
		return nil, err
	}
	return h, h.placeTensors(size, r.pos)
}

func (h *Header) readMetadata(r *reader, n int) error {
	h.Metadata = Metadata{kvs: make([]KV, 0, n), index: make(map[string]int, n)}
	for i := 0; i < n; i++ {
		at := r.pos
		key, err := r.str("metadata key")
		if err != nil {
			return err
		}
		if key == "" || len(key) > MaxKeyLength {
			return formatErr(at, "metadata key %d is %d bytes long, want 1 to %d", i, len(key), MaxKeyLength)
		}
		if _, dup := h.Metadata.index[key]; dup {
			return formatErr(at, "metadata key %s appears twice", quote(key))
		}
		t, err := r.u32("type of metadata " + quote(key))
		if err != nil {
			return err
		}
		v, err := readValue(r, ValueType(t), "metadata "+quote(key), 0)
		if err != nil {
			return err
		}
		h.Metadata.index[key] = len(h.Metadata.kvs)
		h.Metadata.kvs = append(h.Metadata.kvs, KV{Key: key, Value: v})
	}
	return nil
}

// readValue reads one value of type t; what names it in errors.
func readValue(r *reader, t ValueType, what string, depth int) (Value, error) {
	at := r.pos
	switch {
	case t == String:
		s, err := r.str(what)
		return Value{typ: String, str: s}, err
	case t == Array:
		return readArray(r, what, depth)
	case t.size() > 0:
		b, err := r.bytes(int64(t.size()), what)
		if err != nil {
			return Value{}, err
		}
		v := Value{typ: t, bits: readUint(b, t.size())}
		if t == Bool && v.bits > 1 {
			return Value{}, formatErr(at, "%s: bool byte is %d, want 0 or 1", what, v.bits)
		}
		return v, nil
	}
	return Value{}, formatErr(at-4, "%s has unknown value type %d", what, uint32(t))
}

func readArray(r *reader, what string, depth int) (Value, error) {
	if depth >= MaxArrayDepth {
		return Value{}, formatErr(r.pos, "%s: arrays nested more than %d deep", what, MaxArrayDepth)
	}
	at := r.pos
	et, err := r.u32(what + " element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	if elem.minSize() == 0 {
		return Value{}, formatErr(at, "%s: array of unknown value type %d", what, et)
	}
	n, err := r.count(int64(elem.minSize()), what+" array length")
	if err != nil {
		return Value{}, err
	}
	v := Value{typ: Array, elem: elem, n: n}
	switch elem {
	case String:
		v.strs = make([]string, n)
		for i := range v.strs {
			if v.strs[i], err = r.str(what); err != nil {
				return Value{}, err
			}
		}
	case Array:
		v.arrs = make([]Value, n)
		for i := range v.arrs {
			if v.arrs[i], err = readArray(r, what, depth+1); err != nil {
				return Value{}, err
			}
		}
	default:
		b, _ := r.bytes(int64(n)*int64(elem.size()), what) // count checked the length
		if elem == Bool {
			for i, x := range b {
				if x > 1 {
					return Value{}, formatErr(r.pos-int64(len(b))+int64(i), "%s: bool byte is %d, want 0 or 1", what, x)
				}
			}
		}
		// A copy, so the metadata outlives the file's mapping.
		v.raw = append([]byte(nil), b...)
	}
	return v, nil
}

// readAlignment applies general.alignment: a uint32 power of two.
func (h *Header) readAlignment() error {
	v, ok := h.Metadata.Lookup(KeyAlignment)
	if !ok {
		return nil
	}
	if v.Type() != Uint32 {
		return formatErr(-1, "%s is a %s, want uint32", KeyAlignment, v.Type())
	}
	a := v.bits
	if a == 0 || a&(a-1) != 0 {
		return formatErr(-1, "%s = %d is not a power of two", KeyAlignment, a)
	}
	h.Alignment = int64(a)
	return nil
}

func (h *Header) readTensorInfos(r *reader, n int) error {
	h.Tensors = make([]TensorInfo, 0, n)
	h.index = make(map[string]int, n)
	for i := 0; i < n; i++ {
		at := r.pos
		name, err := r.str("tensor name")
		if err != nil {
			return err
		}
		if len(name) > MaxTensorName {
			return formatErr(at, "tensor %d's name is %d bytes long, the limit is %d", i, len(name), MaxTensorName)
		}
		if _, dup := h.index[name]; dup {
			return formatErr(at, "tensor %q appears twice", name)
		}
		t := TensorInfo{Name: name}
		nd, err := r.u32("dimension count of tensor " + quote(name))
		if err != nil {
			return err
		}
		if nd < 1 || nd > MaxDims {
			return formatErr(r.pos-4, "tensor %q has %d dimensions, want 1 to %d", name, nd, MaxDims)
		}
		t.Dims = make([]int64, nd)
		elems := uint64(1)
		for j := range t.Dims {
			d, err := r.u64("dimensions of tensor " + quote(name))
			if err != nil {
				return err
			}
			hi, lo := bits.Mul64(elems, d)
			if d == 0 || hi != 0 || lo > math.MaxInt64 {
				return formatErr(r.pos-8, "tensor %q: dimension %d is %d, want > 0 with a product that fits 63 bits", name, j, d)
			}
			elems = lo
			t.Dims[j] = int64(d)
		}
		typ, err := r.u32("type of tensor " + quote(name))
		if err != nil {
			return err
		}
		t.Type = Type(typ)
		if !t.Type.Known() {
			return formatErr(r.pos-4, "tensor %q has unknown ggml type %d", name, typ)
		}
		if bv := t.Type.BlockValues(); t.Dims[0]%bv != 0 {
			return formatErr(r.pos-4, "tensor %q of type %s has rows of %d values, not a multiple of its block of %d",
				name, t.Type, t.Dims[0], bv)
		}
		off, err := r.u64("offset of tensor " + quote(name))
		if err != nil {
			return err
		}
		if off > math.MaxInt64 {
			return formatErr(r.pos-8, "tensor %q has offset %d", name, off)
		}
		t.Offset = int64(off)
		h.index[name] = len(h.Tensors)
		h.Tensors = append(h.Tensors, t)
	}
	return nil
}

// placeTensors computes each tensor's byte range and checks that it is
// aligned, inside the file, and clear of every other tensor.
func (h *Header) placeTensors(size, end int64) error {
	h.DataOffset = (end + h.Alignment - 1) / h.Alignment * h.Alignment
	if len(h.Tensors) == 0 {
		return nil
	}
	if h.DataOffset > size {
		return formatErr(end, "the data section would start at byte %d, past the end of the %d-byte file", h.DataOffset, size)
	}
	dataSize := size - h.DataOffset
	for i := range h.Tensors {
		t := &h.Tensors[i]
		if t.Offset%h.Alignment != 0 {
			return formatErr(-1, "tensor %q: offset %d is not a multiple of the alignment %d", t.Name, t.Offset, h.Alignment)
		}
		blocks := t.NumElements() / t.Type.BlockValues()
		bb := t.Type.BlockBytes()
		if blocks > dataSize/bb || t.Offset > dataSize-blocks*bb {
			return formatErr(-1, "tensor %q (%s, dims %v) runs past the end of the file: %d blocks of %d bytes at offset %d of a %d-byte data section",
				t.Name, t.Type, t.Dims, blocks, bb, t.Offset, dataSize)
		}
		t.Begin = h.DataOffset + t.Offset
		t.End = t.Begin + blocks*bb
	}
	order := make([]int, len(h.Tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return h.Tensors[order[a]].Begin < h.Tensors[order[b]].Begin })
	for i := 1; i < len(order); i++ {
		a, b := h.Tensors[order[i-1]], h.Tensors[order[i]]
		if a.End > b.Begin {
			return formatErr(-1, "tensors %q [%d, %d) and %q [%d, %d) overlap", a.Name, a.Begin, a.End, b.Name, b.Begin, b.End)
		}
	}
	return nil
}
