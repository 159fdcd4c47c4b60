//go:build js && wasm

package webgpu

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
)

// quantDTypes are the block formats the device runs in place.
var quantDTypes = []device.DType{device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K}

// newQuantPair is newPair with the CPU device's float path for quantized
// weights (cpu.Options.QuantFloat): float32 activations multiplied by the
// dequantized weights, the arithmetic of the WebGPU kernels, which
// dequantize in the shader.
func newQuantPair(t testing.TB, g *Device) *pair {
	c := cpu.New(cpu.Options{Threads: 1, QuantFloat: true})
	t.Cleanup(func() { c.Close() })
	return &pair{t: t, gpu: g, cpu: c}
}

// randQuant returns the blocks of a random [rows, cols] tensor quantized
// to dtype by ggml's reference quantizers (core/quant). Each row gets its
// own scale of magnitude, so that blocks differ in range, and a few blocks
// are all zero (scale 0).
func randQuant(t testing.TB, r *rand.Rand, dtype device.DType, rows, cols int) []byte {
	t.Helper()
	vals := make([]float32, rows*cols)
	for i := range rows {
		s := float32(0.05 + r.Float64())
		for j := range cols {
			vals[i*cols+j] = float32(r.NormFloat64()) * s
		}
	}
	for i := 0; i < len(vals); i += 7919 {
		bv := quant.BlockValues(dtype)
		b := i / bv * bv
		clear(vals[b : b+bv])
	}
	n, err := quant.Bytes(dtype, rows, cols)
	require.NoError(t, err)
	out := make([]byte, n)
	require.NoError(t, quant.Quantize(dtype, out, vals))
	return out
}

// TestQuantKernels checks Linear and Embed with quantized weights against
// the CPU device's float path, for every block format, on row counts on
// both sides of the gemv limit, output features that are not multiples of
// the workgroup, rows of an odd number of blocks (18-, 34- and 210-byte
// blocks then leave rows off 4-byte boundaries) and weights split into
// several buffers, with each kind of kernel: the coop gemv both in its
// subgroup form (linear_q_sg, where the adapter offers `subgroups`, as
// SwiftShader does) and in its portable one (NoSubgroups).
func TestQuantKernels(t *testing.T) {
	for _, tc := range []struct {
		part        int64
		gemv        string
		noSubgroups bool
	}{{0, "coop", false}, {4096, "thread", false}, {4096, "coop", false}, {0, "thread", false}, {0, "coop", true}, {4096, "coop", true}} {
		g := newGPU(t, Options{MaxWeightPartBytes: tc.part, Kernels: tc.gemv, NoSubgroups: tc.noSubgroups})
		if strings.Contains(strings.ToLower(g.Name()), "swiftshader") {
			// The browser tests' adapter offers subgroups: the variant
			// must run there, not be skipped unnoticed.
			require.Equal(t, !tc.noSubgroups, g.subgroups, "subgroups on %s", g.Name())
		}
		t.Run(fmt.Sprintf("weightpart=%d,kernels=%s,subgroups=%v", g.MaxWeightPartBytes(), tc.gemv, g.subgroups), func(t *testing.T) {
			for _, dt := range quantDTypes {
				t.Run(dt.String(), func(t *testing.T) {
					t.Run("Linear", func(t *testing.T) { testQuantLinear(t, g, dt) })
					t.Run("Embed", func(t *testing.T) { testQuantEmbed(t, g, dt) })
				})
			}
			// The decode rows went through the gemv the device chose.
			sg, portable := gemvPipelines(g)
			if tc.gemv == "coop" {
				require.Equal(t, g.subgroups, sg == len(quantDTypes), "linear_q_sg gemv pipelines")
				require.Equal(t, !g.subgroups, portable == len(quantDTypes), "linear_q gemv pipelines")
			}
			if !g.subgroups {
				require.Zero(t, sg, "no subgroup kernel without the feature")
			}
		})
	}
}

// gemvPipelines counts the compiled gemv pipelines of linear_q_sg and of
// linear_q, one per block format used.
func gemvPipelines(g *Device) (sg, portable int) {
	for k := range g.pipes {
		switch {
		case k.kernel == "linear_q_sg" && k.entry == "gemv":
			sg++
		case k.kernel == "linear_q" && k.entry == "gemv":
			portable++
		}
	}
	return sg, portable
}

