package safetensors

import (
	"os"
	"testing"
)

// openRead is the portable path (what js/wasm does): read it all, then parse.
func openRead(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

func BenchmarkBF16ToF32(b *testing.B) {
	src := make([]uint16, 1<<16)
	for i := range src {
		src[i] = uint16(i)
	}
	dst := make([]float32, len(src))
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		for i, u := range src {
			dst[i] = BF16ToF32(u)
		}
	}
}
