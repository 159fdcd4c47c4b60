//go:build js && wasm

package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// RoPE rotates every head of rows rows of x by its token's position.
func (d *Device) RoPE(x device.Buffer, rows, heads, headDim int, theta float64) {
	if !d.stepReady("RoPE") {
		return
	}
	st := &d.rec.step
	if rows > st.n || headDim <= 0 || headDim%2 != 0 || heads <= 0 || !(theta > 1) {
		d.rec.fail(fmt.Errorf("%w: RoPE: rows %d (step has %d), heads %d, head_dim %d, theta %v", ErrBadArgument, rows, st.n, heads, headDim, theta))
		return
	}
	xi, ok := d.act(x, rows*heads*headDim, "RoPE", "x")
	if !ok {
		return
	}
	tab, err := d.ropeTable(theta, headDim, st.maxPos+1)
	if err != nil {
		d.rec.fail(err)
		return
	}
	params := shaders.Pack(shaders.RopeParams{Rows: uint32(rows), Heads: uint32(heads), HeadDim: uint32(headDim), PosOff: uint32(st.posOff)})
	d.dispatch(pipeKey{"rope", "main", shaders.NoWeight}, params, grid(ceilDiv(rows*heads*headDim/2, shaders.ElementWG)), metaBinding(), xi, tab.buf)
}

type ropeKey struct {
	theta   float64
	headDim int
}

type ropeTable struct {
	buf       gbuf
	positions int
}

// ropeTable returns the cos/sin table of (theta, headDim) covering at least
// n positions, computed on the CPU by device.RoPECosSin: GPU sin and cos are
// not accurate enough for angles of hundreds of radians.
func (d *Device) ropeTable(theta float64, headDim, n int) (*ropeTable, error) {
	k := ropeKey{theta, headDim}
	t := d.rope[k]
	if t != nil && t.positions >= n {
		return t, nil
	}
	size := 1024
	for size < n {
		size *= 2
	}
	half := headDim / 2
	inv := device.RoPEInvFreq(headDim, theta)
	data := make([]byte, 0, size*half*8)
	var cos, sin []float32
	for pos := 0; pos < size; pos++ {
		cos, sin = device.RoPECosSin(cos[:0], sin[:0], inv, pos)
		for j := range half {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(cos[j]))
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(sin[j]))
		}
	}
	buf, err := d.newBuffer(int64(len(data)), usageStorage|usageCopyDst, "rope")
	if err != nil {
		return nil, err
	}
	if err := d.writeBytes(buf, data); err != nil {
		return nil, err
	}
	if t != nil {
		d.destroy(t.buf)
	}
	t = &ropeTable{buf: buf, positions: size}
	d.rope[k] = t
	return t, nil
}
