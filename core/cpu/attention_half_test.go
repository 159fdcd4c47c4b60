package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/stretchr/testify/require"
)

// TestAttentionHalfKVCache runs the same steps (chunked prefill of three
// sequences over shuffled blocks, then a decode step) on a BF16 or F16 KV
// cache written with float32 keys and values, and on a float32 cache
// written with those keys and values already rounded by an independent
// rounding (nearestBF16Float64, nearestF16Float64). The half cache must
// give the float32 cache's outputs bit for bit: its kernels do the same
// arithmetic on the same numbers, only loaded from 16 bits. Both are also
// checked against float64 attention on the rounded keys and values. Every
// ISA path runs (modes), and the AMX tile-unit path with bf16 activations.
func TestAttentionHalfKVCache(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, shape := range []struct{ heads, nkv, hd, bs int }{
		{6, 2, 17, 4}, {6, 2, 24, 4}, {4, 4, 64, 4}, {6, 3, 128, 16},
		{16, 8, 128, 16}, {6, 2, 64, 16}, {4, 4, 64, 16}, {8, 1, 128, 16}, {6, 2, 40, 16},
	} {
		for _, dt := range []device.DType{device.BF16, device.F16} {
			modes := modes(t)
			if shape.hd == 128 && shape.bs == 16 {
				modes = append(modes, Options{Precision: PrecisionBF16})
			}
			for _, opts := range modes {
				testAttentionHalf(t, r, opts, dt, shape.heads, shape.nkv, shape.hd, shape.bs)
			}
		}
	}
}

func testAttentionHalf(t *testing.T, r *rand.Rand, opts Options, dt device.DType, heads, nkv, hd, bs int) {
	round := func(v float32) float32 { return bf16ToF32(nearestBF16Float64(v)) }
	if dt == device.F16 {
		round = func(v float32) float32 { return f16ToF32(nearestF16Float64(v)) }
	}
	d := New(opts)
	defer d.Close()
	lens := []int{13, 22, 3}
	if bs == 16 {
		lens = []int{37, 70, 5} // 35 new tokens x 2 heads: the AMX path
	}
	const numBlocks = 24
	spec := device.KVCacheSpec{Layers: 2, NumBlocks: numBlocks, BlockSize: bs, KVHeads: nkv, HeadDim: hd}
	ref, err := d.NewKVCache(spec)
	require.NoError(t, err)
	spec.DType = dt
	half, err := d.NewKVCache(spec)
	require.NoError(t, err)

	blocks := r.Perm(numBlocks)
	stride := (lens[1] + 1 + bs - 1) / bs
	tables := make([][]int32, len(lens))
	next := 0
	for s, n := range lens {
		tables[s] = make([]int32, stride)
		for k := range tables[s] {
			tables[s][k] = -1
			if k < (n+1+bs-1)/bs {
				tables[s][k] = int32(blocks[next])
				next++
			}
		}
	}
	// Keys and values, exact and rounded, for every position (the last one
	// is the decode step's token).
	keys, vals := make([][][]float32, len(lens)), make([][][]float32, len(lens))
	rk, rv := make([][][]float32, len(lens)), make([][][]float32, len(lens))
	for s, n := range lens {
		for range n + 1 {
			k, v := randFloats(r, nkv*hd), randFloats(r, nkv*hd)
			keys[s], vals[s] = append(keys[s], k), append(vals[s], v)
			k2, v2 := make([]float32, len(k)), make([]float32, len(v))
			for i := range k {
				k2[i], v2[i] = round(k[i]), round(v[i])
			}
			rk[s], rv[s] = append(rk[s], k2), append(rv[s], v2)
		}
	}
	// Step 0 and 1: the two halves of each prompt; step 2: one decode
	// token per sequence.
	for st := range 3 {
		var sb step.Builder
		sb.Reset(bs, stride)
		var kb, vb, rkb, rvb, qb []float32
		var qpos [][2]int
		for s, n := range lens {
			lo, hi := 0, n/2
			switch st {
			case 1:
				lo, hi = n/2, n
			case 2:
				lo, hi = n, n+1
			}
			sb.Add(make([]int32, n+1), lo, hi, tables[s], 0)
			for p := lo; p < hi; p++ {
				kb, vb = append(kb, keys[s][p]...), append(vb, vals[s][p]...)
				rkb, rvb = append(rkb, rk[s][p]...), append(rvb, rv[s][p]...)
				qb = append(qb, randFloats(r, heads*hd)...)
				qpos = append(qpos, [2]int{s, p})
			}
		}
		b := sb.Step()
		rows := len(b.TokenIDs)
		run := func(c device.KVCache, k, v []float32) []float32 {
			require.NoError(t, d.BeginStep(b, c))
			d.WriteKV(c, 1, &buffer{data: k}, &buffer{data: v}, rows)
			out := &buffer{data: make([]float32, rows*heads*hd)}
			d.Attention(out, &buffer{data: qb}, c, 1, heads, rows)
			require.NoError(t, d.ReadFloats(nil, out))
			return out.data
		}
		want := run(ref, rkb, rvb)
		got := run(half, kb, vb)
		name := func() string {
			return d.Name() + " " + dt.String()
		}
		require.Equal(t, want, got, "%s heads %d/%d hd %d bs %d step %d", name(), heads, nkv, hd, bs, st)
		if opts.Precision == PrecisionBF16 {
			continue // queries and probabilities in bf16: TestAttentionBF16TileUnits checks those
		}
		for i, sp := range qpos {
			exact := naiveAttention(qb[i*heads*hd:], rk[sp[0]], rv[sp[0]], heads, nkv, hd, sp[1])
			for j := range exact {
				relClose(t, exact[j], got[i*heads*hd+j], math.Abs(exact[j]), 2e-6, "%s heads %d/%d hd %d step %d token %d out %d", name(), heads, nkv, hd, st, i, j)
			}
		}
	}
}
