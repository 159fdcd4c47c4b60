//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// Linear computes out = x · wᵀ for rows rows.
func (d *Device) Linear(out, x device.Buffer, w device.Weight, rows int) {
	gw, ok := d.weight(w, "Linear")
	if !ok {
		return
	}
	if len(gw.shape) != 2 {
		d.rec.fail(fmt.Errorf("%w: Linear: weight %s has shape %v", ErrBadArgument, gw.name, gw.shape))
		return
	}
	outF, inF := gw.shape[0], gw.shape[1]
	o, ok1 := d.act(out, rows*outF, "Linear", "out")
	xi, ok2 := d.act(x, rows*inF, "Linear", "x")
	if !ok1 || !ok2 {
		return
	}
	if o.id == xi.id {
		d.rec.fail(fmt.Errorf("%w: Linear: out and x are the same buffer", ErrBadArgument))
		return
	}
	d.stats.WeightBytes += gw.bytes
	vec := gw.wt == shaders.WeightBF16 && inF%8 == 0 && !d.noVec
	for _, p := range gw.parts {
		params := shaders.Pack(shaders.LinearParams{
			Rows: uint32(rows), InF: uint32(inF), OutF: uint32(p.rows), OutLd: uint32(outF), Col0: uint32(p.row0),
		})
		switch {
		case gw.wt.Quantized():
			if !d.linearQuant(params, gw.wt, o, xi, p, rows) {
				return
			}
		case vec && d.threadKernels:
			// Any number of rows, GemvRows per workgroup row of the grid.
			g := [3]uint32{uint32(ceilDiv(p.rows, shaders.ThreadWG)), uint32(ceilDiv(rows, shaders.GemvRows)), 1}
			if g[0] > maxGridDim || g[1] > maxGridDim {
				d.rec.fail(fmt.Errorf("%w: Linear: %dx%d output exceeds the dispatch grid", ErrTooLarge, rows, p.rows))
				return
			}
			d.dispatch(pipeKey{"linear_bf16x8", "gemv_thread", shaders.NoWeight}, params, g, o, xi, p.buf)
		case rows <= shaders.GemvRows && vec:
			d.dispatch(pipeKey{"linear_bf16x8", "gemv", shaders.NoWeight}, params, grid(p.rows), o, xi, p.buf)
		case rows <= shaders.GemvRows && d.threadKernels:
			d.dispatch(pipeKey{"linear", "gemv_thread", gw.wt}, params, grid(ceilDiv(p.rows, shaders.ThreadWG)), o, xi, p.buf)
		case rows <= shaders.GemvRows:
			d.dispatch(pipeKey{"linear", "gemv", gw.wt}, params, grid(p.rows), o, xi, p.buf)
		default:
			g := [3]uint32{uint32(ceilDiv(p.rows, shaders.GemmTile)), uint32(ceilDiv(rows, shaders.GemmTile)), 1}
			if g[0] > maxGridDim || g[1] > maxGridDim {
				d.rec.fail(fmt.Errorf("%w: Linear: %dx%d output exceeds the dispatch grid", ErrTooLarge, rows, p.rows))
				return
			}
			d.dispatch(pipeKey{"linear", "gemm", gw.wt}, params, g, o, xi, p.buf)
		}
	}
}

// linearQuant dispatches linear_q, which dequantizes the blocks of a
// quantized weight in the shader, for one part of the weight: gemv_thread
// for any number of rows on adapters that prefer barrier-free kernels,
// otherwise gemv up to GemvRows rows (linear_q_sg's where the device has
// the subgroups feature) and the tiled gemm above.
func (d *Device) linearQuant(params [shaders.ParamWords]uint32, wt shaders.WeightType, o, xi gbuf, p weightPart, rows int) bool {
	var g [3]uint32
	entry := "gemm"
	switch {
	case d.threadKernels:
		entry = "gemv_thread"
		g = [3]uint32{uint32(ceilDiv(p.rows, 2*shaders.ThreadWG)), uint32(ceilDiv(rows, shaders.GemvRows)), 1}
	case rows <= shaders.GemvRows:
		kernel := "linear_q"
		if d.subgroups {
			kernel = "linear_q_sg" // the same gemv, reduced with subgroupAdd
		}
		d.dispatch(pipeKey{kernel, "gemv", wt}, params, grid(p.rows), o, xi, p.buf)
		return true
	default:
		g = [3]uint32{uint32(ceilDiv(p.rows, shaders.GemmTile)), uint32(ceilDiv(rows, shaders.GemmTile)), 1}
	}
	if g[0] > maxGridDim || g[1] > maxGridDim {
		d.rec.fail(fmt.Errorf("%w: Linear: %dx%d output exceeds the dispatch grid", ErrTooLarge, rows, p.rows))
		return false
	}
	d.dispatch(pipeKey{"linear_q", entry, wt}, params, g, o, xi, p.buf)
	return true
}
