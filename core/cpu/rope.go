package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// RoPE: rotates each head of x, in place, by its token's position (the
// rotate_half form), from a cached table of cos and sin.

// RoPE implements device.Device.
func (d *Device) RoPE(x device.Buffer, rows, heads, headDim int, theta float64) {
	if !d.ok("RoPE") {
		return
	}
	if headDim <= 0 || headDim%2 != 0 || heads <= 0 || rows > len(d.batch.Positions) {
		d.fail("RoPE: %d rows, %d heads of %d dims for %d tokens", rows, heads, headDim, len(d.batch.Positions))
		return
	}
	xs := d.floats("RoPE", x, rows*heads*headDim)
	if xs == nil {
		return
	}
	t := d.ropeTable(headDim, theta, d.batch.MaxPosition())
	half := headDim / 2
	width := heads * headDim
	simd := d.isa == isaAVX512 && half%16 == 0
	d.rowsParallel(rows, width, func(r int) {
		p := int(d.batch.Positions[r])
		cos, sin := t.cos[p*half:(p+1)*half], t.sin[p*half:(p+1)*half]
		row := xs[r*width : (r+1)*width]
		if simd {
			for h := range heads {
				ropeZ(&row[h*headDim], &cos[0], &sin[0], half)
			}
			return
		}
		for h := range heads {
			v := row[h*headDim : (h+1)*headDim]
			for j := range half {
				x1, x2 := v[j], v[j+half]
				// The conversions round each product (the spec lets a
				// compiler fuse x*y+z otherwise), as transformers and
				// ropeZ do.
				v[j] = float32(x1*cos[j]) - float32(x2*sin[j])
				v[j+half] = float32(x2*cos[j]) + float32(x1*sin[j])
			}
		}
	})
}

// ropeKey identifies a table of RoPE angles.
type ropeKey struct {
	headDim int
	theta   float64
}

// ropeTable caches cos and sin of position·inv_freq[j], j < headDim/2, for
// positions [0, len(cos)/(headDim/2)), as device.RoPECosSin computes them.
type ropeTable struct {
	invFreq  []float32
	cos, sin []float32
}

func (d *Device) ropeTable(headDim int, theta float64, maxPos int) *ropeTable {
	key := ropeKey{headDim, theta}
	t := d.ropes[key]
	half := headDim / 2
	if t == nil {
		t = &ropeTable{invFreq: device.RoPEInvFreq(headDim, theta)}
		d.ropes[key] = t
	}
	for p := len(t.cos) / half; p <= maxPos; p++ {
		t.cos, t.sin = device.RoPECosSin(t.cos, t.sin, t.invFreq, p)
	}
	return t
}
