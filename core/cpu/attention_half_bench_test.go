package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// BenchmarkAttentionKVDType compares the KV cache dtypes on one layer of
// Qwen3-0.6B's attention (16 query heads over 8 KV heads of 128): a decode
// step of 64 sequences of 512 tokens (reading 64 x 512 keys and values),
// a 512-token prefill with float32 and with bf16 activations (the AMX
// path), and WriteKV of the step's rows. cpu-ms/op is the process CPU
// time of both per op, steadier than wall time on a shared machine;
// attn-ms/op and writekv-ms/op split the wall time.
func BenchmarkAttentionKVDType(b *testing.B) {
	const heads, nkv, hd, bs = 16, 8, 128, 16
	for _, dt := range []device.DType{device.F32, device.BF16, device.F16} {
		b.Run("decode64x512/"+dt.String(), func(b *testing.B) {
			const seqs, ctx = 64, 512
			d := New(Options{})
			defer d.Close()
			benchAttention(b, d, dt, decodeBatch(seqs, ctx, bs), seqs*ctx/bs, heads, nkv, hd)
		})
		for _, p := range []Precision{PrecisionFloat32, PrecisionBF16} {
			b.Run(fmt.Sprintf("prefill512-%s/%s", p, dt), func(b *testing.B) {
				d := New(Options{Precision: p})
				defer d.Close()
				benchAttention(b, d, dt, oneSeqBatch(512), 512/bs, heads, nkv, hd)
			})
		}
	}
}

// decodeBatch is a decode step of seqs sequences at position ctx-1, each
// with its own ctx/bs blocks.
func decodeBatch(seqs, ctx, bs int) *step.Step {
	var sb step.Builder
	sb.Reset(bs, ctx/bs)
	tokens := make([]int32, ctx)
	for s := range seqs {
		table := make([]int32, ctx/bs)
		for k := range table {
			table[k] = int32(s*ctx/bs + k)
		}
		sb.Add(tokens, ctx-1, ctx, table, 1)
	}
	return sb.Step()
}

// benchAttention fills every slot of a cache of numBlocks blocks, then
// times Attention (and WriteKV of the step's rows) for step s.
func benchAttention(b *testing.B, d *Device, dt device.DType, s *step.Step, numBlocks, heads, nkv, hd int) {
	r := rand.New(rand.NewPCG(5, 6))
	cache, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: numBlocks, BlockSize: s.BlockSize, KVHeads: nkv, HeadDim: hd, DType: dt})
	if err != nil {
		b.Fatal(err)
	}
	all := numBlocks * s.BlockSize
	fill := oneSeqBatch(all) // every slot of the cache, in order
	if err := d.BeginStep(fill, cache); err != nil {
		b.Fatal(err)
	}
	d.WriteKV(cache, 0, &buffer{data: randFloats(r, all*nkv*hd)}, &buffer{data: randFloats(r, all*nkv*hd)}, all)
	rows := len(s.TokenIDs)
	q := &buffer{data: randFloats(r, rows*heads*hd)}
	k := &buffer{data: randFloats(r, rows*nkv*hd)}
	v := &buffer{data: randFloats(r, rows*nkv*hd)}
	out := &buffer{data: make([]float32, rows*heads*hd)}
	if err := d.BeginStep(s, cache); err != nil {
		b.Fatal(err)
	}
	var write, attn time.Duration
	b.ResetTimer()
	c0 := processCPUNanos()
	for range b.N {
		t0 := time.Now()
		d.WriteKV(cache, 0, k, v, rows)
		t1 := time.Now()
		d.Attention(out, q, cache, 0, heads, rows)
		attn += time.Since(t1)
		write += t1.Sub(t0)
	}
	if d.err != nil {
		b.Fatal(d.err)
	}
	b.ReportMetric(float64(processCPUNanos()-c0)/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(attn.Microseconds())/1e3/float64(b.N), "attn-ms/op")
	b.ReportMetric(float64(write.Microseconds())/1e3/float64(b.N), "writekv-ms/op")
}
