package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// Add: dst += src (the residual connections).

// Add implements device.Device.
func (d *Device) Add(dst, src device.Buffer, n int) {
	if !d.ok("Add") {
		return
	}
	a, b := d.floats("Add", dst, n), d.floats("Add", src, n)
	if a == nil || b == nil {
		return
	}
	const chunk = 4096
	d.rowsParallel((n+chunk-1)/chunk, chunk, func(c int) {
		i, end := c*chunk, min(n, (c+1)*chunk)
		ac, bc := a[i:end], b[i:end]
		for j := range ac {
			ac[j] += bc[j]
		}
	})
}
