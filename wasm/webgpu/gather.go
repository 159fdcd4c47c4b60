//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// GatherRows copies rows LogitsRows[k] of x to row k of out.
func (d *Device) GatherRows(out, x device.Buffer, cols int) {
	if !d.stepReady("GatherRows") {
		return
	}
	st := &d.rec.step
	o, ok1 := d.act(out, st.nLogits*cols, "GatherRows", "out")
	xi, ok2 := d.act(x, st.n*cols, "GatherRows", "x")
	if !ok1 || !ok2 {
		return
	}
	if o.id == xi.id {
		d.rec.fail(fmt.Errorf("%w: GatherRows: out and x are the same buffer", ErrBadArgument))
		return
	}
	params := shaders.Pack(shaders.GatherParams{NRows: uint32(st.nLogits), Cols: uint32(cols), RowsOff: uint32(st.lrOff)})
	d.dispatch(pipeKey{"gather", "main", shaders.NoWeight}, params, grid(ceilDiv(st.nLogits*cols, shaders.ElementWG)), metaBinding(), o, xi)
}
