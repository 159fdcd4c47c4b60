package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/stretchr/testify/require"
)

// TestAttentionBF16TileUnits runs prefill attention with bf16 activations
// (the AMX path for sequences with two or more tiles of queries, next to a
// short one on the float32 kernels), in two chunks so that the second
// reads keys and values written by the first, and compares it with float64
// attention over bf16-rounded queries, keys and values: what remains is the
// rounding of the softmax numerators to bf16 and float32 sums.
func TestAttentionBF16TileUnits(t *testing.T) {
	d := New(Options{Precision: PrecisionBF16})
	defer d.Close()
	if !d.amxAttnEligible(2, 128, 16) {
		t.Skip("no AMX")
	}
	r := rand.New(rand.NewPCG(31, 32))
	round := func(xs []float32) []float32 {
		out := make([]float32, len(xs))
		for i, v := range xs {
			out[i] = bf16ToF32(bf16Nearest(v))
		}
		return out
	}
	const hd, bs = 128, 16
	for _, shape := range []struct{ heads, nkv int }{{16, 8}, {8, 8}, {32, 4}} {
		heads, nkv := shape.heads, shape.nkv
		// Chunks with partial last blocks and odd and even block counts
		// (70: 35 + 35 tokens, 100: 50 + 50), and a sequence too short for
		// the tile units.
		lens := []int{70, 100, 3}
		const numBlocks, stride = 16, 7
		cache, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: numBlocks, BlockSize: bs, KVHeads: nkv, HeadDim: hd})
		require.NoError(t, err)
		blocks := r.Perm(numBlocks)
		tables := make([][]int32, len(lens))
		keys := make([][][]float32, len(lens)) // bf16-rounded for the long sequences
		vals := make([][][]float32, len(lens))
		var exactK, exactV [][][]float32
		next := 0
		for s, n := range lens {
			tables[s] = make([]int32, stride)
			for k := range tables[s] {
				tables[s][k] = -1
				if k < (n+bs-1)/bs {
					tables[s][k] = int32(blocks[next])
					next++
				}
			}
			var ek, ev [][]float32
			for range n {
				k, v := randFloats(r, nkv*hd), randFloats(r, nkv*hd)
				ek, ev = append(ek, k), append(ev, v)
				if s < 2 {
					k, v = round(k), round(v)
				}
				keys[s], vals[s] = append(keys[s], k), append(vals[s], v)
			}
			exactK, exactV = append(exactK, ek), append(exactV, ev)
		}
		var worst, worstShort float64
		for half := range 2 {
			var sb step.Builder
			sb.Reset(bs, stride)
			var kb, vb, qb []float32
			type query struct{ seq, pos int }
			var qs []query
			for s, n := range lens {
				lo, hi := 0, n/2
				if half == 1 {
					lo, hi = n/2, n
				}
				sb.Add(make([]int32, n), lo, hi, tables[s], 0)
				for p := lo; p < hi; p++ {
					kb, vb = append(kb, exactK[s][p]...), append(vb, exactV[s][p]...)
					qb = append(qb, randFloats(r, heads*hd)...)
					qs = append(qs, query{s, p})
				}
			}
			b := sb.Step()
			rows := len(b.TokenIDs)
			require.NoError(t, d.BeginStep(b, cache))
			d.WriteKV(cache, 0, &buffer{data: kb}, &buffer{data: vb}, rows)
			out := &buffer{data: make([]float32, rows*heads*hd)}
			d.attnKPack = nil
			d.Attention(out, &buffer{data: qb}, cache, 0, heads, rows)
			require.NoError(t, d.ReadFloats(nil, out))
			require.NotNil(t, d.attnKPack, "the long sequences took the tile units")
			for i, qq := range qs {
				q := qb[i*heads*hd : (i+1)*heads*hd]
				if qq.seq < 2 {
					q = round(q) // the tile units see bf16 queries
				}
				want := naiveAttention(q, keys[qq.seq], vals[qq.seq], heads, nkv, hd, qq.pos)
				for j, w := range want {
					diff := math.Abs(w - float64(out.data[i*heads*hd+j]))
					if qq.seq < 2 {
						worst = max(worst, diff)
					} else {
						worstShort = max(worstShort, diff)
					}
				}
			}
		}
		t.Logf("heads %d/%d: max |diff| %.2g on the tile units, %.2g on the float32 kernels", heads, nkv, worst, worstShort)
		// Values are N(0, 1) and the outputs their weighted averages: bf16
		// numerators (2^-9 relative) move them by well under 1e-2.
		require.Less(t, worst, 1e-2, "heads %d/%d", heads, nkv)
		require.Less(t, worstShort, 1e-5, "the short sequence stays float32 (heads %d/%d)", heads, nkv)
	}
}

// TestPackKeysValuesAMX checks the attention packing kernels against the
// tile layout spelled out element by element.
func TestPackKeysValuesAMX(t *testing.T) {
	d := New(Options{Precision: PrecisionBF16})
	defer d.Close()
	if !d.amxAttnEligible(2, 128, 16) {
		t.Skip("no AMX")
	}
	r := rand.New(rand.NewPCG(41, 42))
	kt := randFloats(r, 128*16)
	kt[7] = float32(math.NaN())
	got := make([]uint16, 4*512)
	packKeysAMX(got, kt, &d.amxTables[0])
	for c := range 4 {
		for i := range 16 {
			for k := range 16 {
				d0 := 32*c + 2*i
				at := c*512 + i*32 + 2*k
				require.Equal(t, nearestBF16Float64(kt[d0*16+k]), got[at], "key %d dim %d", k, d0)
				require.Equal(t, nearestBF16Float64(kt[(d0+1)*16+k]), got[at+1], "key %d dim %d", k, d0+1)
			}
		}
	}
	rows := randFloats(r, 16*128)
	vals := make([]uint16, 8*512)
	for i := range vals {
		vals[i] = 0xdead
	}
	packValuesAMX(vals, rows, 1, &d.amxTables[0])
	packValuesAMX(vals, nil, 0, &d.amxTables[0])
	for key := range 32 {
		for dim := range 128 {
			want := uint16(0)
			if key >= 16 {
				want = nearestBF16Float64(rows[(key-16)*128+dim])
			}
			j, dd := dim/16, dim%16
			require.Equal(t, want, vals[j*512+(key/2)*32+2*dd+key%2], "key %d dim %d", key, dim)
		}
	}
}
