package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"unicode/utf8"
)

// MaxHeaderSize bounds the JSON header. It matches the limit of the
// reference Rust implementation and stops a corrupt length prefix from
// making us allocate gigabytes before any validation happens.
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header entry holding free-form string metadata.
const metadataKey = "__metadata__"

// TensorInfo describes one tensor as the header declares it.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are absolute byte offsets in the file (the header's
	// data_offsets plus DataOffset), so a reader holding only the header can
	// fetch exactly the bytes of one tensor, e.g. with an HTTP Range request.
	Begin, End int64
}

// NumElements returns the product of the shape (1 for a scalar).
func (t TensorInfo) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Header is the parsed, validated header of a safetensors file.
type Header struct {
	// DataOffset is where the data section starts: 8 + the JSON length.
	DataOffset int64
	// Tensors lists every tensor, sorted by name.
	Tensors []TensorInfo
	// Metadata is the optional __metadata__ map (never nil).
	Metadata map[string]string

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

// Names returns the tensor names in sorted order.
func (h *Header) Names() []string {
	names := make([]string, len(h.Tensors))
	for i, t := range h.Tensors {
		names[i] = t.Name
	}
	return names
}

// ReadHeader reads and validates only the header of a safetensors file of
// the given total size. It touches at most 8 + MaxHeaderSize bytes, so a
// browser can fetch the header with one range request and then stream each
// tensor's [Begin, End) range on its own.
func ReadHeader(r io.ReaderAt, size int64) (*Header, error) {
	if size < 8 {
		return nil, formatErr("", "file is %d bytes, shorter than the 8-byte header length", size)
	}
	var prefix [8]byte
	if _, err := r.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderSize {
		return nil, formatErr("", "header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, formatErr("", "header length %d exceeds the %d bytes after the length prefix", n, size-8)
	}
	buf := make([]byte, n)
	// ReaderAt may report io.EOF alongside a full read that ends the input.
	if m, err := r.ReadAt(buf, 8); m < len(buf) {
		return nil, fmt.Errorf("safetensors: reading %d-byte header: %w", n, err)
	}
	return parseHeader(buf, size-8-int64(n))
}

type rawTensor struct {
	DType   *string  `json:"dtype"`
	Shape   *[]int64 `json:"shape"`
	Offsets *[]int64 `json:"data_offsets"`
}

// parseHeader validates the JSON header given the length of the data
// section that follows it.
func parseHeader(buf []byte, dataLen int64) (*Header, error) {
	if !utf8.Valid(buf) {
		return nil, formatErr("", "header is not valid UTF-8")
	}
	if len(buf) == 0 || buf[0] != '{' {
		return nil, formatErr("", "header does not start with a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	if _, err := dec.Token(); err != nil {
		return nil, formatErr("", "header JSON: %v", err)
	}
	h := &Header{DataOffset: 8 + int64(len(buf)), Metadata: map[string]string{}, index: map[string]int{}}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, formatErr("", "header JSON: %v", err)
		}
		name := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, formatErr(name, "appears twice in the header")
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, formatErr(name, "header JSON: %v", err)
		}
		if name == metadataKey {
			if err := json.Unmarshal(raw, &h.Metadata); err != nil || h.Metadata == nil {
				return nil, formatErr("", "__metadata__ must be an object of strings: %s", clip(raw))
			}
			continue
		}
		info, err := parseTensor(name, raw, dataLen, h.DataOffset)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, info)
	}
	if _, err := dec.Token(); err != nil {
		return nil, formatErr("", "header JSON: %v", err)
	}
	// Only the space padding writers add may follow the object.
	if rest := buf[dec.InputOffset():]; len(bytes.TrimRight(rest, " \t\r\n")) != 0 {
		return nil, formatErr("", "unexpected data after the header object: %s", clip(rest))
	}
	if err := checkOverlaps(h.Tensors); err != nil {
		return nil, err
	}
	sort.Slice(h.Tensors, func(i, j int) bool { return h.Tensors[i].Name < h.Tensors[j].Name })
	for i, t := range h.Tensors {
		h.index[t.Name] = i
	}
	return h, nil
}

