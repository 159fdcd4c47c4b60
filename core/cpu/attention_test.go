package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/stretchr/testify/require"
)

// naiveAttention is causal GQA attention in float64 over contiguous keys.
func naiveAttention(q []float32, keys, vals [][]float32, heads, nkv, hd, pos int) []float64 {
	out := make([]float64, heads*hd)
	group := heads / nkv
	for h := range heads {
		g := h / group
		scores := make([]float64, pos+1)
		m := math.Inf(-1)
		for t := 0; t <= pos; t++ {
			var s float64
			for j := range hd {
				s += float64(q[h*hd+j]) * float64(keys[t][g*hd+j])
			}
			scores[t] = s / math.Sqrt(float64(hd))
			m = math.Max(m, scores[t])
		}
		var sum float64
		for t := range scores {
			scores[t] = math.Exp(scores[t] - m)
			sum += scores[t]
		}
		for t := range scores {
			for j := range hd {
				out[h*hd+j] += scores[t] / sum * float64(vals[t][g*hd+j])
			}
		}
	}
	return out
}

// TestPagedAttention scatters two sequences' tokens over shuffled blocks,
// computes the second half of each in one step (the first half already
// cached), and compares with float64 attention over contiguous keys.
func TestPagedAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, shape := range []struct{ heads, nkv, hd, bs int }{
		{6, 2, 24, 4}, {6, 2, 64, 4}, {4, 4, 128, 4}, {8, 1, 64, 4}, {6, 3, 128, 4},
		{16, 8, 128, 16}, {6, 2, 64, 16}, {6, 3, 128, 16}, {4, 4, 64, 16}, {8, 1, 128, 16},
	} {
		testPagedAttention(t, r, shape.heads, shape.nkv, shape.hd, shape.bs)
	}
}

func testPagedAttention(t *testing.T, r *rand.Rand, heads, nkv, hd, bs int) {
	lens := []int{13, 22}
	if bs == 16 {
		lens = []int{37, 50}
	}
	for _, opts := range modes(t) {
		d := New(opts)
		cacheI, err := d.NewKVCache(device.KVCacheSpec{Layers: 2, NumBlocks: 16, BlockSize: bs, KVHeads: nkv, HeadDim: hd})
		require.NoError(t, err)
		blocks := r.Perm(16)
		stride := (max(lens[0], lens[1]) + bs - 1) / bs
		tables := [][]int32{}
		next := 0
		for _, n := range lens {
			row := make([]int32, stride)
			for k := range row {
				row[k] = -1
				if k < (n+bs-1)/bs {
					row[k] = int32(blocks[next])
					next++
				}
			}
			tables = append(tables, row)
		}
		keys := make([][][]float32, len(lens))
		vals := make([][][]float32, len(lens))
		for s, n := range lens {
			for range n {
				keys[s] = append(keys[s], randFloats(r, nkv*hd))
				vals[s] = append(vals[s], randFloats(r, nkv*hd))
			}
		}
		// Two steps: first halves, then second halves (with queries).
		for half := range 2 {
			var sb step.Builder
			sb.Reset(bs, stride)
			var kb, vb, qb []float32
			var qpos [][2]int
			for s, n := range lens {
				lo, hi := 0, n/2
				if half == 1 {
					lo, hi = n/2, n
				}
				sb.Add(make([]int32, n), lo, hi, tables[s], 0)
				for p := lo; p < hi; p++ {
					kb = append(kb, keys[s][p]...)
					vb = append(vb, vals[s][p]...)
					qb = append(qb, randFloats(r, heads*hd)...)
					qpos = append(qpos, [2]int{s, p})
				}
			}
			b := sb.Step()
			rows := len(b.TokenIDs)
			require.NoError(t, d.BeginStep(b, cacheI))
			d.WriteKV(cacheI, 1, &buffer{data: kb}, &buffer{data: vb}, rows)
			out := &buffer{data: make([]float32, rows*heads*hd)}
			d.Attention(out, &buffer{data: qb}, cacheI, 1, heads, rows)
			require.NoError(t, d.ReadFloats(nil, out))
			for i, sp := range qpos {
				want := naiveAttention(qb[i*heads*hd:], keys[sp[0]], vals[sp[0]], heads, nkv, hd, sp[1])
				for j := range want {
					relClose(t, want[j], out.data[i*heads*hd+j], math.Abs(want[j]), 2e-6, "%s heads %d/%d hd %d token %d out %d", d.Name(), heads, nkv, hd, i, j)
				}
			}
		}
		d.Close()
	}
}
