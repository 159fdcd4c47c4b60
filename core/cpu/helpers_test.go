package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// The kernels are checked against naive float64 implementations on random
// inputs of awkward sizes, for both the assembly and the pure-Go paths.
// These are the helpers the tests share.

func modes(t *testing.T) []Options {
	t.Helper()
	out := []Options{{PureGo: true}, {PureGo: true, Threads: 1}}
	if haveSIMD() {
		out = append(out, Options{NoAVX512: true}, Options{NoAVX512: true, Threads: 1}, Options{NoAVX512: true, Threads: 3})
	}
	if haveAVX512() {
		out = append(out, Options{NoAMX: true}, Options{Threads: 1, NoAMX: true}, Options{Threads: 3, NoAMX: true})
		out = append(out, Options{}, Options{Threads: 1})
	}
	if !haveSIMD() {
		t.Log("no AVX2/FMA on this machine: testing the pure-Go kernels only")
	}
	return out
}

func randFloats(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

func randBF16(r *rand.Rand, n int) []byte {
	out := make([]byte, 2*n)
	for i := range n {
		bits := math.Float32bits(float32(r.NormFloat64() * 0.5))
		out[2*i] = byte(bits >> 16)
		out[2*i+1] = byte(bits >> 24)
	}
	return out
}

// relClose asserts |got-want| <= tol·(1 + scale), where scale bounds the
// magnitude of the terms summed (float32 rounding grows with it).
func relClose(t *testing.T, want float64, got float32, scale, tol float64, msg string, args ...any) {
	t.Helper()
	if math.Abs(float64(got)-want) > tol*(1+scale) {
		t.Fatalf("%s: got %v, want %v", fmt.Sprintf(msg, args...), got, want)
	}
}

// oneSeqBatch is a step of one sequence prefilling n tokens in blocks 0, 1,
// ... of 16, asking for the last token's logits.
func oneSeqBatch(n int) *step.Step {
	tokens := make([]int32, n)
	for i := range tokens {
		tokens[i] = int32(i % 7)
	}
	blocks := make([]int32, (n+15)/16)
	for k := range blocks {
		blocks[k] = int32(k)
	}
	var b step.Builder
	b.Reset(16, 0)
	b.Add(tokens, 0, n, blocks, 1)
	return b.Step()
}

// begin starts step s on d for kernels that do not touch the KV cache, with
// a scratch cache just large enough for the step's block tables.
func begin(d *Device, s *step.Step) error {
	nb := 1
	for _, b := range s.BlockTables {
		nb = max(nb, int(b)+1)
	}
	c, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: nb, BlockSize: s.BlockSize, KVHeads: 1, HeadDim: 1})
	if err != nil {
		return err
	}
	return d.BeginStep(s, c)
}

// nearestBF16Float64 rounds v to the nearest bf16 by comparing distances in
// float64, ties to the even significand: an independent check of the
// bit-trick rounding in the kernels.
func nearestBF16Float64(v float32) uint16 {
	b := math.Float32bits(v)
	if v != v || math.IsInf(float64(v), 0) {
		return uint16(b >> 16)
	}
	lo := uint16(b >> 16) // truncation: toward zero
	hi := lo + 1          // the next bf16 away from zero (may be Inf)
	hv := float64(bf16ToF32(hi))
	if math.IsInf(hv, 0) {
		// IEEE rounding treats overflow as if the exponent range went on:
		// the next value after the largest bf16 is 2^128.
		hv = math.Copysign(math.Ldexp(1, 128), hv)
	}
	dl := math.Abs(float64(v) - float64(bf16ToF32(lo)))
	dh := math.Abs(hv - float64(v))
	switch {
	case dl < dh:
		return lo
	case dh < dl:
		return hi
	case lo%2 == 0:
		return lo
	}
	return hi
}
