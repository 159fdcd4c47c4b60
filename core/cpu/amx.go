package cpu

import "math"

// The AMX path multiplies with Intel's tile units (TDPBF16PS: a 16x32 by
// 32x16 bf16 block product accumulated in float32, 16K multiply-adds per
// instruction), several times the float32 FMA rate of AVX-512. The units
// only multiply bf16, so each float32 activation is split into three bf16
// parts, hi + mid + lo, which together carry all 24 bits of its
// significand: three tile products give the float32 result to within
// float32 rounding, where a single bf16 copy of the activations would be off
// by about 1e-3. The weights are bf16 already and are read in place.

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

// bf16Round rounds a float32 to the nearest bf16 (ties to even).
func bf16Round(v float32) uint16 {
	b := math.Float32bits(v)
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// packAMX writes the activation tiles of rows [16·mt, 16·mt+16) of x
// ([rows, k]) to dst: for each block of 32 k and each part (hi, mid, lo), a
// 16x16 tile of bf16 pairs, row r holding elements 2r and 2r+1 of the block
// for each of the 16 activation rows. Rows past the end are zeros.
func packAMX(dst []uint16, x []float32, rows, k, mt int) {
	kbs := k / 32
	dst = dst[:kbs*3*512]
	for ml := range 16 {
		m := mt*16 + ml
		if m >= rows {
			for kb := range kbs {
				for s := range 3 {
					t := dst[(kb*3+s)*512:]
					for r := range 16 {
						t[r*32+ml*2], t[r*32+ml*2+1] = 0, 0
					}
				}
			}
			continue
		}
		xr := x[m*k : (m+1)*k]
		for kk, v := range xr {
			hi := bf16Round(v)
			r1 := v - bf16ToF32(hi)
			mid := bf16Round(r1)
			lo := bf16Round(r1 - bf16ToF32(mid))
			at := (kk/32*3)*512 + (kk%32/2)*32 + ml*2 + kk%2
			dst[at] = hi
			dst[at+512] = mid
			dst[at+1024] = lo
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
func (d *Device) linearAMX(out, x []float32, w []uint16, rows, n, k int, xb *buffer) {
	kbs := k / 32
	mts := (rows + 15) / 16
	single := n%64 == 0
	if mts%2 == 1 && !single {
		mts++
	}
	tileElems := kbs * 3 * 512
	if cap(d.amxPacked) < mts*tileElems {
		d.amxPacked = make([]uint16, mts*tileElems)
		d.amxPackedOf.buf = nil
	}
	packed := d.amxPacked[:mts*tileElems]
	if p := d.amxPackedOf; p.buf != xb || p.rows != rows || p.k != k || p.tiles != mts {
		d.pool.run(mts, func(mt int) {
			packAMX(packed[mt*tileElems:(mt+1)*tileElems], x, rows, k, mt)
		})
		d.amxPackedOf.buf, d.amxPackedOf.rows, d.amxPackedOf.k, d.amxPackedOf.tiles = xb, rows, k, mts
	}
	cfg := &d.amxCfg[0]
	// scatter copies tile t of c (16 weight rows from j, 16 activation rows
	// from m0) to out, transposing it.
	scatter := func(ct []float32, j, m0 int) {
		for jj := range 16 {
			m := m0 + jj
			if m >= rows {
				break
			}
			o := out[m*n+j : m*n+j+16]
			for i := range 16 {
				o[i] = ct[i*16+jj]
			}
		}
	}
	d.pool.run((n+amxBand-1)/amxBand, func(t int) {
		var c [4 * 256]float32
		j0, j1 := t*amxBand, min(n, (t+1)*amxBand)
		mt := 0
		for ; mt+2 <= mts; mt += 2 {
			for j := j0; j < j1; j += 32 {
				amxBlock(cfg, &w[j*k], k, &packed[mt*tileElems], &packed[(mt+1)*tileElems], kbs, &c[0])
				for tile := range 4 {
					wh, ah := tile/2, tile%2
					scatter(c[tile*256:(tile+1)*256], j+wh*16, (mt+ah)*16)
				}
			}
		}
		if mt < mts {
			for j := j0; j < j1; j += 64 {
				amxBlock1(cfg, &w[j*k], k, &packed[mt*tileElems], kbs, &c[0])
				for tile := range 4 {
					scatter(c[tile*256:(tile+1)*256], j+tile*16, mt*16)
				}
			}
		}
	})
}
