//go:build js && wasm

package webgpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// The 16-bit KV caches (bf16, f16) against the CPU device's.

var halfDTypes = []device.DType{device.BF16, device.F16}

// roundHalf is the reference rounding of a float32 to the cache's 16 bits:
// safetensors' converters, round to nearest with ties to even, which
// core/cpu's tests hold its own rounding to.
func roundHalf(dt device.DType, v float32) uint16 {
	if dt == device.F16 {
		return safetensors.F32ToF16(v)
	}
	return safetensors.F32ToBF16(v)
}

// widenHalf is the exact float32 value of a 16-bit cache element.
func widenHalf(dt device.DType, h uint16) float32 {
	if dt == device.F16 {
		return safetensors.F16ToF32(h)
	}
	return math.Float32frombits(uint32(h) << 16)
}

// awkwardFloats returns n values that exercise the rounding: random values
// of several magnitudes and, cycled in, exact ties (to even up and down),
// values just either side of a tie, the f16 overflow threshold, f16
// subnormals and signed zeros.
func awkwardFloats(r *rand.Rand, n int) []float32 {
	special := []float32{
		0, float32(math.Copysign(0, -1)), 1, -2.5,
		math.Float32frombits(0x3f808000), // bf16 tie, even below: rounds down
		math.Float32frombits(0x3f818000), // bf16 tie, odd below: rounds up
		math.Float32frombits(0x3f808001), // just above a bf16 tie
		1 + 1.0/2048,                     // f16 tie, even below
		1 + 3.0/2048,                     // f16 tie, odd below
		65504, 65519, 65520, -1e6,        // f16: largest, rounds to it, Inf, -Inf
		6e-8, 2.9802322e-8, -1e-6, 3e-5, // f16 subnormals, 2^-25 (tie to 0)
		1e-30, 3e38,
	}
	v := make([]float32, n)
	for i := range v {
		switch i % 3 {
		case 0:
			v[i] = special[(i/3)%len(special)]
		case 1:
			v[i] = float32(r.NormFloat64())
		default:
			v[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))
		}
	}
	return v
}

// readWords reads a GPU buffer of the device as 32-bit words.
func readWords(t *testing.T, g *Device, b gbuf) []uint32 {
	t.Helper()
	f := make([]float32, b.size/4)
	require.NoError(t, g.ReadFloats(f, &Buffer{dev: g, buf: b, n: len(f)}))
	w := make([]uint32, len(f))
	for i, x := range f {
		w[i] = math.Float32bits(x)
	}
	return w
}

// TestKVCacheBytes writes keys and values through WriteKV to scattered
// slots of 16-bit caches, with kv_dim odd and even, and checks every word
// of the GPU's buffers against the reference rounding of the inputs in the
// documented layout (two per word, low half first, a slot padded to whole
// words, untouched slots zero). The CPU device holds the same values: one
// token attending to itself returns its value vector exactly, which both
// devices must give bit for bit.
func TestKVCacheBytes(t *testing.T) {
	g := newGPU(t, Options{})
	r := rand.New(rand.NewPCG(31, 32))
	for _, dt := range halfDTypes {
		for _, shape := range [][2]int{{3, 5}, {2, 8}, {1, 1}} {
			kvHeads, headDim := shape[0], shape[1]
			t.Run(fmt.Sprintf("%s/%dx%d", dt, kvHeads, headDim), func(t *testing.T) {
				p := newPair(t, g)
				const bs, numBlocks = 4, 9
				spec := device.KVCacheSpec{Layers: 2, NumBlocks: numBlocks, BlockSize: bs, KVHeads: kvHeads, HeadDim: headDim, DType: dt}
				cache := p.cache(spec)
				// Three sequences of one token each, in shuffled blocks:
				// each token attends to itself alone.
				perm := r.Perm(numBlocks)
				b := tableBatch(bs, [][2]int{{0, 1}, {0, 1}, {0, 1}}, [][]int32{{int32(perm[0])}, {int32(perm[1])}, {int32(perm[2])}})
				kvDim := kvHeads * headDim
				n := len(b.TokenIDs)
				ks, vs := awkwardFloats(r, n*kvDim), awkwardFloats(r, n*kvDim)
				// Finite keys: a token's score against itself must be finite
				// for its attention output to be its value.
				for i, x := range ks {
					if h := roundHalf(dt, x); math.IsInf(float64(widenHalf(dt, h)), 0) || math.Abs(float64(x)) > 1e4 {
						ks[i] = float32(r.NormFloat64())
					}
				}
				k, v := p.filled(ks), p.filled(vs)
				q := p.filled(randFloats(r, n*kvHeads*headDim, 1))
				out := p.buffer(n * kvHeads * headDim)
				p.beginWith(b, cache)
				p.gpu.WriteKV(cache.g, 1, k.g, v.g, n)
				p.cpu.WriteKV(cache.c, 1, k.c, v.c, n)
				p.gpu.Attention(out.g, q.g, cache.g, 1, kvHeads, n)
				p.cpu.Attention(out.c, q.c, cache.c, 1, kvHeads, n)

				words := (kvDim + 1) / 2
				gc := cache.g.(*KVCache)
				for which, in := range map[string][]float32{"keys": ks, "values": vs} {
					buf := gc.k[1]
					if which == "values" {
						buf = gc.v[1]
					}
					got := readWords(t, g, buf)
					want := make([]uint32, numBlocks*bs*words)
					for i, s := range b.Slots {
						row := make([]uint16, 2*words)
						for e := range kvDim {
							row[e] = roundHalf(dt, in[i*kvDim+e])
						}
						for w := range words {
							want[int(s)*words+w] = uint32(row[2*w]) | uint32(row[2*w+1])<<16
						}
					}
					require.Equal(t, want, got, "%s of layer 1", which)
				}
				require.Equal(t, make([]uint32, numBlocks*bs*words), readWords(t, g, gc.k[0]), "layer 0 untouched")

				// Attention of a token over itself is its value, widened
				// (compared as numbers: 0 + -0 is +0 in the accumulation).
				gotOut := make([]float32, n*kvDim)
				cpuOut := make([]float32, n*kvDim)
				require.NoError(t, p.gpu.ReadFloats(gotOut, out.g))
				require.NoError(t, p.cpu.ReadFloats(cpuOut, out.c))
				for i := range gotOut {
					want := widenHalf(dt, roundHalf(dt, vs[i]))
					require.Equal(t, want, cpuOut[i], "cpu value %d (%v)", i, vs[i])
					require.Equal(t, want, gotOut[i], "webgpu value %d (%v)", i, vs[i])
				}
			})
		}
	}
}

