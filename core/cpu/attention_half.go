package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// Attention over a KV cache of 16-bit floats where the AVX-512 kernels do
// not apply (the portable and AVX2 builds, and head sizes other than
// multiples of 64): each task widens one cache block of keys, then of
// values, at a time into a float32 scratch that stays in L1 (16 x 128
// floats is 8 KiB), and runs the float32 loops of Attention on it, in the
// same order, so the result equals the float32 path on a cache holding the
// widened values. The tile-unit packing of bf16 keys and values is here
// too.

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

// toBF16 converts a 16-bit cache element of dtype dt to bf16: itself for
// BF16, the nearest bf16 of an (exactly widened) IEEE half for F16.
func toBF16(x uint16, dt device.DType) uint16 {
	if dt == device.BF16 {
		return x
	}
	return bf16Nearest(f16ToF32(x))
}

// packKeysAMXHalf is packKeysAMX for a block of 16-bit keys kt (128 dims
// x 16 keys, transposed): row m of the four B tiles pairs, for each key t,
// dims 2m and 2m+1. bf16 keys are moved as they are.
func packKeysAMXHalf(dst []uint16, kt []uint16, dt device.DType) {
	_ = dst[4*512-1]
	_ = kt[128*16-1]
	for m := range 64 {
		a, b, row := kt[2*m*16:2*m*16+16], kt[(2*m+1)*16:(2*m+1)*16+16], dst[m*32:m*32+32]
		for t := range 16 {
			row[2*t] = toBF16(a[t], dt)
			row[2*t+1] = toBF16(b[t], dt)
		}
	}
}

// packValuesAMXHalf is packValuesAMX for the 16 value rows of a block of
// 16-bit values (rows[k*128+d]): tile j row i of the chunk's eight B tiles
// (i = 8·half + ip) holds, for each dim 16j+dd, keys 2ip and 2ip+1 of the
// block.
func packValuesAMXHalf(dst []uint16, rows []uint16, half int, dt device.DType) {
	_ = dst[8*512-1]
	_ = rows[16*128-1]
	for ip := range 8 {
		i := 8*half + ip
		r0, r1 := rows[2*ip*128:2*ip*128+128], rows[(2*ip+1)*128:(2*ip+1)*128+128]
		for j := range 8 {
			out := dst[j*512+i*32 : j*512+i*32+32]
			for dd := range 16 {
				out[2*dd] = toBF16(r0[16*j+dd], dt)
				out[2*dd+1] = toBF16(r1[16*j+dd], dt)
			}
		}
	}
}
