package cpu

import (
	"math"
	"unsafe"
)

// The AMX path multiplies with Intel's tile units (TDPBF16PS: a 16x32 by
// 32x16 bf16 block product accumulated in float32, 16K multiply-adds per
// instruction), several times the float32 FMA rate of AVX-512. The units
// only multiply bf16, so by default (PrecisionFloat32) each float32
// activation is split into three bf16 parts, hi + mid + lo, which together
// carry all 24 bits of its significand: three tile products give the
// float32 result to within float32 rounding. PrecisionBF16 instead rounds
// each activation to the nearest bf16, as PyTorch's bf16 inference does:
// one tile product, three times the speed, each activation off by up to
// 2^-9 relative. The weights are bf16 already and are read in place.

// amxMinRows is the fewest activation rows worth the AMX path. The kernels
// compute whole 16-row tiles, padding with zeros; measured on two threads
// (weights in cache), AVX-512 is slightly faster at 8 rows, AMX 1.4x faster
// at 12 and 16 rows and 1.9x at 64.
const amxMinRows = 12

// amxTileConfig is the LDTILECFG block: palette 1, eight tiles of 16 rows
// of 64 bytes.
func amxTileConfig() (cfg [64]byte) {
	cfg[0] = 1
	for t := range 8 {
		cfg[16+2*t] = 64
		cfg[48+t] = 16
	}
	return cfg
}

// packAMX writes the activation tiles of rows [16·mt, 16·mt+16) of x
// ([rows, k]) to dst: for each block of 32 k and each of parts parts, a
// 16x16 tile of bf16 pairs, row r holding elements 2r and 2r+1 of the block
// for each of the 16 activation rows. Rows past the end are zeros. It is
// the portable reference for packAMXFast.
//
// Three parts are cut by truncation: hi is the top 8 significant bits of x,
// mid the top 8 of x - hi (computed exactly), lo the rest, which has at most
// 8 significant bits and so is exactly a bf16. hi + mid + lo == x exactly
// (short of float32 denormals, which the tile units flush to zero anyway).
// Two parts are hi and mid alone: x truncated to its top 16 significant
// bits (quantized weights, see linearAMX). One part is x rounded to the
// nearest bf16, ties to even.
func packAMX(dst []uint16, x []float32, rows, k, mt, parts int) {
	kbs := k / 32
	dst = dst[:kbs*parts*512]
	clear(dst)
	for ml := range min(16, rows-mt*16) {
		m := mt*16 + ml
		xr := x[m*k : (m+1)*k]
		for kb := range kbs {
			t := dst[kb*parts*512 : (kb+1)*parts*512]
			for i, v := range xr[kb*32 : kb*32+32] {
				at := (i>>1)*32 + ml*2 + i&1
				if parts == 1 {
					t[at] = bf16Nearest(v)
					continue
				}
				b := math.Float32bits(v)
				hi := b &^ 0xffff
				r1 := v - math.Float32frombits(hi)
				mid := math.Float32bits(r1) &^ 0xffff
				lo := math.Float32bits(r1 - math.Float32frombits(mid))
				t[at] = uint16(hi >> 16)
				t[at+512] = uint16(mid >> 16)
				if parts == 3 {
					t[at+1024] = uint16(lo >> 16)
				}
			}
		}
	}
}

