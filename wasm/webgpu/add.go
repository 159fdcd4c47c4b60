//go:build js && wasm

package webgpu

import (
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// Add computes dst += src over n elements.
func (d *Device) Add(dst, src device.Buffer, n int) {
	a, ok1 := d.act(dst, n, "Add", "dst")
	b, ok2 := d.act(src, n, "Add", "src")
	if !ok1 || !ok2 {
		return
	}
	params := shaders.Pack(shaders.AddParams{N: uint32(n)})
	g := grid(ceilDiv(n, shaders.ElementWG))
	if a.id == b.id {
		d.dispatch(pipeKey{"add", "main_self", shaders.NoWeight}, params, g, a)
		return
	}
	d.dispatch(pipeKey{"add", "main", shaders.NoWeight}, params, g, a, b)
}