// TestKVAttentionHalf writes 16-bit caches in one step and runs attention
// in a later one, on both kernel forms, over shuffled block tables, prefill
// chunks after a cached prefix, decodes and mixed batches, with odd head
// counts and an odd kv_dim, against the CPU device with the same cache
// dtype. Both compute in float32 from the same 16-bit values, so the
// float32 kernels' tolerance applies.
func TestKVAttentionHalf(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	for _, kernels := range []string{"coop", "thread"} {
		g := newGPU(t, Options{Kernels: kernels})
		for _, dt := range halfDTypes {
			for _, tc := range []struct {
				name           string
				heads, kvHeads int
				headDim, bs    int
				cached, step   []int // per sequence: tokens already cached, tokens in the step
			}{
				{"decode", 4, 2, 16, 16, []int{5, 40, 1}, []int{1, 1, 1}},
				{"prefill", 4, 2, 16, 16, []int{0}, []int{37}},
				{"chunk after prefix", 9, 3, 32, 8, []int{21}, []int{30}},
				{"mixed", 6, 3, 64, 16, []int{100, 0, 64, 7}, []int{1, 20, 1, 65}},
				{"odd kv_dim", 5, 1, 7, 4, []int{9, 0, 2}, []int{1, 11, 3}},
				{"mha 128", 3, 3, 128, 16, []int{70, 3}, []int{1, 2}},
			} {
				t.Run(fmt.Sprintf("%s/%s/%s", kernels, dt, tc.name), func(t *testing.T) {
					testPagedAttention(t, g, r, dt, tc.heads, tc.kvHeads, tc.headDim, tc.bs, tc.cached, tc.step)
				})
			}
		}
	}
}

// testPagedAttention fills a paged cache of dtype dt through WriteKV in
// one step and runs attention in a later one on both devices, each
// sequence in a random set of blocks in random order: cached[i] tokens of
// sequence i are written first, then steps[i] more in the attention step.
func testPagedAttention(t *testing.T, g *Device, r *rand.Rand, dt device.DType, heads, kvHeads, headDim, bs int, cached, steps []int) {
	p := newPair(t, g)
	blocksPer := 0
	for i := range cached {
		blocksPer = max(blocksPer, (cached[i]+steps[i]+bs-1)/bs)
	}
	numBlocks := blocksPer*len(cached) + 3
	spec := device.KVCacheSpec{Layers: 2, NumBlocks: numBlocks, BlockSize: bs, KVHeads: kvHeads, HeadDim: headDim, DType: dt}
	cache := p.cache(spec)
	perm := r.Perm(numBlocks)
	tables := make([][]int32, len(cached))
	for i := range tables {
		for k := range blocksPer {
			tables[i] = append(tables[i], int32(perm[i*blocksPer+k]))
		}
	}
	kvDim := kvHeads * headDim
	var prefix, full [][2]int
	for i := range cached {
		// A sequence with nothing cached gets a token it will overwrite.
		prefix = append(prefix, [2]int{0, max(cached[i], 1)})
		full = append(full, [2]int{cached[i], steps[i]})
	}
	b := tableBatch(bs, prefix, tables)
	n := len(b.TokenIDs)
	k, v := p.filled(randFloats(r, n*kvDim, 1)), p.filled(randFloats(r, n*kvDim, 1))
	p.beginWith(b, cache)
	p.gpu.WriteKV(cache.g, 1, k.g, v.g, n)
	p.cpu.WriteKV(cache.c, 1, k.c, v.c, n)

	b = tableBatch(bs, full, tables)
	n = len(b.TokenIDs)
	k, v = p.filled(randFloats(r, n*kvDim, 1)), p.filled(randFloats(r, n*kvDim, 1))
	q := p.filled(randFloats(r, n*heads*headDim, 1))
	out := p.buffer(n * heads * headDim)
	p.beginWith(b, cache)
	p.gpu.WriteKV(cache.g, 1, k.g, v.g, n)
	p.cpu.WriteKV(cache.c, 1, k.c, v.c, n)
	p.gpu.Attention(out.g, q.g, cache.g, 1, heads, n)
	p.cpu.Attention(out.c, q.c, cache.c, 1, heads, n)
	p.check(out, n*heads*headDim, kAbs, kRel, fmt.Sprintf("%s attention", dt))
}

