//go:build js && wasm

package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/hack-pad/safejs"

	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// Command opcodes, as runtime.js run() reads them.
const (
	opDispatch = 0
	opCopy     = 1
	cmdWords   = 7
	maxBinds   = 6
)

// cmd is one recorded command: a dispatch, or a buffer copy for a read.
type cmd struct {
	op    uint32
	pipe  *pipeline
	binds [maxBinds]gbuf // bindings 1.. (binding 0 is the parameters)
	nb    int
	slot  uint32 // parameter block index
	grid  [3]uint32
	// copy
	src, dst       gbuf
	srcOff, dstOff int64
	size           int64
}

// recorder accumulates a step's commands in Go memory until a read.
type recorder struct {
	cmds    []cmd
	slots   [][shaders.ParamWords]uint32
	slotIdx map[[shaders.ParamWords]uint32]uint32
	meta    []int32
	dirty   bool   // meta changed since it was last uploaded
	bytes   []byte // the step's upload: words, parameters, metadata
	key     []byte // scratch for bind group cache keys
	err     error  // first error of the step, reported at the next read

	// Element offsets into meta of the current step's arrays.
	step stepMeta
}

func (r *recorder) init() {
	r.slotIdx = map[[shaders.ParamWords]uint32]uint32{}
}

// fail records the first error of the step.
func (r *recorder) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *recorder) reset() {
	r.cmds = r.cmds[:0]
	r.slots = r.slots[:0]
	clear(r.slotIdx)
	r.err = nil
}

// param returns the index of the parameter block p, shared by every
// dispatch of the step with the same values (all layers of a model use the
// same few), which keeps the upload small.
func (r *recorder) param(p [shaders.ParamWords]uint32) uint32 {
	if i, ok := r.slotIdx[p]; ok {
		return i
	}
	i := uint32(len(r.slots))
	r.slots = append(r.slots, p)
	r.slotIdx[p] = i
	return i
}

// grid spreads n workgroups over x and y, since a grid dimension holds at
// most 65535; kernels rebuild the linear index from num_workgroups.
func grid(n int) [3]uint32 {
	if n <= maxGridDim {
		return [3]uint32{uint32(n), 1, 1}
	}
	y := (n + maxGridDim - 1) / maxGridDim
	x := (n + y - 1) / y
	return [3]uint32{uint32(x), uint32(y), 1}
}

// dispatch records kernel k over the given workgroup grid, with params
// (shaders.Pack of the kernel's Params struct) as its parameter block.
func (d *Device) dispatch(k pipeKey, params [shaders.ParamWords]uint32, g [3]uint32, binds ...gbuf) {
	if d.rec.err != nil {
		return
	}
	if g[0] == 0 || g[1] == 0 || g[2] == 0 {
		return
	}
	p, err := d.pipeline(k)
	if err != nil {
		d.rec.fail(err)
		return
	}
	want := 0
	for _, k := range p.kinds[1:] {
		if k != kindNone {
			want++
		}
	}
	if len(binds) != want {
		d.rec.fail(fmt.Errorf("webgpu: kernel %s.%s takes %d buffers, got %d", k.kernel, k.entry, want, len(binds)))
		return
	}
	c := cmd{op: opDispatch, pipe: p, nb: len(binds), slot: d.rec.param(params), grid: g}
	copy(c.binds[:], binds)
	d.rec.cmds = append(d.rec.cmds, c)
}

// metaBinding stands for the metadata buffer in a recorded command. The
// buffer is sized at flush, before bind groups are resolved, so commands
// name it by this placeholder rather than by a buffer that may be replaced.
func metaBinding() gbuf { return gbuf{id: math.MaxUint32} }

