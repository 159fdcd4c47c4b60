//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package safetensors

import (
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenDoesNotCopyWeights pins the property the CPU engine's memory
// budget relies on: opening a checkpoint and taking every tensor allocates
// next to nothing on the Go heap, because the data stays in the mapping.
func TestOpenDoesNotCopyWeights(t *testing.T) {
	const path = "../../testdata/qwen3-tiny-vocab/model.safetensors" // 9.7 MB
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, err := OpenDir(path)
	require.NoError(t, err)
	var bytes int
	for _, n := range c.Names() {
		tn, err := c.Tensor(n)
		require.NoError(t, err)
		bytes += len(tn.Data)
	}
	runtime.ReadMemStats(&after)
	require.NoError(t, c.Close())
	allocated := after.TotalAlloc - before.TotalAlloc
	require.Greater(t, bytes, 9_000_000)
	require.Less(t, allocated, uint64(bytes/50), "heap allocation should be tiny next to %d bytes of weights", bytes)
}

func BenchmarkOpen(b *testing.B) {
	const path = "../../testdata/qwen3-tiny-vocab/model.safetensors"
	b.Run("mmap", func(b *testing.B) {
		for b.Loop() {
			f, err := Open(path)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			f, err := openRead(path)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

// openRead is the portable path (what js/wasm does): read it all, then parse.
func openRead(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}
