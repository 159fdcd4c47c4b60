//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package gguf

import (
	"fmt"
	"io"
	"math"
	"os"
)

// mapFile reads the whole file: without mmap (js/wasm, windows, plan9) this
// is the portable fallback, costing one heap copy of the checkpoint.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size > math.MaxInt {
		return nil, nil, fmt.Errorf("file of %d bytes is too large to read", size)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), data); err != nil {
		return nil, nil, fmt.Errorf("reading: %w", err)
	}
	return data, nil, nil
}
