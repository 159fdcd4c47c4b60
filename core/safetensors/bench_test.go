package safetensors

import (
	"testing"
)

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
