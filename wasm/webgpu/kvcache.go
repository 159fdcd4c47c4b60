//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// KVCache is a paged KV cache: one key and one value buffer per layer,
// each a flat array of slots (slot = block*BlockSize + offset) of
// KVHeads*HeadDim elements of spec.DType: float32, or bfloat16 or f16
// packed two per 32-bit word, a slot padded to whole words. WriteKV rounds
// to 16 bits exactly as the CPU device does (nearest, ties to even), so the
// two devices hold the same values; attention widens them back to float32
// as it loads them (shaders/kv.go).
type KVCache struct {
	dev  *Device
	spec device.KVCacheSpec
	wt   shaders.WeightType // spec.DType as the kernels' element type
	k, v []gbuf
}

// Spec returns the cache's shape.
func (c *KVCache) Spec() device.KVCacheSpec { return c.spec }

// NewKVCache allocates the cache. WebGPU cannot report free memory, so the
// caller sizes spec from an explicit budget.
func (d *Device) NewKVCache(spec device.KVCacheSpec) (device.KVCache, error) {
	if spec.Layers <= 0 || spec.NumBlocks <= 0 || spec.BlockSize <= 0 || spec.KVHeads <= 0 || spec.HeadDim <= 0 {
		return nil, fmt.Errorf("%w: KV cache spec %+v", ErrBadArgument, spec)
	}
	wt, ok := kvElementType(spec.DType)
	if !ok {
		return nil, fmt.Errorf("%w: KV cache dtype %s on WebGPU (want f32, bf16 or f16): %w", ErrUnsupported, spec.DType, device.ErrKVCacheDType)
	}
	if spec.HeadDim > shaders.AttentionMaxHeadDim {
		return nil, fmt.Errorf("%w: head_dim %d > %d (attention.wgsl)", ErrUnsupported, spec.HeadDim, shaders.AttentionMaxHeadDim)
	}
	// Sizes come from flags and pages: each factor is checked against the
	// binding limit before the product is formed, so nothing overflows.
	slot, lim := int64(kvSlotWords(spec))*4, d.limits.maxBinding
	if slot > lim || int64(spec.BlockSize) > lim/slot || int64(spec.NumBlocks) > lim/(slot*int64(spec.BlockSize)) {
		return nil, fmt.Errorf("%w: KV cache layer of %d blocks of %d tokens (%d bytes a token) exceeds the %d-byte binding limit; use fewer blocks",
			ErrTooLarge, spec.NumBlocks, spec.BlockSize, slot, lim)
	}
	per := int64(spec.NumBlocks) * int64(spec.BlockSize) * slot
	c := &KVCache{dev: d, spec: spec, wt: wt}
	for l := 0; l < spec.Layers; l++ {
		k, err := d.newBuffer(per, usageStorage|usageCopySrc|usageCopyDst, fmt.Sprintf("k_cache.%d", l))
		if err != nil {
			return nil, err
		}
		v, err := d.newBuffer(per, usageStorage|usageCopySrc|usageCopyDst, fmt.Sprintf("v_cache.%d", l))
		if err != nil {
			return nil, err
		}
		c.k, c.v = append(c.k, k), append(c.v, v)
	}
	return c, nil
}

// WriteKV stores k and v rows at the step's slots of layer.
func (d *Device) WriteKV(cache device.KVCache, layer int, k, v device.Buffer, rows int) {
	if !d.stepReady("WriteKV") {
		return
	}
	c, ok := cache.(*KVCache)
	st := &d.rec.step
	if !ok || c != st.cache || layer < 0 || layer >= len(c.k) || rows > st.n {
		d.rec.fail(fmt.Errorf("%w: WriteKV: cache %T (the step's: %v), layer %d, rows %d (step has %d)", ErrBadArgument, cache, ok && c == st.cache, layer, rows, st.n))
		return
	}
	kvDim := c.spec.SlotFloats()
	kb, ok1 := d.act(k, rows*kvDim, "WriteKV", "k")
	vb, ok2 := d.act(v, rows*kvDim, "WriteKV", "v")
	if !ok1 || !ok2 {
		return
	}
	params := shaders.Pack(shaders.KVCacheParams{Rows: uint32(rows), KVDim: uint32(kvDim), SlotOff: uint32(st.slotOff)})
	// One thread per word of the cache (kvcache.wgsl).
	words := rows * kvSlotWords(c.spec)
	d.dispatch(pipeKey{"kvcache", "main", c.wt}, params, grid(ceilDiv(words, shaders.ElementWG)), metaBinding(), kb, vb, c.k[layer], c.v[layer])
}

// kvElementType is the kernels' element type for a KV cache of dt, and
// whether the device stores that dtype.
func kvElementType(dt device.DType) (shaders.WeightType, bool) {
	switch dt {
	case device.F32:
		return shaders.WeightF32, true
	case device.BF16:
		return shaders.WeightBF16, true
	case device.F16:
		return shaders.WeightF16, true
	}
	return shaders.NoWeight, false
}

// kvSlotWords is the 32-bit words one slot of one layer takes: one per
// float32 element, one per two 16-bit elements (an odd count padded), as
// kv_words in shaders/kv.go.
func kvSlotWords(spec device.KVCacheSpec) int {
	if spec.DType == device.F32 {
		return spec.SlotFloats()
	}
	return (spec.SlotFloats() + 1) / 2
}
