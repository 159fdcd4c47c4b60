package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// Write writes tensors, in the given order, as a safetensors file. Each
// tensor's Data must hold exactly NumElements()*DType.Size() bytes. The header
// is space-padded to a multiple of 8 bytes so the data section starts
// 8-byte aligned, as the reference writer does.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			hdr.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		sep()
		hdr.WriteString(`"__metadata__":{`)
		for i, k := range sortedKeys(metadata) {
			if i > 0 {
				hdr.WriteByte(',')
			}
			writeJSONString(&hdr, k)
			hdr.WriteByte(':')
			writeJSONString(&hdr, metadata[k])
		}
		hdr.WriteByte('}')
	}
	seen := map[string]bool{}
	var offset int64
	for _, t := range tensors {
		if t.Name == metadataKey {
			return fmt.Errorf("safetensors: write: tensor name %q is reserved", t.Name)
		}
		if seen[t.Name] {
			return fmt.Errorf("safetensors: write: tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		size := t.DType.Size()
		if size == 0 {
			return fmt.Errorf("safetensors: write: tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		n := int64(1)
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("safetensors: write: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
			}
			n *= int64(d)
		}
		if want := n * int64(size); int64(len(t.Data)) != want {
			return fmt.Errorf("safetensors: write: tensor %q: %d bytes of data, shape %v of %s needs %d", t.Name, len(t.Data), t.Shape, t.DType, want)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		sep()
		writeJSONString(&hdr, t.Name)
		fmt.Fprintf(&hdr, `:{"dtype":%q,"shape":`, t.DType)
		js, _ := json.Marshal(shape) // []int always marshals
		hdr.Write(js)
		fmt.Fprintf(&hdr, `,"data_offsets":[%d,%d]}`, offset, offset+int64(len(t.Data)))
		offset += int64(len(t.Data))
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(hdr.Len()))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: write: tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	js, _ := json.Marshal(s) // strings always marshal
	b.Write(js)
}
