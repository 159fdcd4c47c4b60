//go:build js && wasm

package webgpu

import (
	"encoding/binary"
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// ArgmaxRows runs what is recorded and returns the argmax of each row of src,
// computed on the GPU so that only 4 bytes per row come back.
func (d *Device) ArgmaxRows(src device.Buffer, rows, cols int) ([]int32, error) {
	if rows <= 0 || cols <= 0 {
		d.rec.reset()
		return nil, fmt.Errorf("%w: ArgmaxRows over %d x %d", ErrBadArgument, rows, cols)
	}
	sb, ok := d.act(src, rows*cols, "ArgmaxRows", "src")
	if !ok {
		err := d.rec.err
		d.rec.reset()
		return nil, err
	}
	n := int64(rows) * 4
	if _, err := d.ensure(&d.argOut, n, usageStorage|usageCopySrc, "argmax"); err != nil {
		d.rec.reset()
		return nil, err
	}
	if _, err := d.ensure(&d.read, n, usageMapRead|usageCopyDst, "read"); err != nil {
		d.rec.reset()
		return nil, err
	}
	d.dispatch(pipeKey{"argmax", "main", shaders.NoWeight}, shaders.Pack(shaders.ArgmaxParams{Rows: uint32(rows), Cols: uint32(cols)}), grid(rows), d.argOut, sb)
	d.rec.cmds = append(d.rec.cmds, cmd{op: opCopy, src: d.argOut, dst: d.read, size: n})
	v, err := d.flush(n)
	if err != nil {
		return nil, err
	}
	raw := d.scratch(int(n))
	if err := d.b.toGo(raw, v); err != nil {
		return nil, fmt.Errorf("webgpu: reading back: %w", err)
	}
	ids := make([]int32, rows)
	for i := range ids {
		ids[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return ids, nil
}
