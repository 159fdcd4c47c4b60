package gguf

import "fmt"

// ParsePrefix parses and validates the header of a GGUF file of size bytes
// from prefix, its first bytes, without the rest of the file: a browser
// reads a multi-gigabyte download's header this way and streams the
// tensors elsewhere (into GPU buffers) without holding the file in memory.
//
// When the header continues past the prefix it fails with an error
// wrapping ErrShortPrefix: read more and call it again. Counts and lengths
// are checked against the bytes held before anything is allocated, so a
// hostile count costs no more memory than the prefix itself; tensor ranges
// are checked against size, so pass the real size when it is known (a
// caller that does not know it passes a bound and checks the tensors'
// extent once the file has been read). The File has the header and
// metadata only: Tensor and RawData fail.
func ParsePrefix(prefix []byte, size int64) (*File, error) {
	if size < int64(len(prefix)) {
		return nil, fmt.Errorf("gguf: a %d-byte prefix of a %d-byte file: %w", len(prefix), size, ErrInvalid)
	}
	h, err := parseHeader(prefix, size)
	if err != nil {
		return nil, err
	}
	return &File{header: h, headerOnly: true}, nil
}

// End is the end of the last tensor's data: the least size the file can
// have (its data offset when it has no tensors).
func (h *Header) End() int64 {
	end := h.DataOffset
	for _, t := range h.Tensors {
		end = max(end, t.End)
	}
	return end
}
