//go:build js && wasm

package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// elementwise is the workgroup size of the one-thread-per-element kernels.
const elementwise = 256

// BeginStep validates b against cache and lays out its metadata for the
// step's kernels. The metadata reaches the GPU in one write when the step
// runs.
func (d *Device) BeginStep(b *step.Step, cache device.KVCache) error {
	if len(d.rec.cmds) > 0 {
		// Commands recorded under the previous step's metadata must run
		// against it, before it is replaced.
		if _, err := d.flush(0); err != nil {
			return err
		}
	}
	d.rec.reset()
	st := &d.rec.step
	*st = stepMeta{}
	c, ok := cache.(*KVCache)
	if !ok || c == nil || c.dev != d {
		return fmt.Errorf("%w: BeginStep: cache %T is not from this webgpu device", ErrBadArgument, cache)
	}
	if err := b.Validate(c.spec.Shape()); err != nil {
		return fmt.Errorf("webgpu: %w", err)
	}
	n, s := len(b.TokenIDs), len(b.QueryStarts)-1
	m := d.rec.meta[:0]
	st.n, st.s = n, s
	st.tokOff = len(m)
	m = append(m, b.TokenIDs...)
	st.posOff = len(m)
	m = append(m, b.Positions...)
	st.slotOff = len(m)
	m = append(m, b.Slots...)
	st.seqOff = len(m)
	m = append(m, b.TokenSeqs...)
	st.btOff = len(m)
	m = append(m, b.BlockTables...)
	st.lrOff = len(m)
	m = append(m, b.LogitsRows...)
	st.btStride, st.blockSize, st.nLogits = b.BlockTableStride, b.BlockSize, len(b.LogitsRows)
	st.maxPos = b.MaxPosition()
	st.tokens, st.cache = b.TokenIDs, c
	st.valid = true
	d.rec.meta = m
	d.rec.dirty = true
	return nil
}

// stepReady reports whether a step's metadata is available, failing the step otherwise.
func (d *Device) stepReady(op string) bool {
	if !d.rec.step.valid {
		d.rec.fail(fmt.Errorf("%w: %s before a successful BeginStep", ErrBadArgument, op))
		return false
	}
	return true
}

// act resolves an activation buffer argument that must hold need floats.
func (d *Device) act(b device.Buffer, need int, op, what string) (gbuf, bool) {
	gb, ok := b.(*Buffer)
	switch {
	case !ok || gb == nil:
		d.rec.fail(fmt.Errorf("%w: %s: %s is %T, not a webgpu buffer", ErrBadArgument, op, what, b))
	case gb.dev != d:
		d.rec.fail(fmt.Errorf("%w: %s: %s belongs to another device", ErrBadArgument, op, what))
	case need < 0 || need > gb.n:
		d.rec.fail(fmt.Errorf("%w: %s: %s holds %d floats, needs %d", ErrBadArgument, op, what, gb.n, need))
	default:
		return gb.buf, true
	}
	return gbuf{}, false
}

// weight resolves a weight argument.
func (d *Device) weight(w device.Weight, op string) (*Weight, bool) {
	gw, ok := w.(*Weight)
	if !ok || gw == nil || gw.dev != d {
		d.rec.fail(fmt.Errorf("%w: %s: weight %T is not from this webgpu device", ErrBadArgument, op, w))
		return nil, false
	}
	return gw, true
}