// bf16Nearest rounds v to the nearest bf16, ties to even; NaNs keep their
// top bits.
func bf16Nearest(v float32) uint16 {
	b := math.Float32bits(v)
	if v != v {
		return uint16(b >> 16)
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// amxPackTables are the constant vectors of the packing kernels: the word
// indices 1, 3, ..., 63 (the top halves of 32 float32s in two registers,
// in order), then 1, 33, 3, 35, ... (the same, alternating between the two
// registers).
func amxPackTables() (t [64]uint16) {
	for i := range 32 {
		t[i] = uint16(2*i + 1)
		t[32+i] = uint16(i/2*2 + 1 + 32*(i%2))
	}
	return t
}

// packAMXFast is packAMX with the AVX-512 kernels: packAMXZ splits the rows
// into row-major matrices of bf16 pairs, and transposing each one gives the
// column-per-row layout of a tile.
func (d *Device) packAMXFast(dst []uint16, x []float32, rows, k, mt, parts int) {
	kbs := k / 32
	dst = dst[:kbs*parts*512]
	valid := max(0, min(16, rows-mt*16))
	if valid <= 0 {
		clear(dst)
		return
	}
	var tmp [3 * 512]uint16 // rows past valid stay zero: zero columns
	for kb := range kbs {
		packAMXZ(&x[mt*16*k+kb*32], k, valid, &tmp[0], &d.amxTables[0], parts)
		for p := range parts {
			transposeTileZ((*float32)(unsafe.Pointer(&tmp[p*512])), 16, (*float32)(unsafe.Pointer(&dst[(kb*parts+p)*512])), 16, 16)
		}
	}
}

// amxBand is how many weight rows an AMX task owns: a multiple of 32.
const amxBand = 128

// linearAMX computes out = x·wᵀ with the tile units. Requires rows >=
// amxMinRows and n, k multiples of 32. xb is the buffer x belongs to: when
// the previous operation packed the same buffer, the packing is reused.
// Pairs of 16-row activation tiles go through amxBlock; an odd last tile
// through amxBlock1 when n is a multiple of 64, else it is paired with a
// tile of zeros.
//
// The bf16 weight rows come from w, or, when w is nil, from deq: each task
// asks it for the rows of its band, [j0, j1), as bf16 in a scratch of
// amxBand·k values (see quant_amx.go).
func (d *Device) linearAMX(out, x []float32, w []uint16, deq *bandDequantizer, rows, n, k int, xb *buffer) {
	kbs := k / 32
	mts := (rows + 15) / 16
	single := n%64 == 0
	if mts%2 == 1 && !single {
		mts++
	}
	parts := d.amxParts
	if deq != nil && parts == 3 {
		// Dequantized weights are rounded to bf16 here (up to 2^-9 of
		// each); a third part of the activations, bits 17-24 of their
		// significands, would refine the products below 2^-16 of
		// themselves, 128 times finer than that rounding, for a third
		// more tile work.
		parts = 2
	}
	tileElems := kbs * parts * 512
	if cap(d.amxPacked) < mts*tileElems {
		d.amxPacked = make([]uint16, mts*tileElems)
		d.amxPackedOf.buf = nil
	}
	packed := d.amxPacked[:mts*tileElems]
	if p := d.amxPackedOf; p.buf != xb || p.rows != rows || p.k != k || p.tiles != mts || p.parts != parts {
		d.pool.run(mts, func(mt int) {
			d.packAMXFast(packed[mt*tileElems:(mt+1)*tileElems], x, rows, k, mt, parts)
		})
		d.amxPackedOf.buf, d.amxPackedOf.rows, d.amxPackedOf.k, d.amxPackedOf.tiles, d.amxPackedOf.parts = xb, rows, k, mts, parts
	}
	cfg := &d.amxCfg[0]
	// scatter copies tile t of c (16 weight rows from j, 16 activation rows
	// from m0) to out, transposing it.
	scatter := func(cs []float32, j, m0 int) {
		if valid := min(16, rows-m0); valid > 0 {
			transposeTileZ(&cs[0], 16, &out[m0*n+j], n, valid)
		}
	}
	d.pool.run((n+amxBand-1)/amxBand, func(t int) {
		var c [4 * 256]float32
		j0, j1 := t*amxBand, min(n, (t+1)*amxBand)
		w, wj := w, 0 // w[(j-wj)*k:] is weight row j
		if deq != nil {
			w, wj = deq.band(j0, j1), j0
		}
		mt := 0
		for ; mt+2 <= mts; mt += 2 {
			for j := j0; j < j1; j += 32 {
				amxBlock(cfg, &w[(j-wj)*k], k, &packed[mt*tileElems], &packed[(mt+1)*tileElems], kbs, &c[0], parts)
				for tile := range 4 {
					wh, ah := tile/2, tile%2
					scatter(c[tile*256:(tile+1)*256], j+wh*16, (mt+ah)*16)
				}
			}
		}
		if mt < mts {
			for j := j0; j < j1; j += 64 {
				amxBlock1(cfg, &w[(j-wj)*k], k, &packed[mt*tileElems], kbs, &c[0], parts)
				for tile := range 4 {
					scatter(c[tile*256:(tile+1)*256], j+tile*16, mt*16)
				}
			}
		}
		if deq != nil {
			deq.release(w)
		}
	})
}
