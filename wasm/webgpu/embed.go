//go:build js && wasm

package webgpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

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
	// One row of the table per token: for a quantized table, the blocks of
	// that row, dequantized by the kernel's load_w.
	d.stats.WeightBytes += int64(st.n) * t.bytes / int64(vocab)
	for _, p := range t.parts {
		params := shaders.Pack(shaders.EmbedParams{
			Rows: uint32(st.n), Hidden: uint32(hidden), Row0: uint32(p.row0), Row1: uint32(p.row0 + p.rows), TokOff: uint32(st.tokOff),
		})
		d.dispatch(pipeKey{"embed", "main", t.wt}, params, grid(ceilDiv(st.n*hidden, shaders.ElementWG)), metaBinding(), p.buf, o)
	}
}
