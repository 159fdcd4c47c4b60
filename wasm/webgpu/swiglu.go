//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// SwiGLU computes out = silu(gate) * up over n elements.
func (d *Device) SwiGLU(out, gate, up device.Buffer, n int) {
	o, ok1 := d.act(out, n, "SwiGLU", "out")
	g, ok2 := d.act(gate, n, "SwiGLU", "gate")
	u, ok3 := d.act(up, n, "SwiGLU", "up")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	if u.id == o.id || u.id == g.id {
		d.rec.fail(fmt.Errorf("%w: SwiGLU: up must not alias out or gate", ErrBadArgument))
		return
	}
	if o.id == g.id {
		d.dispatch(pipeKey{"swiglu", "main_inplace", shaders.NoWeight}, [16]uint32{uint32(n)}, grid(ceilDiv(n, elementwise)), o, u)
		return
	}
	d.dispatch(pipeKey{"swiglu", "main", shaders.NoWeight}, [16]uint32{uint32(n)}, grid(ceilDiv(n, elementwise)), o, g, u)
}
