package cpu

import (
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// RMSNorm: out = x / sqrt(mean(x²) + eps) · w, row by row.

// RMSNorm implements device.Device. The sum of squares is accumulated in
// float64, so the result is the correctly rounded float32 norm in practice.
func (d *Device) RMSNorm(out, x device.Buffer, w device.Weight, rows int, eps float32) {
	if !d.ok("RMSNorm") {
		return
	}
	cw := d.weight("RMSNorm", w, 1)
	if cw == nil {
		return
	}
	width := cw.shape[0]
	xs := d.floats("RMSNorm", x, rows*width)
	os := d.floats("RMSNorm", out, rows*width)
	if xs == nil || os == nil {
		return
	}
	w16 := 0 // elements done by the AVX-512 kernels
	if d.isa == isaAVX512 {
		w16 = width &^ 15
	}
	d.rowsParallel(rows, width, func(r int) {
		xr, or := xs[r*width:(r+1)*width], os[r*width:(r+1)*width]
		var ss float64
		if w16 > 0 {
			ss = sumSquaresZ(&xr[0], w16)
		}
		for _, v := range xr[w16:] {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / math.Sqrt(float64(float32(ss/float64(width))+eps)))
		if w16 > 0 {
			scaleMulZ(&or[0], &xr[0], &cw.f[0], w16, inv)
		}
		for j := w16; j < width; j++ {
			or[j] = xr[j] * inv * cw.f[j]
		}
	})
}