// Embed writes row TokenIDs[i] of table to row i of out.
func (d *Device) Embed(out device.Buffer, table device.Weight) {
	if !d.stepReady("Embed") {
		return
	}
	t, ok := d.weight(table, "Embed")
	if !ok {
		return
	}
	if len(t.shape) != 2 {
		d.rec.fail(fmt.Errorf("%w: Embed: table %s has shape %v", ErrBadArgument, t.name, t.shape))
		return
	}
	vocab, hidden := t.shape[0], t.shape[1]
	st := &d.rec.step
	o, ok := d.act(out, st.n*hidden, "Embed", "out")
	if !ok {
		return
	}
	for i, tok := range st.tokens {
		if tok < 0 || int(tok) >= vocab {
			d.rec.fail(fmt.Errorf("%w: Embed: token %d (row %d) outside the vocabulary of %d", ErrBadArgument, tok, i, vocab))
			return
		}
	}
	for _, p := range t.parts {
		params := [16]uint32{uint32(st.n), uint32(hidden), uint32(p.row0), uint32(p.row0 + p.rows), uint32(st.tokOff)}
		d.dispatch(pipeKey{"embed", "main", t.wt}, params, grid(ceilDiv(st.n*hidden, elementwise)), metaBinding(), p.buf, o)
	}
}

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
	params := [16]uint32{uint32(rows), uint32(width), f32(eps)}
	k, g := pipeKey{"rmsnorm", "main", gw.wt}, grid(rows)
	if d.threadKernels {
		// CPU adapters: a thread per row, no barriers.
		k.entry, g = "main_thread", grid(ceilDiv(rows, 64))
	}
	if o.id == xi.id {
		k.entry += "_inplace"
		d.dispatch(k, params, g, o, gw.parts[0].buf)
		return
	}
	d.dispatch(k, params, g, o, xi, gw.parts[0].buf)
}

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
	vec := gw.wt == shaders.WeightBF16 && inF%8 == 0 && !d.noVec
	for _, p := range gw.parts {
		params := [16]uint32{uint32(rows), uint32(inF), uint32(p.rows), uint32(outF), uint32(p.row0)}
		switch {
		case vec && d.threadKernels:
			// Any number of rows, 8 per workgroup row of the grid.
			g := [3]uint32{uint32(ceilDiv(p.rows, 64)), uint32(ceilDiv(rows, gemvMaxRows)), 1}
			if g[0] > maxGridDim || g[1] > maxGridDim {
				d.rec.fail(fmt.Errorf("%w: Linear: %dx%d output exceeds the dispatch grid", ErrTooLarge, rows, p.rows))
				return
			}
			d.dispatch(pipeKey{"linear_bf16x8", "gemv_thread", shaders.NoWeight}, params, g, o, xi, p.buf)
		case rows <= gemvMaxRows && vec:
			d.dispatch(pipeKey{"linear_bf16x8", "gemv", shaders.NoWeight}, params, grid(p.rows), o, xi, p.buf)
		case rows <= gemvMaxRows && d.threadKernels:
			d.dispatch(pipeKey{"linear", "gemv_thread", gw.wt}, params, grid(ceilDiv(p.rows, 64)), o, xi, p.buf)
		case rows <= gemvMaxRows:
			d.dispatch(pipeKey{"linear", "gemv", gw.wt}, params, grid(p.rows), o, xi, p.buf)
		default:
			g := [3]uint32{uint32(ceilDiv(p.rows, 32)), uint32(ceilDiv(rows, 32)), 1}
			if g[0] > maxGridDim || g[1] > maxGridDim {
				d.rec.fail(fmt.Errorf("%w: Linear: %dx%d output exceeds the dispatch grid", ErrTooLarge, rows, p.rows))
				return
			}
			d.dispatch(pipeKey{"linear", "gemm", gw.wt}, params, g, o, xi, p.buf)
		}
	}
}

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
	params := [16]uint32{uint32(rows), uint32(heads), uint32(headDim), uint32(st.posOff)}
	d.dispatch(pipeKey{"rope", "main", shaders.NoWeight}, params, grid(ceilDiv(rows*heads*headDim/2, elementwise)), metaBinding(), xi, tab.buf)
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

// WriteKV stores k and v rows at the step's slots of layer.
func (d *Device) WriteKV(cache device.KVCache, layer int, k, v device.Buffer, rows int) {
	if !d.stepReady("WriteKV") {
		return
	}
	c, ok := cache.(*KVCache)
	st := &d.rec.step
	if !ok || c != st.cache || layer < 0 || layer >= len(c.k) || rows > st.n {
		d.rec.fail(fmt.Errorf("%w: WriteKV: cache %T (the step's: %v), layer %d, rows %d (step has %d)", ErrBadArgument, cache, ok && c == st.cache, layer, rows, st.n))
		return
	}
	kvDim := c.spec.SlotFloats()
	kb, ok1 := d.act(k, rows*kvDim, "WriteKV", "k")
	vb, ok2 := d.act(v, rows*kvDim, "WriteKV", "v")
	if !ok1 || !ok2 {
		return
	}
	params := [16]uint32{uint32(rows), uint32(kvDim), uint32(st.slotOff)}
	d.dispatch(pipeKey{"kv_write", "main", shaders.NoWeight}, params, grid(ceilDiv(rows*kvDim, elementwise)), metaBinding(), kb, vb, c.k[layer], c.v[layer])
}

