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
	if a.id == b.id {
		d.dispatch(pipeKey{"add", "main_self", shaders.NoWeight}, [16]uint32{uint32(n)}, grid(ceilDiv(n, elementwise)), a)
		return
	}
	d.dispatch(pipeKey{"add", "main", shaders.NoWeight}, [16]uint32{uint32(n)}, grid(ceilDiv(n, elementwise)), a, b)
}