func testQuantLinear(t *testing.T, g *Device, dt device.DType) {
	r := rand.New(rand.NewPCG(31, uint64(dt)))
	p := newQuantPair(t, g)
	bv := quant.BlockValues(dt)
	for _, tc := range []struct{ rows, blocks, out int }{
		{1, 3, 37},   // decode; an odd number of blocks per row
		{3, 2, 129},  // gemv, ragged output
		{8, 5, 70},   // gemv at its row limit
		{9, 1, 50},   // smallest gemm (coop) / second row group (thread)
		{37, 3, 97},  // gemm, partial tiles both ways
		{2, 4, 1000}, // a tall weight: several buffers under a small part limit
	} {
		in := tc.blocks * bv
		name := fmt.Sprintf("%dx%dx%d", tc.rows, in, tc.out)
		w := p.weight(dt, []int{tc.out, in}, randQuant(t, r, dt, tc.out, in))
		x := p.filled(randFloats(r, tc.rows*in, 1))
		out := p.buffer(tc.rows * tc.out)
		p.begin(seqBatch(16, [][2]int{{0, 1}}))
		p.gpu.Linear(out.g, x.g, w.g, tc.rows)
		p.cpu.Linear(out.c, x.c, w.c, tc.rows)
		// The same float32 products of the same dequantized weights,
		// summed in another order: the float kernels' tolerance.
		p.check(out, tc.rows*tc.out, kAbs, kRel, name)
	}
}

func testQuantEmbed(t *testing.T, g *Device, dt device.DType) {
	r := rand.New(rand.NewPCG(33, uint64(dt)))
	p := newQuantPair(t, g)
	bv := quant.BlockValues(dt)
	for _, blocks := range []int{1, 3} {
		vocab, hidden := 500, blocks*bv
		tab := p.weight(dt, []int{vocab, hidden}, randQuant(t, r, dt, vocab, hidden))
		b := seqBatch(4, [][2]int{{0, 7}, {3, 2}, {0, 13}})
		b.TokenIDs[0], b.TokenIDs[1] = 0, int32(vocab-1)
		out := p.buffer(len(b.TokenIDs) * hidden)
		p.begin(b)
		p.gpu.Embed(out.g, tab.g)
		p.cpu.Embed(out.c, tab.c)
		// Dequantizing a weight is one or two float32 operations, the
		// same on both devices: exact.
		p.check(out, len(b.TokenIDs)*hidden, 0, 0, fmt.Sprintf("embed %dx%d", vocab, hidden))
	}
}

// TestQuantWeightWriter streams quantized tables in ragged chunks (as a
// fetch() body delivers a GGUF file's tensor) and checks the rows against
// the CPU device; and checks the errors of bad quantized shapes and sizes.
func TestQuantWeightWriter(t *testing.T) {
	g := newGPU(t, Options{MaxWeightPartBytes: 1000})
	p := newQuantPair(t, g)
	r := rand.New(rand.NewPCG(35, 36))
	for _, dt := range quantDTypes {
		t.Run(dt.String(), func(t *testing.T) {
			vocab, hidden := 61, quant.BlockValues(dt)*3
			data := randQuant(t, r, dt, vocab, hidden)
			src := jsBytes(t, data)
			ww, err := g.NewWeightWriter("table", dt, []int{vocab, hidden})
			require.NoError(t, err)
			chunks := []int{1, 3, 7, 1001, 2}
			for off, k := 0, 0; off < len(data); k++ {
				n := min(chunks[k%len(chunks)], len(data)-off)
				chunk, err := src.Call("subarray", off, off+n)
				require.NoError(t, err)
				require.NoError(t, ww.Write(chunk))
				off += n
			}
			gw, err := ww.Close()
			require.NoError(t, err)
			require.Greater(t, gw.(*Weight).Parts(), 1, "the table must span several buffers")
			require.Equal(t, int64(len(data)), gw.(*Weight).Bytes())
			require.Equal(t, []int{vocab, hidden}, gw.Shape(), "the logical shape")
			cw, err := p.cpu.UploadWeight("table", dt, []int{vocab, hidden}, data)
			require.NoError(t, err)
			b := seqBatch(16, [][2]int{{0, 40}})
			for i := range b.TokenIDs {
				b.TokenIDs[i] = int32(r.IntN(vocab))
			}
			b.TokenIDs[0], b.TokenIDs[1] = 0, int32(vocab-1)
			out := p.buffer(len(b.TokenIDs) * hidden)
			p.begin(b)
			p.gpu.Embed(out.g, gw)
			p.cpu.Embed(out.c, cw)
			p.check(out, len(b.TokenIDs)*hidden, 0, 0, dt.String())
		})
	}
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			dtype device.DType
			shape []int
			bytes int
		}{
			{"1-D", device.Q8_0, []int{64}, 68},
			{"row not whole blocks", device.Q4_0, []int{2, 48}, 54},
			{"K-quant row of 128", device.Q4_K, []int{2, 128}, 144},
			{"short data", device.Q6_K, []int{2, 256}, 419},
		} {
			_, err := g.UploadWeight("w", tc.dtype, tc.shape, make([]byte, tc.bytes))
			require.ErrorIs(t, err, ErrBadArgument, tc.name)
		}
		_, err := g.NewWeightWriter("w", device.Q4_K, []int{3, 100})
		require.ErrorIs(t, err, ErrBadArgument)
		_, err = g.NewWeightWriter("w", device.F16, []int{3, 100})
		require.ErrorIs(t, err, ErrUnsupported)
	})
}