// Attention computes causal grouped-query attention of q against layer's cache.
func (d *Device) Attention(out, q device.Buffer, cache device.KVCache, layer, heads, rows int) {
	if !d.stepReady("Attention") {
		return
	}
	c, ok := cache.(*KVCache)
	st := &d.rec.step
	if !ok || c != st.cache || layer < 0 || layer >= len(c.k) || rows > st.n || heads <= 0 {
		d.rec.fail(fmt.Errorf("%w: Attention: cache %T (the step's: %v), layer %d, heads %d, rows %d (step has %d)", ErrBadArgument, cache, ok && c == st.cache, layer, heads, rows, st.n))
		return
	}
	sp := c.spec
	if heads%sp.KVHeads != 0 {
		d.rec.fail(fmt.Errorf("%w: Attention: %d heads over %d KV heads", ErrBadArgument, heads, sp.KVHeads))
		return
	}
	width := heads * sp.HeadDim
	o, ok1 := d.act(out, rows*width, "Attention", "out")
	qi, ok2 := d.act(q, rows*width, "Attention", "q")
	if !ok1 || !ok2 {
		return
	}
	scale := device.AttentionScale(sp.HeadDim)
	params := [16]uint32{uint32(rows), uint32(heads), uint32(sp.KVHeads), uint32(sp.HeadDim), uint32(sp.BlockSize),
		uint32(st.posOff), uint32(st.seqOff), uint32(st.btOff), uint32(st.btStride), f32(scale)}
	if d.threadKernels {
		d.dispatch(pipeKey{"attention", "main_thread", shaders.NoWeight}, params, grid(ceilDiv(rows*heads, 64)), metaBinding(), o, qi, c.k[layer], c.v[layer])
		return
	}
	d.dispatch(pipeKey{"attention", "main", shaders.NoWeight}, params, grid(rows*heads), metaBinding(), o, qi, c.k[layer], c.v[layer])
}

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
	params := [16]uint32{uint32(st.nLogits), uint32(cols), uint32(st.lrOff)}
	d.dispatch(pipeKey{"gather", "main", shaders.NoWeight}, params, grid(ceilDiv(st.nLogits*cols, elementwise)), metaBinding(), o, xi)
}

// ReadFloats runs what is recorded and copies the first len(dst) floats of src.
func (d *Device) ReadFloats(dst []float32, src device.Buffer) error {
	sb, ok := d.act(src, len(dst), "ReadFloats", "src")
	if !ok {
		err := d.rec.err
		d.rec.reset()
		return err
	}
	n := int64(len(dst)) * 4
	if n == 0 {
		_, err := d.flush(0)
		return err
	}
	if _, err := d.ensure(&d.read, n, usageMapRead|usageCopyDst, "read"); err != nil {
		d.rec.reset()
		return err
	}
	d.rec.cmds = append(d.rec.cmds, cmd{op: opCopy, src: sb, dst: d.read, size: n})
	v, err := d.flush(n)
	if err != nil {
		return err
	}
	raw := d.scratch(int(n))
	if err := d.b.toGo(raw, v); err != nil {
		return fmt.Errorf("webgpu: reading back: %w", err)
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return nil
}

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
	d.dispatch(pipeKey{"argmax", "main", shaders.NoWeight}, [16]uint32{uint32(rows), uint32(cols)}, grid(rows), d.argOut, sb)
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
	d.dispatch(pipeKey{"topk", "main", shaders.NoWeight}, [16]uint32{uint32(rows), uint32(cols), uint32(k)}, grid(rows), d.argOut, sb)
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

// scratch returns a reusable byte slice of length n.
func (d *Device) scratch(n int) []byte {
	if cap(d.readBytes) < n {
		d.readBytes = make([]byte, n)
	}
	return d.readBytes[:n]
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
