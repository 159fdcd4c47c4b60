package cpu

import (
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// KV caches of 16-bit floats: the rounding WriteKV applies and the
// widening the portable attention path applies. (The AVX-512 kernels
// widen as they load: attention_half_amd64.s.)

// f16Nearest rounds v to the nearest IEEE half, ties to even: values
// beyond the largest half (65504) by half an ulp or more become ±Inf,
// values below the smallest normal become subnormals (down to 2^-24), NaNs
// stay NaN.
func f16Nearest(v float32) uint16 {
	b := math.Float32bits(v)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13) // quiet NaN
		}
		return sign | 0x7c00
	}
	if e := exp - 127 + 15; e > 0 {
		if e >= 0x1f {
			return sign | 0x7c00
		}
		// Normal: keep 10 of the 23 mantissa bits; a carry out of the
		// mantissa bumps the exponent, up to Inf, as it should.
		h := uint32(e)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || rest == 0x1000 && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	// Subnormal half: the value in units of 2^-24 is m·2^(exp-126), with
	// the implicit bit in m.
	shift := uint(126 - exp)
	if exp == 0 || shift > 24 {
		return sign // below 2^-25: rounds to zero
	}
	m := mant | 0x800000
	h := m >> shift
	rest, halfway := m&(1<<shift-1), uint32(1)<<(shift-1)
	if rest > halfway || rest == halfway && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// widenHalf sets dst[i] to src[i] widened to float32 from dt (BF16 or
// F16), with the AVX2 kernels when simd is set, and len(dst) == len(src).
func widenHalf(dst []float32, src []uint16, dt device.DType, simd bool) {
	n8 := 0
	if simd {
		n8 = len(dst) &^ 7
	}
	if n8 > 0 {
		if dt == device.F16 {
			widenF16AVX(&dst[0], &src[0], n8)
		} else {
			widenBF16AVX(&dst[0], &src[0], n8)
		}
	}
	if dt == device.F16 {
		for i := n8; i < len(dst); i++ {
			dst[i] = f16ToF32(src[i])
		}
		return
	}
	for i := n8; i < len(dst); i++ {
		dst[i] = bf16ToF32(src[i])
	}
}

// halfRounding rounds float32 rows to a 16-bit cache dtype: with the
// AVX-512 kernels (bf16RowsZ, roundF16Z) where they run, else in Go; both
// round to nearest, ties to even, exactly as bf16Nearest and f16Nearest.
type halfRounding struct {
	dt     device.DType
	simd   bool
	tables [64]uint16 // bf16RowsZ's word indices (amxPackTables)
}

func (d *Device) halfRounding(dt device.DType) halfRounding {
	r := halfRounding{dt: dt}
	if dt == device.F16 {
		r.simd = d.isa == isaAVX512
	} else {
		r.simd = d.isa == isaAVX512 && haveAVX512BW()
		r.tables = amxPackTables()
	}
	return r
}

// round sets dst[i] to src[i] rounded, len(dst) == len(src).
func (r *halfRounding) round(dst []uint16, src []float32) {
	n := 0
	if r.simd && r.dt == device.F16 {
		n = len(src) &^ 15
		if n > 0 {
			roundF16Z(&dst[0], &src[0], n)
		}
	} else if r.simd {
		n = len(src) &^ 31
		if n > 0 {
			bf16RowsZ(&dst[0], 32, &src[0], n/32, &r.tables[0])
		}
	}
	if r.dt == device.F16 {
		for i := n; i < len(src); i++ {
			dst[i] = f16Nearest(src[i])
		}
		return
	}
	for i := n; i < len(src); i++ {
		dst[i] = bf16Nearest(src[i])
	}
}

// writeKVHalf is WriteKV for a BF16 or F16 cache: the same slots, each
// element rounded to the nearest 16-bit value. A value row is rounded in
// place; a key row is rounded into a scratch row, then scattered down its
// block's transposed columns.
func (d *Device) writeKVHalf(c *kvCache, layer int, ks, vs []float32, rows int) {
	bs, hd, nkv := c.spec.BlockSize, c.spec.HeadDim, c.spec.KVHeads
	width := nkv * hd
	kl, vl := c.kh[layer], c.vh[layer]
	r := d.halfRounding(c.spec.DType)
	slots := d.batch.Slots[:rows]
	// One task per KV head, as for float32: disjoint regions.
	write := func(g int) {
		var buf [256]uint16
		krow := buf[:min(hd, len(buf))]
		if hd > len(buf) {
			krow = make([]uint16, hd)
		}
		for i, s32 := range slots {
			s := int(s32)
			blk, off := s/bs, s%bs
			base := (blk*nkv + g) * hd * bs
			r.round(krow, ks[i*width+g*hd:i*width+(g+1)*hd])
			kt := kl[base+off:]
			for j, h := range krow {
				kt[j*bs] = h
			}
			r.round(vl[base+off*hd:base+(off+1)*hd], vs[i*width+g*hd:i*width+(g+1)*hd])
		}
	}
	if rows*width < 1<<15 {
		for g := range nkv {
			write(g)
		}
		return
	}
	d.pool.run(nkv, write)
}
