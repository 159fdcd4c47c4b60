package cpu

import (
	"unsafe"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Batches of Q8_0 weights on the AMX int8 unit (TDPBSSD), with the integer
// path's numerics: each activation row is rounded to Q8_0 blocks as for the
// integer kernels, every block's dot product is an exact int32 sum, and the
// sums are scaled by the two block scales and added up in float32, as
// llama.cpp does. The weights need no dequantizing: a Q8_0 block's 32
// integers of 16 weight rows, ldw bytes apart, are exactly a 16x32 int8
// tile, which the tile unit loads from the mapped file with the row
// stride. Only the activations are rearranged (packAMX8), once per matmul.
// Compared with the bf16 path (quant_amx.go), which widens every weight to
// bf16 before each use and multiplies three bf16 parts of each activation,
// this reads each weight byte once and multiplies it once.

// amx8Tile is the weight rows (and activation rows) of one tile.
const amx8Tile = 16

// amx8Scratch is the int32s of scratch q80amx8 uses: two tiles of sums
// and two blocks' weight scales.
const amx8Scratch = 2*amx8Tile*amx8Tile + 2*amx8Tile

// amx8Band is the weight rows a task of linearAMX8 computes.
const amx8Band = 64

// amx8TileConfig is the LDTILECFG block of q80amx8: palette 1; tiles 0
// and 3 the 16x16 int32 sums (16 rows of 64 bytes), tile 1 the 16 weight
// rows of one block (32 bytes each), tile 2 one block of 16 activation
// rows (8 rows of 16 groups of 4 bytes).
func amx8TileConfig() (cfg [64]byte) {
	cfg[0] = 1
	cfg[16], cfg[48] = 64, 16
	cfg[18], cfg[49] = 32, 16
	cfg[20], cfg[50] = 64, 8
	cfg[22], cfg[51] = 64, 16
	return cfg
}

// amx8MaxRows is the most activation rows the AMX int8 path takes. Each
// call of its kernel converts the weight tile's scales and streams one
// 16-row tile of activations; for long prompts the bf16 path, which reuses
// a dequantized band for many activation tiles, is faster. Measured on the
// Q8_0 file, two threads, 2 alternated rounds against the bf16 path:
// batch 16 148-155 vs 129-134 tokens/s, batch 64 227-229 vs 213, a
// 512-token prefill 389-401 vs 454-463.
const amx8MaxRows = 64

// quantAMX8 reports whether a matmul of rows activation rows with an n×k
// weight of type t runs on the AMX int8 path: Q8_0, batches of
// quantAMXMinRows to amx8MaxRows rows, whole tiles of weight rows, on the
// integer path. The lower bound is the bf16 path's, measured for it; where
// int8 tiles overtake the integer kernels was not measured separately.
func (d *Device) quantAMX8(t device.DType, rows, n, k int) bool {
	return d.amx8 && !d.quant.floatPath && t == device.Q8_0 && rows >= quantAMXMinRows && rows <= amx8MaxRows && n%amx8Tile == 0 && k%qk32 == 0
}

// amx8Acts is the activations of a matmul packed for q80amx8: for each
// tile of 16 rows and each block, the block's int8 values as 8 rows of 16
// groups of 4 (b), and the 16 rows' block scales (d); rows past the end
// are zeros.
type amx8Acts struct {
	b []uint32
	d []float32

	gen uint64 // the qact fill they were packed from (0: none)
}

// packAMX8 packs a's quantized rows (rows × k, nb blocks of 32) for
// q80amx8 into p.
//
// Matmuls of one input in a row (q, k and v) quantize it once
// (quantizeActs) and so pack it once.
func packAMX8(p *amx8Acts, a *qact, rows, k, nb int) {
	if p.gen == a.gen {
		return
	}
	p.gen = a.gen
	mts := (rows + amx8Tile - 1) / amx8Tile
	p.b = grow(p.b, mts*nb*8*16)
	p.d = grow(p.d, mts*nb*16)
	clear(p.b)
	clear(p.d)
	xq := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(a.xq))), rows*k/4)
	for m := range rows {
		mt, ml := m/amx8Tile, m%amx8Tile
		row := xq[m*k/4 : (m+1)*k/4]
		for b := range nb {
			t := p.b[(mt*nb+b)*128:]
			for r := range 8 {
				t[r*16+ml] = row[b*8+r]
			}
			p.d[(mt*nb+b)*16+ml] = a.xd[m*nb+b]
		}
	}
}

// linearAMX8 is Linear for Q8_0 weights on the AMX int8 path (see
// quantAMX8).
func (d *Device) linearAMX8(out, x []float32, w *weight, rows, n, k int) {
	a := &d.quant.act
	nb := k / qk32
	// The zact layout is not used here, but asking for it picks the
	// AVX-512 quantizer, which writes the int8 rows and scales too.
	d.quantizeActs(a, x, rows, k, w.qt, nb%2 == 0)
	p := &d.quant.amx8
	packAMX8(p, a, rows, k, nb)
	mts := (rows + amx8Tile - 1) / amx8Tile
	cfg := &d.amx8Cfg[0]
	var idx [amx8Tile]int32 // byte offsets of the 16 rows of a tile
	for i := range idx {
		idx[i] = int32(i * w.qrow)
	}
	d.pool.run((n+amx8Band-1)/amx8Band, func(t int) {
		var c [amx8Tile * amx8Tile]float32
		var tmp [amx8Scratch]int32
		for j := t * amx8Band; j < min(n, (t+1)*amx8Band); j += amx8Tile {
			for mt := range mts {
				q80amx8(cfg, &w.q[j*w.qrow+2], w.qrow, nb, (*byte)(unsafe.Pointer(&p.b[mt*nb*128])), &p.d[mt*nb*16], &tmp[0], &c[0], &idx[0])
				transposeTileZ(&c[0], amx8Tile, &out[mt*amx8Tile*n+j], n, min(amx8Tile, rows-mt*amx8Tile))
			}
		}
	})
}
