package quant_test

import (
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
)

// BenchmarkQuantize measures the reference quantizers on a 1024x1024
// matrix of N(0, 0.02²) values (MB/s of float32 input).
func BenchmarkQuantize(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 1<<20)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	for _, dt := range []device.DType{device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K} {
		b.Run(dt.String(), func(b *testing.B) {
			n, _ := quant.Bytes(dt, 1024, 1024)
			dst := make([]byte, n)
			b.SetBytes(4 << 20)
			for b.Loop() {
				if err := quant.Quantize(dt, dst, x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDequantize measures Dequantize on a 1024x1024 matrix (MB/s of
// float32 output).
func BenchmarkDequantize(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 1<<20)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	for _, dt := range []device.DType{device.BF16, device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K} {
		b.Run(dt.String(), func(b *testing.B) {
			n, _ := quant.Bytes(dt, 1024, 1024)
			src := make([]byte, n)
			if err := quant.Quantize(dt, src, x); err != nil {
				b.Fatal(err)
			}
			y := make([]float32, len(x))
			b.SetBytes(4 << 20)
			for b.Loop() {
				if err := quant.Dequantize(dt, y, src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
