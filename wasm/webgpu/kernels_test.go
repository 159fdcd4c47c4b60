//go:build js && wasm

package webgpu

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Kernel tolerances: float32 results that differ only in the order of
// summation (and in the GPU's exp) agree to a few ulps times the length of
// the sums involved.
const (
	kAbs = 2e-5
	kRel = 2e-5
)

// TestKernels checks every operation of the WebGPU device against the CPU
// device on random inputs, with sizes that are not multiples of the
// workgroup sizes, on a device that keeps weights whole and on one that
// splits them into buffers of at most 4 KiB.
func TestKernels(t *testing.T) {
	for _, tc := range []struct {
		part  int64
		gemv  string
		noVec bool
	}{{0, "coop", false}, {4096, "thread", false}, {4096, "coop", true}, {0, "thread", true}} {
		g := newGPU(t, Options{MaxWeightPartBytes: tc.part, Kernels: tc.gemv})
		g.noVec = tc.noVec
		t.Run(fmt.Sprintf("weightpart=%d,kernels=%s,vec=%v", g.MaxWeightPartBytes(), tc.gemv, !tc.noVec), func(t *testing.T) {
			t.Run("Linear", func(t *testing.T) { testLinear(t, g) })
			t.Run("Embed", func(t *testing.T) { testEmbed(t, g) })
			t.Run("RMSNorm", func(t *testing.T) { testRMSNorm(t, g) })
			t.Run("Elementwise", func(t *testing.T) { testElementwise(t, g) })
			t.Run("RoPE", func(t *testing.T) { testRoPE(t, g) })
			t.Run("Attention", func(t *testing.T) { testAttention(t, g) })
			t.Run("GatherArgmax", func(t *testing.T) { testGatherArgmax(t, g) })
		})
	}
}

func testLinear(t *testing.T, g *Device) {
	r := rand.New(rand.NewPCG(1, 2))
	p := newPair(t, g)
	for _, tc := range []struct {
		rows, in, out int
		dtype         device.DType
	}{
		{1, 64, 96, device.BF16},     // decode, gemv
		{3, 100, 37, device.BF16},    // gemv, ragged sizes
		{8, 33, 257, device.BF16},    // gemv at its row limit, odd in_features
		{9, 64, 50, device.BF16},     // smallest gemm
		{33, 96, 70, device.BF16},    // gemm, partial tiles both ways
		{70, 200, 129, device.BF16},  // gemm, several k tiles
		{5, 48, 40, device.F32},      // float32 weights, gemv
		{40, 48, 40, device.F32},     // float32 weights, gemm
		{17, 40, 24, device.F16},     // float16 widened on upload
		{2, 1024, 3000, device.BF16}, // a wide output, split under a small binding limit
		{7, 136, 90, device.BF16},    // in_features a multiple of 8: the 16-byte-load kernel
	} {
		name := fmt.Sprintf("%dx%dx%d/%d", tc.rows, tc.in, tc.out, tc.dtype)
		w := p.weight(tc.dtype, []int{tc.out, tc.in}, randWeight(r, tc.dtype, tc.out*tc.in, 0.2))
		x := p.filled(randFloats(r, tc.rows*tc.in, 1))
		out := p.buffer(tc.rows * tc.out)
		p.begin(seqBatch(16, [][2]int{{0, 1}}))
		p.gpu.Linear(out.g, x.g, w.g, tc.rows)
		p.cpu.Linear(out.c, x.c, w.c, tc.rows)
		p.check(out, tc.rows*tc.out, kAbs, kRel, name)
	}
}

func testEmbed(t *testing.T, g *Device) {
	r := rand.New(rand.NewPCG(3, 4))
	p := newPair(t, g)
	for _, tc := range []struct {
		vocab, hidden int
		dtype         device.DType
	}{{500, 64, device.BF16}, {500, 33, device.BF16}, {500, 20, device.F32}} {
		tab := p.weight(tc.dtype, []int{tc.vocab, tc.hidden}, randWeight(r, tc.dtype, tc.vocab*tc.hidden, 1))
		b := seqBatch(4, [][2]int{{0, 7}, {3, 2}, {0, 13}})
		out := p.buffer(len(b.TokenIDs) * tc.hidden)
		p.begin(b)
		p.gpu.Embed(out.g, tab.g)
		p.cpu.Embed(out.c, tab.c)
		// A table lookup is exact.
		p.check(out, len(b.TokenIDs)*tc.hidden, 0, 0, fmt.Sprintf("embed %dx%d", tc.vocab, tc.hidden))
	}
}

func testRMSNorm(t *testing.T, g *Device) {
	r := rand.New(rand.NewPCG(5, 6))
	p := newPair(t, g)
	for _, tc := range []struct {
		rows, width int
		inPlace     bool
		dtype       device.DType
	}{{1, 64, false, device.BF16}, {7, 96, true, device.BF16}, {40, 16, true, device.BF16}, {3, 300, false, device.F32}, {2, 1024, true, device.BF16}} {
		name := fmt.Sprintf("%dx%d inplace=%v", tc.rows, tc.width, tc.inPlace)
		w := p.weight(tc.dtype, []int{tc.width}, randWeight(r, tc.dtype, tc.width, 0.5))
		x := p.filled(randFloats(r, tc.rows*tc.width, 3))
		out := x
		if !tc.inPlace {
			out = p.buffer(tc.rows * tc.width)
		}
		p.begin(seqBatch(16, [][2]int{{0, 1}}))
		p.gpu.RMSNorm(out.g, x.g, w.g, tc.rows, 1e-6)
		p.cpu.RMSNorm(out.c, x.c, w.c, tc.rows, 1e-6)
		p.check(out, tc.rows*tc.width, kAbs, kRel, name)
	}
}

