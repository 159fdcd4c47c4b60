package cpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/sysmem"
)

// The paged KV cache: its layout, NewKVCache and WriteKV.

// kvCache stores, per layer, the keys and values of every slot, grouped by
// block and then KV head, so that the block of one head (the unit attention
// reads) is contiguous. For slot = block*BlockSize + offset, values are
// v[layer][((block*KVHeads + head)*BlockSize + offset)*HeadDim + d]; keys
// are transposed within the block, k[layer][((block*KVHeads + head)*HeadDim
// + d)*BlockSize + offset], so that the attention kernel can score a query
// against a whole block of keys with vector multiply-adds and no horizontal
// sums. (Values with all heads of a slot together would put a head's rows
// 4 KiB apart at Qwen3's 8 heads of 128: rows that collide in the same few
// L1 sets.)
//
// A cache of spec.DType BF16 or F16 has the same layout with 16-bit
// elements in kh and vh (k and v are nil): WriteKV rounds each float32 to
// the nearest, ties to even, and attention widens them back to float32 as
// it loads them (see kvcache_half.go).
type kvCache struct {
	spec   device.KVCacheSpec
	k, v   [][]float32 // DType F32
	kh, vh [][]uint16  // DType BF16 or F16
}

func (c *kvCache) Spec() device.KVCacheSpec { return c.spec }

// NewKVCache implements device.Device.
func (d *Device) NewKVCache(spec device.KVCacheSpec) (device.KVCache, error) {
	if spec.Layers <= 0 || spec.NumBlocks <= 0 || spec.BlockSize <= 0 || spec.KVHeads <= 0 || spec.HeadDim <= 0 {
		return nil, fmt.Errorf("cpu: bad KV cache spec %+v", spec)
	}
	if spec.ElementBytes() == 0 {
		return nil, fmt.Errorf("cpu: KV cache dtype %s: %w", spec.DType, device.ErrKVCacheDType)
	}
	// Sizes come from files and flags: refuse what would overflow or not
	// fit in memory before allocating anything (Go's out-of-memory is a
	// fatal error, not a panic).
	const maxLayerFloats = 1 << 40
	per64 := spec.LayerFloats()
	if per64 <= 0 || per64 > maxLayerFloats || int64(spec.Layers) > maxLayerFloats/per64 {
		return nil, fmt.Errorf("cpu: KV cache %+v is too large", spec)
	}
	if err := sysmem.Check("the KV cache", uint64(spec.Bytes())); err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	per := int(per64)
	c := &kvCache{spec: spec}
	if spec.DType != device.F32 {
		c.kh, c.vh = make([][]uint16, spec.Layers), make([][]uint16, spec.Layers)
		for l := range spec.Layers {
			c.kh[l] = make([]uint16, per)
			c.vh[l] = make([]uint16, per)
		}
		return c, nil
	}
	c.k, c.v = make([][]float32, spec.Layers), make([][]float32, spec.Layers)
	for l := range spec.Layers {
		c.k[l] = make([]float32, per)
		c.v[l] = make([]float32, per)
	}
	return c, nil
}

// WriteKV implements device.Device.
func (d *Device) WriteKV(cache device.KVCache, layer int, k, v device.Buffer, rows int) {
	if !d.ok("WriteKV") {
		return
	}
	c := d.layerCache("WriteKV", cache, layer)
	if c == nil {
		return
	}
	width := c.spec.KVHeads * c.spec.HeadDim
	ks, vs := d.floats("WriteKV", k, rows*width), d.floats("WriteKV", v, rows*width)
	if ks == nil || vs == nil {
		return
	}
	if rows > len(d.batch.Slots) {
		d.fail("WriteKV: %d rows for %d tokens", rows, len(d.batch.Slots))
		return
	}
	if c.spec.DType != device.F32 {
		d.writeKVHalf(c, layer, ks, vs, rows)
		return
	}
	bs, hd, nkv := c.spec.BlockSize, c.spec.HeadDim, c.spec.KVHeads
	kl, vl := c.k[layer], c.v[layer]
	// One task per KV head: the heads' cache regions are disjoint whatever
	// the slots, so the tasks never write the same memory.
	slotsOf := d.batch.Slots[:rows]
	// A prefill writes whole blocks: sixteen tokens filling one block go in
	// as 16x16 transposes.
	tiles := d.isa == isaAVX512 && bs == 16 && hd%16 == 0
	write := func(g int) {
		for i := 0; i < rows; {
			s := int(slotsOf[i])
			if tiles && s%bs == 0 && fillsBlock(slotsOf[i:]) {
				base := (s/bs*nkv + g) * hd * bs
				for d0 := 0; d0 < hd; d0 += 16 {
					transposeTileZ(&ks[i*width+g*hd+d0], width, &kl[base+d0*bs], bs, 16)
				}
				vb := vl[base : base+bs*hd] // the block's values, row by row
				for t := range bs {
					copy(vb[t*hd:(t+1)*hd], vs[(i+t)*width+g*hd:])
				}
				i += bs
				continue
			}
			blk, off := s/bs, s%bs
			base := (blk*nkv + g) * hd * bs
			for j, v := range ks[i*width+g*hd : i*width+(g+1)*hd] {
				kl[base+off+j*bs] = v
			}
			copy(vl[base+off*hd:base+(off+1)*hd], vs[i*width+g*hd:])
			i++
		}
	}
	if rows*width < 1<<15 {
		for g := range nkv {
			write(g)
		}
		return
	}
	d.pool.run(nkv, write)
}

// fillsBlock reports whether the first 16 slots exist and are consecutive.
func fillsBlock(slots []int32) bool {
	if len(slots) < 16 {
		return false
	}
	for t := 1; t < 16; t++ {
		if slots[t] != slots[0]+int32(t) {
			return false
		}
	}
	return true
}
