//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// Attention computes causal grouped-query attention of q against layer's cache.
func (d *Device) Attention(out, q device.Buffer, cache device.KVCache, layer, heads, rows int) {
	if !d.stepReady("Attention") {
		return
	}
	c, ok := cache.(*KVCache)
	st := &d.rec.step
	if !ok || c != st.cache || layer < 0 || layer >= len(c.k) || rows > st.n || heads <= 0 {
		d.rec.fail(fmt.Errorf("%w: Attention: cache %T (the step's: %v), layer %d, heads %d, rows %d (step has %d)", ErrBadArgument, cache, ok && c == st.cache, layer, heads, rows, st.n))
		return
	}
	sp := c.spec
	if heads%sp.KVHeads != 0 {
		d.rec.fail(fmt.Errorf("%w: Attention: %d heads over %d KV heads", ErrBadArgument, heads, sp.KVHeads))
		return
	}
	width := heads * sp.HeadDim
	o, ok1 := d.act(out, rows*width, "Attention", "out")
	qi, ok2 := d.act(q, rows*width, "Attention", "q")
	if !ok1 || !ok2 {
		return
	}
	scale := device.AttentionScale(sp.HeadDim)
	params := shaders.Pack(shaders.AttentionParams{
		Rows: uint32(rows), Heads: uint32(heads), KVHeads: uint32(sp.KVHeads), HeadDim: uint32(sp.HeadDim), BlockSize: uint32(sp.BlockSize),
		PosOff: uint32(st.posOff), SeqOff: uint32(st.seqOff), BtOff: uint32(st.btOff), BtStride: uint32(st.btStride),
		Scale: scale,
	})
	if d.threadKernels {
		d.dispatch(pipeKey{"attention", "main_thread", c.wt}, params, grid(ceilDiv(rows*heads, shaders.ThreadWG)), metaBinding(), o, qi, c.k[layer], c.v[layer])
		return
	}
	d.dispatch(pipeKey{"attention", "main", c.wt}, params, grid(rows*heads), metaBinding(), o, qi, c.k[layer], c.v[layer])
}