func testElementwise(t *testing.T, g *Device) {
	r := rand.New(rand.NewPCG(7, 8))
	p := newPair(t, g)
	for _, n := range []int{1, 255, 257, 5000} {
		a := p.filled(randFloats(r, n, 4))
		b := p.filled(randFloats(r, n, 4))
		out := p.buffer(n)
		p.begin(seqBatch(16, [][2]int{{0, 1}}))
		p.gpu.SwiGLU(out.g, a.g, b.g, n)
		p.cpu.SwiGLU(out.c, a.c, b.c, n)
		p.check(out, n, kAbs, kRel, fmt.Sprintf("swiglu %d", n))
		p.gpu.Add(a.g, b.g, n)
		p.cpu.Add(a.c, b.c, n)
		p.check(a, n, 0, 0, fmt.Sprintf("add %d", n))
		p.gpu.Add(b.g, b.g, n)
		p.cpu.Add(b.c, b.c, n)
		p.check(b, n, 0, 0, fmt.Sprintf("add to itself %d", n))
		// In place, as the model calls it: gate is overwritten.
		p.gpu.SwiGLU(a.g, a.g, b.g, n)
		p.cpu.SwiGLU(a.c, a.c, b.c, n)
		p.check(a, n, kAbs, kRel, fmt.Sprintf("swiglu in place %d", n))
	}
}

func testRoPE(t *testing.T, g *Device) {
	r := rand.New(rand.NewPCG(9, 10))
	p := newPair(t, g)
	for _, tc := range []struct {
		heads, headDim int
		theta          float64
		spans          [][2]int
	}{
		{4, 16, 1e6, [][2]int{{0, 5}}},
		{3, 128, 1e6, [][2]int{{0, 9}, {500, 1}, {3000, 2}}},
		{2, 64, 1e4, [][2]int{{17, 30}}},
	} {
		b := seqBatch(16, tc.spans)
		n := len(b.TokenIDs) * tc.heads * tc.headDim
		x := p.filled(randFloats(r, n, 1))
		p.begin(b)
		p.gpu.RoPE(x.g, len(b.TokenIDs), tc.heads, tc.headDim, tc.theta)
		p.cpu.RoPE(x.c, len(b.TokenIDs), tc.heads, tc.headDim, tc.theta)
		p.check(x, n, 1e-6, 1e-6, fmt.Sprintf("rope %v", tc))
	}
}

// testAttention fills a paged cache through WriteKV in one step and runs
// attention in a later one, over shuffled block tables, prefill chunks
// with a cached prefix and decodes, with grouped-query heads.
func testAttention(t *testing.T, g *Device) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		name           string
		heads, kvHeads int
		headDim, bs    int
		cached, step   []int // per sequence: tokens already cached, tokens in the step
	}{
		{"decode", 4, 2, 16, 16, []int{5, 40, 1}, []int{1, 1, 1}},
		{"prefill", 4, 2, 16, 16, []int{0}, []int{37}},
		{"chunk after prefix", 8, 2, 32, 8, []int{21}, []int{30}},
		{"mixed", 6, 3, 64, 16, []int{100, 0, 64, 7}, []int{1, 20, 1, 65}},
		{"mha", 2, 2, 128, 4, []int{3, 0}, []int{2, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testPagedAttention(t, g, r, device.F32, tc.heads, tc.kvHeads, tc.headDim, tc.bs, tc.cached, tc.step)
		})
	}
}

func testGatherArgmax(t *testing.T, g *Device) {
	r := rand.New(rand.NewPCG(13, 14))
	p := newPair(t, g)
	b := seqBatch(16, [][2]int{{0, 5}, {9, 1}, {0, 12}})
	cols := 1000
	vals := randFloats(r, len(b.TokenIDs)*cols, 1)
	// Ties: the first maximum must win, as on the CPU.
	vals[2*cols+10], vals[2*cols+700] = 50, 50
	x := p.filled(vals)
	out := p.buffer(len(b.LogitsRows) * cols)
	p.begin(b)
	p.gpu.GatherRows(out.g, x.g, cols)
	p.cpu.GatherRows(out.c, x.c, cols)
	p.check(out, len(b.LogitsRows)*cols, 0, 0, "gather")
	for _, rows := range []int{1, 3, len(b.TokenIDs)} {
		want, err := p.cpu.ArgmaxRows(x.c, rows, cols)
		require.NoError(t, err)
		got, err := p.gpu.ArgmaxRows(x.g, rows, cols)
		require.NoError(t, err)
		require.Equal(t, want, got, "argmax of %d rows", rows)
	}
	ids, err := p.gpu.ArgmaxRows(x.g, 3, cols)
	require.NoError(t, err)
	require.Equal(t, int32(10), ids[2], "tie goes to the lowest index")

	// Top-k against a sort of the CPU's copy of the rows.
	rows := len(b.TokenIDs)
	all := make([]float32, rows*cols)
	require.NoError(t, p.cpu.ReadFloats(all, x.c))
	for _, k := range []int{1, 5, 40} {
		gids, gvals, err := g.TopKRows(x.g, rows, cols, k)
		require.NoError(t, err)
		for r := range rows {
			row := all[r*cols : (r+1)*cols]
			order := make([]int32, cols)
			for i := range order {
				order[i] = int32(i)
			}
			sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
			require.Equal(t, order[:k], gids[r*k:(r+1)*k], "top-%d ids of row %d", k, r)
			for j, id := range order[:k] {
				require.Equal(t, row[id], gvals[r*k+j])
			}
		}
	}
	_, _, err = g.TopKRows(x.g, 1, cols, MaxTopK+1)
	require.ErrorIs(t, err, ErrBadArgument)
}