// TestKVModelGreedyHalf generates greedy tokens from every prompt of the
// qwen3-tiny fixture with a 16-bit KV cache on both devices, in lockstep:
// the same steps (chunked prefills joining over time, then batched
// decodes) go to each, and every step's tokens must be the same.
func TestKVModelGreedyHalf(t *testing.T) {
	c := cpu.New(cpu.Options{Threads: 1})
	defer c.Close()
	g := newGPU(t, Options{})
	f := loadFixture(t, "qwen3-tiny")
	for _, dt := range halfDTypes {
		t.Run(dt.String(), func(t *testing.T) {
			gm, cm := f.modelKV(t, g, 64, dt), f.modelKV(t, c, 64, dt)
			var prompts [][]int32
			for _, rc := range f.ref.Cases {
				prompts = append(prompts, rc.Prompt)
			}
			got := lockstepGreedy(t, gm, cm, prompts, 24, 5)
			same := 0
			for i, rc := range f.ref.Cases {
				require.Len(t, got[i], 24)
				if fmt.Sprint(got[i]) == fmt.Sprint(rc.Greedy.Tokens) {
					same++
				}
			}
			t.Logf("%s cache: %d of %d cases give the float32 fixture's greedy tokens", dt, same, len(f.ref.Cases))
		})
	}
}

// modelKV loads the fixture on dev with a KV cache of dt, numBlocks blocks of 16.
func (f *fixture) modelKV(t testing.TB, dev device.Device, numBlocks int, dt device.DType) *qwen3.Model {
	t.Helper()
	m, err := qwen3.LoadFrom(f.cfg, func(name string) (safetensors.Tensor, error) {
		tn, ok := f.ckpt.Tensor(name)
		if !ok {
			return safetensors.Tensor{}, fmt.Errorf("no tensor %s", name)
		}
		return tn, nil
	}, dev, qwen3.Options{KVCacheDType: dt})
	require.NoError(t, err)
	require.NoError(t, m.NewKVCache(numBlocks, 16))
	return m
}

// lockstepGreedy generates steps greedy tokens per prompt on two models at
// once, prompt i joining at step i and prefilled chunk tokens at a time,
// and fails at the first step whose tokens differ between them.
func lockstepGreedy(t *testing.T, a, b *qwen3.Model, prompts [][]int32, steps, chunk int) [][]int32 {
	t.Helper()
	type seq struct {
		tokens   []int32
		blocks   []int32
		computed int
	}
	seqs := make([]*seq, len(prompts))
	for i, p := range prompts {
		seqs[i] = &seq{tokens: append([]int32(nil), p...)}
	}
	out := make([][]int32, len(prompts))
	next := int32(0)
	var sb step.Builder
	for st := 0; ; st++ {
		sb.Reset(16, 0)
		var owners []int
		for i, s := range seqs {
			if st < i || len(out[i]) == steps {
				continue
			}
			owners = append(owners, i)
			end := s.computed + min(chunk, len(s.tokens)-s.computed)
			for len(s.blocks)*16 < end {
				s.blocks = append(s.blocks, next)
				next++
			}
			logits := 0
			if end == len(s.tokens) {
				logits = 1
			}
			sb.Add(s.tokens, s.computed, end, s.blocks, logits)
			s.computed = end
		}
		if len(owners) == 0 {
			if st >= len(prompts) {
				return out
			}
			continue
		}
		s := sb.Step()
		ga, err := a.ForwardArgmax(s)
		require.NoError(t, err)
		gb, err := b.ForwardArgmax(s)
		require.NoError(t, err)
		require.Equal(t, gb, ga, "step %d: webgpu vs cpu", st)
		for k, si := range s.LogitsSeqs {
			i := owners[si]
			out[i] = append(out[i], ga[k])
			seqs[i].tokens = append(seqs[i].tokens, ga[k])
		}
	}
}
