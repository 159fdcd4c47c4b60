package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// SwiGLU: out = silu(gate) · up.

// SwiGLU implements device.Device.
func (d *Device) SwiGLU(out, gate, up device.Buffer, n int) {
	if !d.ok("SwiGLU") {
		return
	}
	o, g, u := d.floats("SwiGLU", out, n), d.floats("SwiGLU", gate, n), d.floats("SwiGLU", up, n)
	if o == nil || g == nil || u == nil {
		return
	}
	const chunk = 4096
	d.rowsParallel((n+chunk-1)/chunk, chunk, func(c int) {
		i, end := c*chunk, min(n, (c+1)*chunk)
		if d.isa == isaAVX512 && end-i >= 16 {
			n16 := (end - i) &^ 15
			swigluZ(&o[i], &g[i], &u[i], n16)
			i += n16
		}
		for ; i < end; i++ {
			o[i] = silu(g[i]) * u[i]
		}
	})
}