func parseTensor(name string, raw json.RawMessage, dataLen, dataOffset int64) (TensorInfo, error) {
	var rt rawTensor
	if err := json.Unmarshal(raw, &rt); err != nil {
		return TensorInfo{}, formatErr(name, "bad entry %s: %v", clip(raw), err)
	}
	switch {
	case rt.DType == nil:
		return TensorInfo{}, formatErr(name, "missing dtype")
	case rt.Shape == nil:
		return TensorInfo{}, formatErr(name, "missing shape")
	case rt.Offsets == nil:
		return TensorInfo{}, formatErr(name, "missing data_offsets")
	}
	dt := DType(*rt.DType)
	size := dt.Size()
	if size == 0 {
		return TensorInfo{}, formatErr(name, "unknown dtype %q", *rt.DType)
	}
	shape := make([]int, len(*rt.Shape))
	elems := int64(1)
	overflow := false
	for i, d := range *rt.Shape {
		if d < 0 {
			return TensorInfo{}, formatErr(name, "negative dimension %d in shape %v", d, *rt.Shape)
		}
		if d > math.MaxInt {
			return TensorInfo{}, formatErr(name, "dimension %d in shape %v does not fit in an int", d, *rt.Shape)
		}
		shape[i] = int(d)
		if d != 0 && elems > math.MaxInt64/d {
			overflow = true
		}
		elems *= d
	}
	// A zero dimension makes the tensor empty however large the others are.
	for _, d := range *rt.Shape {
		if d == 0 {
			overflow, elems = false, 0
		}
	}
	if overflow || elems > math.MaxInt64/int64(size) {
		return TensorInfo{}, formatErr(name, "shape %v of %s overflows the byte length", *rt.Shape, dt)
	}
	want := elems * int64(size)
	offs := *rt.Offsets
	if len(offs) != 2 {
		return TensorInfo{}, formatErr(name, "data_offsets has %d values, want 2", len(offs))
	}
	begin, end := offs[0], offs[1]
	switch {
	case begin < 0 || end < 0:
		return TensorInfo{}, formatErr(name, "negative data_offsets [%d, %d]", begin, end)
	case begin > end:
		return TensorInfo{}, formatErr(name, "data_offsets [%d, %d] end before they begin", begin, end)
	case end > dataLen:
		return TensorInfo{}, formatErr(name, "data_offsets [%d, %d] extend past the %d-byte data section", begin, end, dataLen)
	case end-begin != want:
		return TensorInfo{}, formatErr(name, "data_offsets [%d, %d] hold %d bytes but shape %v of %s needs %d", begin, end, end-begin, *rt.Shape, dt, want)
	}
	return TensorInfo{Name: name, DType: dt, Shape: shape, Begin: dataOffset + begin, End: dataOffset + end}, nil
}

// checkOverlaps rejects tensors sharing bytes: each would alias the other
// and a write through one (or a truncated file) would corrupt both.
func checkOverlaps(ts []TensorInfo) error {
	byStart := make([]TensorInfo, len(ts))
	copy(byStart, ts)
	sort.Slice(byStart, func(i, j int) bool {
		if byStart[i].Begin != byStart[j].Begin {
			return byStart[i].Begin < byStart[j].Begin
		}
		return byStart[i].End < byStart[j].End
	})
	var prev *TensorInfo
	for i := range byStart {
		t := &byStart[i]
		if t.Begin == t.End {
			continue // empty tensors occupy no bytes
		}
		if prev != nil && t.Begin < prev.End {
			return formatErr(t.Name, "bytes [%d, %d) overlap tensor %q at [%d, %d)", t.Begin, t.End, prev.Name, prev.Begin, prev.End)
		}
		prev = t
	}
	return nil
}

// clip shortens raw JSON for error messages.
func clip(b []byte) string {
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}
