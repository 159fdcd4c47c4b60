//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// RMSNorm normalises rows rows of x (width len(w)) into out.
func (d *Device) RMSNorm(out, x device.Buffer, w device.Weight, rows int, eps float32) {
	gw, ok := d.weight(w, "RMSNorm")
	if !ok {
		return
	}
	if len(gw.shape) != 1 || len(gw.parts) != 1 {
		d.rec.fail(fmt.Errorf("%w: RMSNorm: weight %s has shape %v", ErrBadArgument, gw.name, gw.shape))
		return
	}
	width := gw.shape[0]
	o, ok1 := d.act(out, rows*width, "RMSNorm", "out")
	xi, ok2 := d.act(x, rows*width, "RMSNorm", "x")
	if !ok1 || !ok2 {
		return
	}
	params := shaders.Pack(shaders.RMSNormParams{Rows: uint32(rows), Width: uint32(width), Eps: eps})
	inplace := o.id == xi.id
	k, g := pipeKey{"rmsnorm", "main", gw.wt}, grid(rows)
	// The entry names are written out: building them would allocate a
	// string per dispatch.
	switch {
	case d.threadKernels && inplace:
		// CPU adapters: a thread per row, no barriers.
		k.entry, g = "main_thread_inplace", grid(ceilDiv(rows, shaders.ThreadWG))
	case d.threadKernels:
		k.entry, g = "main_thread", grid(ceilDiv(rows, shaders.ThreadWG))
	case inplace:
		k.entry = "main_inplace"
	}
	if inplace {
		d.dispatch(k, params, g, o, gw.parts[0].buf)
		return
	}
	d.dispatch(k, params, g, o, xi, gw.parts[0].buf)
}
