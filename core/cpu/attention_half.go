package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// Attention over a KV cache of 16-bit floats where the AVX-512 kernels do
// not apply (the portable and AVX2 builds, and head sizes other than
// multiples of 64): each task widens one cache block of keys, then of
// values, at a time into a float32 scratch that stays in L1 (16 x 128
// floats is 8 KiB), and runs the float32 loops of Attention on it, in the
// same order, so the result equals the float32 path on a cache holding the
// widened values.

// attentionHalf is the loop of Attention for kv of dtype BF16 or F16.
func (d *Device) attentionHalf(os, qs []float32, kv kvLayer, heads, nkv, hd int, scale float32) {
	b := d.batch
	bs := b.BlockSize
	group := heads / nkv
	simd := d.isa != isaGo && (kv.dt == device.BF16 || haveF16C())
	d.pool.run(len(b.TokenIDs)*nkv, func(task int) {
		tok, g := task/nkv, task%nkv
		seq := int(b.TokenSeqs[tok])
		table := b.BlockTables[seq*b.BlockTableStride : (seq+1)*b.BlockTableStride]
		n := int(b.Positions[tok]) + 1
		nblk := (n + bs - 1) / bs
		sp, _ := d.scratch.Get().(*[]float32)
		if sp == nil {
			sp = new([]float32)
		}
		if need := group*n + bs*hd; cap(*sp) < need {
			*sp = make([]float32, need)
		}
		scores := (*sp)[:group*n]
		blk := (*sp)[group*n : group*n+bs*hd]
		for bi := range nblk {
			// Keys transposed in the block: key t's element j at j*bs + t.
			base := (int(table[bi])*nkv + g) * hd * bs
			widenHalf(blk, kv.kh[base:base+hd*bs], kv.dt, simd)
			for t := bi * bs; t < min(n, (bi+1)*bs); t++ {
				for h := range group {
					qh := qs[(tok*heads+g*group+h)*hd : (tok*heads+g*group+h+1)*hd]
					var sum float32
					for j, qv := range qh {
						sum += qv * blk[j*bs+t-bi*bs]
					}
					scores[h*n+t] = sum * scale
				}
			}
		}
		softmaxRows(scores, group, n)
		for h := range group {
			clear(os[(tok*heads+g*group+h)*hd : (tok*heads+g*group+h+1)*hd])
		}
		for bi := range nblk {
			cnt := min(bs, n-bi*bs)
			base := (int(table[bi])*nkv + g) * bs * hd
			widenHalf(blk[:cnt*hd], kv.vh[base:base+cnt*hd], kv.dt, simd)
			for h := range group {
				o := os[(tok*heads+g*group+h)*hd : (tok*heads+g*group+h+1)*hd]
				for t := range cnt {
					d.axpy(o, scores[h*n+bi*bs+t], blk[t*hd:])
				}
			}
		}
		d.scratch.Put(sp)
	})
}
