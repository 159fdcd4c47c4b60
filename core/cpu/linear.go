package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// Linear: out = x · wᵀ. The kernels are in matmul.go (AVX2, AVX-512 and
// portable Go) and amx.go (the AMX tile units) for float weights, quant.go
// and its quant_*.go for quantized ones.

// Linear implements device.Device.
func (d *Device) Linear(out, x device.Buffer, w device.Weight, rows int) {
	if !d.ok("Linear") {
		return
	}
	cw := d.weight("Linear", w, 2)
	if cw == nil {
		return
	}
	n, k := cw.shape[0], cw.shape[1]
	xs := d.floats("Linear", x, rows*k)
	os := d.floats("Linear", out, rows*n)
	if xs == nil || os == nil {
		return
	}
	xb, ob := x.(*buffer), out.(*buffer)
	if cw.q != nil && d.quantAMX(cw.qt, rows, n, k) {
		d.linearAMX(os, xs, nil, d.bandDequantizer(cw, k), rows, n, k, xb)
	} else if cw.q != nil {
		d.linearQuant(os, xs, cw, rows, n, k)
	} else if cw.bf != nil && d.amx && rows >= amxMinRows && n%32 == 0 && k%32 == 0 {
		d.linearAMX(os, xs, cw.bf, nil, rows, n, k, xb)
	} else if cw.bf != nil {
		d.linearBF16(os, xs, cw.bf, rows, n, k)
	} else {
		d.linearF32(os, xs, cw.f, rows, n, k)
	}
	if ob == d.amxPackedOf.buf {
		d.amxPackedOf.buf = nil
	}
}
