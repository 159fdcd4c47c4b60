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
	d.linear(os, xs, cw, rows, n, k, x.(*buffer))
	if ob := out.(*buffer); ob == d.amxPackedOf.buf {
		d.amxPackedOf.buf = nil
	}
}

// linear is Linear on the floats of the buffers: os = xs · cwᵀ, where xs
// is the data of xb.
func (d *Device) linear(os, xs []float32, cw *weight, rows, n, k int, xb *buffer) {
	if cw.q != nil && d.quantAMX8(cw.qt, rows, n, k) {
		d.linearAMX8(os, xs, cw, rows, n, k)
	} else if cw.q != nil && d.quantAMX(cw.qt, rows, n, k) {
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
}

// maxFused is the most matmuls LinearFused runs as one loop.
const maxFused = 4

// LinearFused computes outs[i] = x · ws[i]ᵀ for every i, the same as a
// Linear call for each. Where all the weights are quantized alike and take
// the integer path, or all the int8 tiles, the matmuls run as one parallel
// loop over all their bands, with the activations quantized once: a decode
// step then hands work to the threads, and waits for the last of them,
// once for q, k and v and once for gate and up instead of five times.
// Otherwise it calls Linear for each.
func (d *Device) LinearFused(outs []device.Buffer, x device.Buffer, ws []device.Weight, rows int) {
	if !d.fusable(ws, rows) || len(outs) != len(ws) {
		for i, w := range ws {
			if i < len(outs) {
				d.Linear(outs[i], x, w, rows)
			}
		}
		if len(outs) != len(ws) {
			d.fail("LinearFused: %d outputs for %d weights", len(outs), len(ws))
		}
		return
	}
	var cws [maxFused]*weight
	var os [maxFused][]float32
	k := 0
	for i, w := range ws {
		cws[i] = d.weight("LinearFused", w, 2)
		if cws[i] == nil {
			return
		}
		if i > 0 && cws[i].shape[1] != k {
			d.fail("LinearFused: weight %s has %d inputs, %s %d", cws[i].name, cws[i].shape[1], cws[0].name, k)
			return
		}
		k = cws[i].shape[1]
		if os[i] = d.floats("LinearFused", outs[i], rows*cws[i].shape[0]); os[i] == nil {
			return
		}
	}
	xs := d.floats("LinearFused", x, rows*k)
	if xs == nil {
		return
	}
	if d.quantAMX8(cws[0].qt, rows, cws[0].shape[0], k) {
		d.linearAMX8Fused(os[:len(ws)], xs, cws[:len(ws)], rows, k)
		return
	}
	d.linearQuantFused(os[:len(ws)], xs, cws[:len(ws)], rows, k)
}

// runFused runs part(i, t) for every weight i of a LinearFused (at most
// maxFused) and each of its counts[i] tasks t, as one parallel loop.
func (d *Device) runFused(counts []int, part func(i, t int)) {
	// Weight i's tasks are first[i] <= task < first[i+1].
	var first [maxFused + 1]int
	for i, c := range counts {
		first[i+1] = first[i] + c
	}
	d.pool.run(first[len(counts)], func(task int) {
		i := 0
		for task >= first[i+1] {
			i++
		}
		part(i, task-first[i])
	})
}

// fusable reports whether LinearFused can run ws as one loop: 2 to
// maxFused quantized weights of one type, all on the integer path or all
// on the int8 tiles.
func (d *Device) fusable(ws []device.Weight, rows int) bool {
	if !d.ok("LinearFused") || len(ws) < 2 || len(ws) > maxFused || d.quant.floatPath {
		return false
	}
	var t device.DType
	tiles := false
	for i, w := range ws {
		cw, ok := w.(*weight)
		if !ok || cw.q == nil || len(cw.shape) != 2 || (i > 0 && cw.qt != t) {
			return false
		}
		t = cw.qt
		amx8 := d.quantAMX8(t, rows, cw.shape[0], cw.shape[1])
		if d.quantAMX(t, rows, cw.shape[0], cw.shape[1]) && !amx8 || (i > 0 && amx8 != tiles) {
			return false
		}
		tiles = amx8
	}
	return true
}
