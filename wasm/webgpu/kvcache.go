//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// KVCache is a paged KV cache: one key and one value buffer per layer.
type KVCache struct {
	dev  *Device
	spec device.KVCacheSpec
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
	if spec.DType != device.F32 {
		// The shaders read float32 keys and values; a 16-bit cache on
		// WebGPU is a later issue.
		return nil, fmt.Errorf("%w: KV cache dtype %s on WebGPU (only f32 is implemented): %w", ErrUnsupported, spec.DType, device.ErrKVCacheDType)
	}
	if spec.HeadDim > shaders.AttentionMaxHeadDim {
		return nil, fmt.Errorf("%w: head_dim %d > %d (attention.wgsl)", ErrUnsupported, spec.HeadDim, shaders.AttentionMaxHeadDim)
	}
	per := spec.LayerFloats() * 4
	if per > d.limits.maxBinding {
		return nil, fmt.Errorf("%w: KV cache layer of %d bytes exceeds the %d-byte binding limit; use fewer blocks", ErrTooLarge, per, d.limits.maxBinding)
	}
	c := &KVCache{dev: d, spec: spec}
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
	d.dispatch(pipeKey{"kvcache", "main", shaders.NoWeight}, params, grid(ceilDiv(rows*kvDim, shaders.ElementWG)), metaBinding(), kb, vb, c.k[layer], c.v[layer])
}
