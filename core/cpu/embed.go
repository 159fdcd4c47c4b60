package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// Embed: row i of out is row TokenIDs[i] of the embedding table. Rows of a
// quantized table are dequantized as they are looked up.

// Embed implements device.Device.
func (d *Device) Embed(out device.Buffer, table device.Weight) {
	if !d.ok("Embed") {
		return
	}
	w := d.weight("Embed", table, 2)
	if w == nil {
		return
	}
	vocab, hidden := w.shape[0], w.shape[1]
	ids := d.batch.TokenIDs
	o := d.floats("Embed", out, len(ids)*hidden)
	if o == nil {
		return
	}
	for i, id := range ids {
		if id < 0 || int(id) >= vocab {
			d.fail("Embed: token id %d outside vocab of %d", id, vocab)
			return
		}
		row := o[i*hidden : (i+1)*hidden]
		switch {
		case w.q != nil:
			dequantRow(w.qt, row, w.q[int(id)*w.qrow:(int(id)+1)*w.qrow])
		case w.bf != nil:
			for j, u := range w.bf[int(id)*hidden : (int(id)+1)*hidden] {
				row[j] = bf16ToF32(u)
			}
		default:
			copy(row, w.f[int(id)*hidden:])
		}
	}
}
