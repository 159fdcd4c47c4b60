package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// GatherRows: copies out the rows of the tokens whose logits the step asks
// for (LogitsRows).

// GatherRows implements device.Device.
func (d *Device) GatherRows(out, x device.Buffer, cols int) {
	if !d.ok("GatherRows") {
		return
	}
	rows := d.batch.LogitsRows
	xs := d.floats("GatherRows", x, len(d.batch.TokenIDs)*cols)
	os := d.floats("GatherRows", out, len(rows)*cols)
	if xs == nil || os == nil {
		return
	}
	for k, r := range rows {
		copy(os[k*cols:(k+1)*cols], xs[int(r)*cols:])
	}
}
