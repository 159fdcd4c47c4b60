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
	params := shaders.Pack(shaders.SwiGLUParams{N: uint32(n)})
	gr := grid(ceilDiv(n, shaders.ElementWG))
	if o.id == g.id {
		d.dispatch(pipeKey{"swiglu", "main_inplace", shaders.NoWeight}, params, gr, o, u)
		return
	}
	d.dispatch(pipeKey{"swiglu", "main", shaders.NoWeight}, params, gr, o, g, u)
}
