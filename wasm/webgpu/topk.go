//go:build js && wasm

package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// MaxTopK is the largest k TopKRows accepts.
const MaxTopK = 256

// TopKRows runs what is recorded and returns, for each of rows rows of src
// (cols floats each), the k largest values and their indices, largest first
// and the lower index first among equal values. Row r's entries are
// ids[r*k : (r+1)*k]; an id of -1 means the row had fewer than k numbers
// (NaNs are skipped). Only 8*k bytes per row come back from the GPU, so a
// top-k sampler need not read the whole vocabulary.
func (d *Device) TopKRows(src device.Buffer, rows, cols, k int) (ids []int32, vals []float32, err error) {
	if rows <= 0 || cols <= 0 || k <= 0 || k > min(cols, MaxTopK) {
		d.rec.reset()
		return nil, nil, fmt.Errorf("%w: TopKRows: k=%d over %d x %d (k at most %d)", ErrBadArgument, k, rows, cols, MaxTopK)
	}
	sb, ok := d.act(src, rows*cols, "TopKRows", "src")
	if !ok {
		err := d.rec.err
		d.rec.reset()
		return nil, nil, err
	}
	n := int64(rows) * int64(k) * 8
	if _, err := d.ensure(&d.argOut, n, usageStorage|usageCopySrc, "argmax"); err != nil {
		d.rec.reset()
		return nil, nil, err
	}
	if _, err := d.ensure(&d.read, n, usageMapRead|usageCopyDst, "read"); err != nil {
		d.rec.reset()
		return nil, nil, err
	}
	d.dispatch(pipeKey{"topk", "main", shaders.NoWeight}, shaders.Pack(shaders.TopKParams{Rows: uint32(rows), Cols: uint32(cols), K: uint32(k)}), grid(rows), d.argOut, sb)
	d.rec.cmds = append(d.rec.cmds, cmd{op: opCopy, src: d.argOut, dst: d.read, size: n})
	v, err := d.flush(n)
	if err != nil {
		return nil, nil, err
	}
	raw := d.scratch(int(n))
	if err := d.b.toGo(raw, v); err != nil {
		return nil, nil, fmt.Errorf("webgpu: reading back: %w", err)
	}
	ids = make([]int32, rows*k)
	vals = make([]float32, rows*k)
	for i := range ids {
		ids[i] = int32(binary.LittleEndian.Uint32(raw[8*i:]))
		vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[8*i+4:]))
	}
	return ids, vals, nil
}
