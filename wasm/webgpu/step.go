//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

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

// stepMeta is what BeginStep recorded about the current step: where its
// arrays lie in the metadata (element offsets), and what the operations
// check their arguments against.
type stepMeta struct {
	valid                           bool
	n, s                            int
	tokOff, posOff, slotOff, seqOff int
	btOff, lrOff                    int
	btStride, blockSize, nLogits    int
	maxPos                          int
	tokens                          []int32  // for Embed's vocabulary check
	cache                           *KVCache // the cache the step was validated against
}