// flush uploads and runs everything recorded. When readBytes > 0 the
// recorded commands end with a copy into d.read and flush returns the
// JavaScript Uint8Array holding those bytes.
func (d *Device) flush(readBytes int64) (safejs.Value, error) {
	rec := &d.rec
	defer rec.reset()
	if d.closed {
		return safejs.Undefined(), fmt.Errorf("webgpu: device closed")
	}
	if err := d.ctx.Err(); err != nil {
		return safejs.Undefined(), err
	}
	if rec.err != nil {
		return safejs.Undefined(), rec.err
	}
	align := int64(d.limits.uniformAlign)
	if align < paramsSize {
		align = paramsSize
	}
	if _, err := d.ensure(&d.params, max(int64(len(rec.slots)), 1)*align, usageUniform|usageCopyDst, "params"); err != nil {
		return safejs.Undefined(), err
	}
	metaBytes := int64(len(rec.meta)) * 4
	grew, err := d.ensure(&d.meta, max(metaBytes, 4), usageStorage|usageCopyDst, "meta")
	if err != nil {
		return safejs.Undefined(), err
	}
	if grew {
		rec.dirty = true // a new buffer holds none of the metadata
	}

	nCmd := len(rec.cmds)
	pBytes := int64(len(rec.slots)) * align
	mBytes := int64(0)
	if rec.dirty {
		mBytes = metaBytes
	}
	total := int64(nCmd*cmdWords*4) + pBytes + mBytes
	buf := rec.bytes[:0]
	if int64(cap(buf)) < total {
		buf = make([]byte, 0, total)
	}
	for i := range rec.cmds {
		c := &rec.cmds[i]
		w := [cmdWords]uint32{c.op}
		if c.op == opDispatch {
			g, err := d.group(c)
			if err != nil {
				return safejs.Undefined(), err
			}
			w[1], w[2], w[3] = c.pipe.id, g, c.slot*uint32(align)
			w[4], w[5], w[6] = c.grid[0], c.grid[1], c.grid[2]
			d.stats.Dispatches++
		} else {
			w[1], w[2], w[3], w[4], w[5] = c.src.id, uint32(c.srcOff), c.dst.id, uint32(c.dstOff), uint32(c.size)
		}
		for _, x := range w {
			buf = binary.LittleEndian.AppendUint32(buf, x)
		}
	}
	for _, s := range rec.slots {
		start := len(buf)
		for _, x := range s {
			buf = binary.LittleEndian.AppendUint32(buf, x)
		}
		for int64(len(buf)-start) < align {
			buf = append(buf, 0)
		}
	}
	if mBytes > 0 {
		for _, x := range rec.meta {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(x))
		}
	}
	rec.bytes = buf

	stage, err := d.stageArray(total)
	if err != nil {
		return safejs.Undefined(), d.checkLost(err)
	}
	if err := d.b.toJS(stage, buf); err != nil {
		return safejs.Undefined(), fmt.Errorf("webgpu: uploading step: %w", err)
	}
	profiled := d.profileNext && d.timestamps
	var labels []DispatchTime
	if profiled {
		for _, c := range rec.cmds {
			if c.op == opDispatch {
				labels = append(labels, DispatchTime{Kernel: c.pipe.label, Workgroups: c.grid})
			}
		}
		if _, err := d.b.call("profileNext", max(len(labels), 1)); err != nil {
			return safejs.Undefined(), d.checkLost(err)
		}
		d.profileNext = false
	}
	prom, err := d.b.call("run", nCmd, float64(pBytes), float64(mBytes), d.params.id, d.meta.id, d.read.id, float64(readBytes))
	if err != nil {
		return safejs.Undefined(), d.checkLost(err)
	}
	d.stats.Submits++
	v, err := d.aw.await(prom)
	if err != nil {
		return safejs.Undefined(), d.checkLost(fmt.Errorf("webgpu: step failed: %w", err))
	}
	rec.dirty = false
	if profiled && len(labels) > 0 {
		if err := d.readProfile(labels); err != nil {
			return safejs.Undefined(), err
		}
	}
	return v, nil
}

// DispatchTime is the GPU time of one dispatch, measured with timestamp
// queries around it.
type DispatchTime struct {
	Kernel     string // kernel.entry.weighttype
	Workgroups [3]uint32
	Duration   time.Duration
}

// ProfileNext makes the next submission (the next ReadFloats, ArgmaxRows or
// TopKRows) time each of its dispatches on the GPU, for Profile. Each
// dispatch then gets its own compute pass, so do not profile steps whose
// speed matters. It returns ErrUnsupported when the adapter lacks the
// timestamp-query feature.
func (d *Device) ProfileNext() error {
	if !d.timestamps {
		return fmt.Errorf("%w: the adapter has no timestamp-query feature", ErrUnsupported)
	}
	d.profileNext = true
	return nil
}

// Profile returns the dispatch times of the last profiled submission.
func (d *Device) Profile() []DispatchTime { return d.profile }

// readProfile collects the timestamps of the last run.
func (d *Device) readProfile(labels []DispatchTime) error {
	p, err := d.b.call("times")
	if err != nil {
		return err
	}
	ns, err := d.aw.await(p)
	if err != nil {
		return fmt.Errorf("webgpu: reading timestamps: %w", err)
	}
	for i := range labels {
		d.b.crossings++
		v, err := ns.Index(i)
		if err != nil {
			return fmt.Errorf("webgpu: reading timestamps: %w", err)
		}
		f, err := v.Float()
		if err != nil {
			return fmt.Errorf("webgpu: reading timestamps: %w", err)
		}
		labels[i].Duration = time.Duration(f)
	}
	d.profile = labels
	return nil
}

// stageArray returns runtime.js's staging Uint8Array, at least n bytes
// long. Go keeps a reference to it, so that a step costs no crossing to find
// it; it is replaced (by a larger one) only when a step outgrows it.
func (d *Device) stageArray(n int64) (safejs.Value, error) {
	if d.stageLen >= n {
		return d.stage, nil
	}
	size := max(2*n, 1<<16)
	v, err := d.b.call("growStage", float64(size))
	if err != nil {
		return safejs.Undefined(), err
	}
	d.stage, d.stageLen = v, size
	return v, nil
}

// group returns the bind group of c's buffers, creating it on first use.
func (d *Device) group(c *cmd) (uint32, error) {
	k := d.rec.key[:0]
	k = binary.LittleEndian.AppendUint32(k, uint32(c.pipe.layout))
	k = binary.LittleEndian.AppendUint32(k, d.params.id)
	for _, b := range c.binds[:c.nb] {
		if b.id == math.MaxUint32 {
			b = d.meta
		}
		k = binary.LittleEndian.AppendUint32(k, b.id)
	}
	d.rec.key = k
	if g, ok := d.groups[string(k)]; ok {
		return g, nil
	}
	// (binding, buffer, offset, size) for each binding the entry point uses.
	spec := []any{0, d.params.id, 0, paramsSize}
	next := 0
	for binding, kind := range c.pipe.kinds[1:] {
		if kind == kindNone {
			continue
		}
		b := c.binds[next]
		next++
		if b.id == math.MaxUint32 {
			b = d.meta
		}
		spec = append(spec, binding+1, b.id, 0, float64(b.size))
	}
	id, err := d.b.callInt("group", c.pipe.layout, spec)
	if err != nil {
		return 0, d.checkLost(err)
	}
	d.groups[string(k)] = uint32(id)
	d.stats.BindGroups++
	return uint32(id), nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
