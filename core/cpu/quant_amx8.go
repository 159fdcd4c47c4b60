package cpu

import (
	"unsafe"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Batches of Q8_0, Q4_0, Q6_K and Q4_K weights on the AMX int8 unit (TDPBSSD),
// with the integer path's numerics: each activation row is rounded to
// int8 blocks as for the integer kernels, every block's dot product is an
// exact int32 sum, and the sums are scaled by the two block scales and
// added up in float32, as llama.cpp does. Q8_0 weights need no rewriting:
// a Q8_0 block's 32 integers of 16 weight rows, ldw bytes apart, are
// exactly a 16x32 int8 tile, which the tile unit loads from the mapped file
// with the row stride (q80amx8). Q4_0, Q6_K and Q4_K are rewritten exactly
// as int8 groups (32, 16 and 32 values) with float32 scales, a tile of 16
// rows at a time into a scratch that stays in the first-level cache
// (q40int8, q6kint8, q4kint8), and multiplied by qgamx8; the rewrite is
// shared by every tile of activation rows. Q4_K's weights are d·sc·q -
// dmin·m: qgamx8 multiplies the groups of q by d·sc, and q4kminZ takes
// off dmin·m times each group's activation sum (from Q8_K's group sums).
// Only the activations are rearranged (packAMX8), once
// per matmul. Compared with the bf16 path (quant_amx.go), which widens
// every weight to bf16 before each use and multiplies two or three bf16
// parts of each activation, this multiplies each weight once per tile of
// activation rows. docs/cpu-kernels.md explains the kernels' stages and
// what bounds them.
//
// Measured on Qwen3-0.6B's files, two threads, alternated rounds, when it
// came: Q8_0 batch 16 148-155 tokens/s against 129-134 on the bf16 path;
// Q4_0 (with its Q6_K lm_head) batch 16 186-190 and batch 64 284-292
// against 139-142 and 210-218 with Q4_0 on the bf16 path and Q6_K on the
// integer kernels.

// amx8Tile is the weight rows (and activation rows) of one tile.
const amx8Tile = 16

// amx8Scratch is the int32s of scratch the tile kernels use: two tiles of
// sums and two blocks' weight scales.
const amx8Scratch = 2*amx8Tile*amx8Tile + 2*amx8Tile

// amx8Band is the weight rows a task of linearAMX8 computes on Q8_0
// weights: eight tiles, each prefetching the next (the last, the first of
// the band this thread likely takes next), so that only each thread's
// first band of a matmul starts cold (batch 16, Qwen3-0.6B Q8_0, 6
// alternated rounds: median 243 tokens/s, 240-250, against 232, 230-244,
// with 64 rows; 64-row bands for the matmuls of 1024 rows measured no
// better later).
const amx8Band = 128

// amx8GroupBand is the weight rows a task computes on rewritten weights
// (linearAMX8Groups): 128 rows measured no better there.
const amx8GroupBand = 64

// amx8TileConfig is the LDTILECFG block of q80amx8 (and of qgamx8 for
// groups of 32): palette 1; tiles 0 and 3 the 16x16 int32 sums (16 rows of
// 64 bytes), tiles 1 and 4 the 16 weight rows of one block (32 bytes
// each), tiles 2 and 5 one block of 16 activation rows (8 rows of 16
// groups of 4 bytes); the two pairs alternate from block to block.
func amx8TileConfig() (cfg [64]byte) {
	cfg[0] = 1
	cfg[16], cfg[48] = 64, 16
	cfg[18], cfg[49] = 32, 16
	cfg[20], cfg[50] = 64, 8
	cfg[22], cfg[51] = 64, 16
	cfg[24], cfg[52] = 32, 16
	cfg[26], cfg[53] = 64, 8
	return cfg
}

// amx8MaxRows is the most activation rows the AMX int8 path takes; longer
// prompts take the bf16 path, which reuses a dequantized band for all
// their rows. Measured for a 512-token prefill, two threads, 3 alternated
// rounds, int8 tiles against the bf16 path with three activation parts:
// Q8_0 582-588 against 547-573 tokens/s, Q4_0 530-542 against 555-598.
// The bf16 path now takes two parts for quantized weights, a quarter
// faster again.
const amx8MaxRows = 64

// amx8Q4KMaxRows is the most activation rows Q4_K takes to the int8
// tiles: its mins' term (q4kminZ) costs float work per group and tile of
// activation rows, so larger batches are faster on the bf16 path.
// Measured on a 3072×1024 Q4_K matmul, two threads, 2 runs each, int8
// tiles against the bf16 path: 504-525 against 427-462 GFLOP/s at 16 rows,
// 686 against 659-669 at 32, 774-794 against 802-806 at 48, 815-821
// against 867-881 at 64.
const amx8Q4KMaxRows = 32

// quantAMX8 reports whether a matmul of rows activation rows with an n×k
// weight of type t runs on the AMX int8 path: Q8_0, Q4_0 or Q6_K, batches
// of quantAMXMinRows to amx8MaxRows rows (Q4_K: to amx8Q4KMaxRows), whole
// tiles of weight rows, on the integer path. The lower bound is the bf16
// path's, measured for it; where int8 tiles overtake the integer kernels
// was not measured separately.
func (d *Device) quantAMX8(t device.DType, rows, n, k int) bool {
	if !d.amx8 || d.quant.floatPath || rows < quantAMXMinRows || rows > amx8MaxRows || n%amx8Tile != 0 {
		return false
	}
	switch t {
	case device.Q8_0, device.Q4_0:
		return k%qk32 == 0
	case device.Q6_K:
		return k%qkK == 0
	case device.Q4_K:
		// Whole tiles of 16 groups of 32 for the scales' transposes.
		return k%(2*qkK) == 0 && rows <= amx8Q4KMaxRows
	}
	return false
}

// amx8Acts is the activations of a matmul packed for the int8 tile
// kernels: for each tile of 16 rows and each group of bk values (32 for
// q80amx8 and Q4_0's qgamx8, 16 for Q6_K's), the group's int8 values as
// bk/4 rows of 16 groups of 4 (b), and the 16 rows' scales for it (d);
// rows past the end are zeros.
type amx8Acts struct {
	b []uint32
	d []float32
	// s is, for Q4_K, each row's d_x·Σx over each group of 32 values, laid
	// out as d (packAMX8Sums).
	s []float32

	gen  uint64 // the qact fill they were packed from (0: none)
	bk   int    // and the group size
	sgen uint64 // the qact fill s was made from (0: none)
}

// packAMX8 packs a's quantized rows (rows × k, with one scale per block of
// bk·per values) for the tile kernels into p, in groups of bk values.
//
// Matmuls of one input in a row (q, k and v) quantize it once
// (quantizeActs) and so pack it once.
func packAMX8(p *amx8Acts, a *qact, rows, k, bk, per int) {
	if p.gen == a.gen && p.bk == bk {
		return
	}
	p.gen, p.bk = a.gen, bk
	nb, words := k/bk, bk/4
	mts := (rows + amx8Tile - 1) / amx8Tile
	p.b = grow(p.b, mts*nb*words*16)
	p.d = grow(p.d, mts*nb*16)
	clear(p.b)
	clear(p.d)
	xq := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(a.xq))), rows*k/4)
	for m := range rows {
		mt, ml := m/amx8Tile, m%amx8Tile
		row := xq[m*k/4 : (m+1)*k/4]
		for b := range nb {
			t := p.b[(mt*nb+b)*words*16:]
			for r := range words {
				t[r*16+ml] = row[b*words+r]
			}
			p.d[(mt*nb+b)*16+ml] = a.xd[m*(nb/per)+b/per]
		}
	}
}

// packAMX8Sums fills p.s from a's Q8_K rows (rows × k): row m's scale
// times the sum of its integers in each group of 32 (two of Q8_K's group
// sums of 16), for the mins' term of Q4_K (q4kminZ).
func packAMX8Sums(p *amx8Acts, a *qact, rows, k int) {
	if p.sgen == a.gen {
		return
	}
	p.sgen = a.gen
	ng, nsb := k/qk32, k/qkK
	mts := (rows + amx8Tile - 1) / amx8Tile
	p.s = grow(p.s, mts*ng*amx8Tile)
	clear(p.s)
	for m := range rows {
		mt, ml := m/amx8Tile, m%amx8Tile
		bs := a.bs[m*k/16 : (m+1)*k/16]
		for g := range ng {
			sum := int32(bs[2*g]) + int32(bs[2*g+1])
			p.s[(mt*ng+g)*amx8Tile+ml] = a.xd[m*nsb+g/(qkK/qk32)] * float32(sum)
		}
	}
}

// linearAMX8 is Linear for quantized weights on the AMX int8 path (see
// quantAMX8).
func (d *Device) linearAMX8(out, x []float32, w *weight, rows, n, k int) {
	d.amx8Prepare(x, rows, k, w.qt)
	tasks, band := d.amx8Bands(out, w, rows, n, k)
	d.pool.run(tasks, band)
}

// amx8Prepare rounds the activations x (rows × k) to int8 blocks for
// weights of type t and packs them for the tile kernels. Matmuls of one
// input (q, k and v) share it.
func (d *Device) amx8Prepare(x []float32, rows, k int, t device.DType) {
	a := &d.quant.act
	switch t {
	case device.Q6_K:
		d.quantizeActs(a, x, rows, k, t, zactNone)
		packAMX8(&d.quant.amx8, a, rows, k, 16, qkK/16)
		return
	case device.Q4_K:
		d.quantizeActs(a, x, rows, k, t, zactNone)
		packAMX8(&d.quant.amx8, a, rows, k, qk32, qkK/qk32)
		packAMX8Sums(&d.quant.amx8, a, rows, k)
		return
	}
	// The zact layout is not used here, but asking for it picks the
	// AVX-512 quantizer, which writes the int8 rows and scales too.
	layout := zactNone
	if (k/qk32)%2 == 0 {
		layout = zactPair
	}
	d.quantizeActs(a, x, rows, k, t, layout)
	packAMX8(&d.quant.amx8, a, rows, k, qk32, 1)
}

// amx8Bands returns the tasks of out = x · wᵀ on the tile path, its
// activations prepared (amx8Prepare): band(t) computes the t-th band of
// weight rows for all the rows.
func (d *Device) amx8Bands(out []float32, w *weight, rows, n, k int) (tasks int, band func(t int)) {
	mts := (rows + amx8Tile - 1) / amx8Tile
	switch w.qt {
	case device.Q6_K:
		return d.amx8GroupBands(out, w, rows, n, k, mts, 16, &d.amx6Cfg[0], func(tile []byte, ws, spare, _ []float32, j int) {
			nsb := k / qkK
			q6kint8(&tile[0], &spare[0], &w.q[j*w.qrow], nsb, w.qrow)
			for s := range nsb { // row-major scales to group-major
				transposeTileZ(&spare[s*16], nsb*16, &ws[s*256], 16, 16)
			}
		})
	case device.Q4_K:
		return d.amx8GroupBands(out, w, rows, n, k, mts, qk32, &d.amx8Cfg[0], func(tile []byte, ws, spare, mins []float32, j int) {
			ng := k / qk32
			// Row-major scales and mins in spare, then group-major.
			q4kint8(&tile[0], &spare[0], &spare[amx8Tile*ng], &w.q[j*w.qrow], k/qkK, w.qrow)
			for c := 0; c < ng; c += amx8Tile {
				transposeTileZ(&spare[c], ng, &ws[c*amx8Tile], amx8Tile, amx8Tile)
				transposeTileZ(&spare[amx8Tile*ng+c], ng, &mins[c*amx8Tile], amx8Tile, amx8Tile)
			}
		})
	case device.Q4_0:
		return d.amx8GroupBands(out, w, rows, n, k, mts, qk32, &d.amx8Cfg[0], func(tile []byte, ws, _, _ []float32, j int) {
			if nb := k / qk32; d.q40Tables != nil && nb%4 == 0 {
				q40int8v(&tile[0], &ws[0], &w.q[j*w.qrow], nb, d.q40Tables)
			} else {
				q40int8(&tile[0], &ws[0], &w.q[j*w.qrow], nb)
			}
		})
	}
	p := &d.quant.amx8
	cfg := &d.amx8Cfg[0]
	nb := k / qk32
	threads := d.pool.threads()
	idx := new([amx8Tile]int32) // byte offsets of the 16 rows of a tile
	for i := range idx {
		idx[i] = int32(i * w.qrow)
	}
	return (n + amx8Band - 1) / amx8Band, func(t int) {
		var c [amx8Band / amx8Tile * amx8Chunk * amx8Tile * amx8Tile]float32
		var tmp [amx8Scratch]int32
		j0 := t * amx8Band
		nt := (min(n, j0+amx8Band) - j0) / amx8Tile
		for mt0 := 0; mt0 < mts; mt0 += amx8Chunk {
			mc := min(amx8Chunk, mts-mt0)
			// Each tile prefetches the next one's blocks; the band's
			// last tile, the first of band t+threads, which this thread
			// likely takes next (the pool hands out tasks in order, and
			// band t+1 is the other thread's by then).
			pf := unsafe.Add(unsafe.Pointer(unsafe.SliceData(w.q)), (j0+amx8Tile)*w.qrow)
			mul := func(jt, tiles int, pf unsafe.Pointer) {
				q80amx8(cfg, &w.q[(j0+jt*amx8Tile)*w.qrow+2], w.qrow, nb, tiles, (*byte)(unsafe.Pointer(&p.b[mt0*nb*128])), &p.d[mt0*nb*16], mc, &tmp[0], &c[jt*mc*amx8Tile*amx8Tile], &idx[0], (*byte)(pf), amx8Tile*q8_0Bytes)
			}
			if next := (t + threads) * amx8Band; nt > 1 && next < n {
				mul(0, nt-1, pf)
				mul(nt-1, 1, unsafe.Add(unsafe.Pointer(unsafe.SliceData(w.q)), next*w.qrow))
			} else {
				mul(0, nt, pf)
			}
			amx8Out(out[mt0*amx8Tile*n:], c[:], j0, nt, mc, rows-mt0*amx8Tile, n)
		}
	}
}

// linearAMX8Fused is LinearFused on the tile path: the activations are
// prepared once and the bands of all the weights (of one type and width k)
// are one parallel loop.
func (d *Device) linearAMX8Fused(outs [][]float32, x []float32, ws []*weight, rows, k int) {
	d.amx8Prepare(x, rows, k, ws[0].qt)
	var counts [maxFused]int
	var bands [maxFused]func(t int)
	for i, w := range ws {
		counts[i], bands[i] = d.amx8Bands(outs[i], w, rows, w.shape[0], k)
	}
	d.runFused(counts[:len(ws)], func(i, t int) { bands[i](t) })
}

// q40Tables are the index vectors of q40int8v's permutes.
type q40Tables struct {
	nibbles [64]byte // byte i: the i%16-th data byte of block i/16 of four (18 bytes each)
	lo, hi  [8]int64 // qwords of blocks 0-1 and 2-3: each block's 16 low nibbles, then its 16 high ones
	scales  [64]byte // bytes 0-7: the four blocks' fp16 scales
}

// newQ40Tables returns q40int8v's index vectors.
func newQ40Tables() *q40Tables {
	t := &q40Tables{
		lo: [8]int64{0, 1, 8, 9, 2, 3, 10, 11},
		hi: [8]int64{4, 5, 12, 13, 6, 7, 14, 15},
	}
	for i := range t.nibbles {
		t.nibbles[i] = byte(i/16*q4_0Bytes + 2 + i%16)
	}
	for b := range 4 {
		t.scales[2*b], t.scales[2*b+1] = byte(b*q4_0Bytes), byte(b*q4_0Bytes+1)
	}
	return t
}

// amx8Chunk is the most activation tiles one call of a tile kernel takes:
// its sums for a band's tiles stay within a few KiB on the stack, and the
// band's weights stay in the second-level cache from one chunk to the next.
const amx8Chunk = 4

// amx8Out transposes a tile kernel's sums for nt weight tiles from weight
// row j0 and mts activation tiles into out (rows × n).
func amx8Out(out, c []float32, j0, nt, mts, rows, n int) {
	for jt := range nt {
		for mt := range mts {
			transposeTileZ(&c[(jt*mts+mt)*amx8Tile*amx8Tile], amx8Tile, &out[mt*amx8Tile*n+j0+jt*amx8Tile], n, min(amx8Tile, rows-mt*amx8Tile))
		}
	}
}

// amx6TileConfig is the LDTILECFG block of qgamx8 for groups of 16 (Q6_K):
// amx8TileConfig with tiles 1 and 4 the 16 weight rows of a group (16
// bytes each) and tiles 2 and 5 a group of 16 activation rows (4 rows of
// 16 groups of 4 bytes).
func amx6TileConfig() (cfg [64]byte) {
	cfg = amx8TileConfig()
	cfg[18], cfg[49] = 16, 16
	cfg[20], cfg[50] = 64, 4
	cfg[24], cfg[52] = 16, 16
	cfg[26], cfg[53] = 64, 4
	return cfg
}

// amx8GroupBands is amx8Bands for weights rewritten a tile at a time (Q4_0
// with q40int8, Q6_K with q6kint8, Q4_K with q4kint8: all exact):
// rewrite(tile, ws, spare, mins, j) leaves weight rows [j, j+16) in tile as
// int8 groups of g values, row-major (k bytes a row), and their float32
// group scales in ws, group-major (spare: twice as many floats for its own
// use); for Q4_K also the rows' group mins, group-major, in mins, whose
// term q4kminZ takes off after qgamx8. qgamx8 multiplies them
// with the activations packed in groups of g, chunk by chunk. The rewrite
// is shared by every tile of activation rows. While a tile is multiplied,
// the next tile's blocks are fetched into the caches, a few lines per group.
func (d *Device) amx8GroupBands(out []float32, w *weight, rows, n, k, mts, g int, cfg *byte, rewrite func(tile []byte, ws, spare, mins []float32, j int)) (int, func(t int)) {
	p := &d.quant.amx8
	ng := k / g
	threads := d.pool.threads()
	withMins := w.qt == device.Q4_K
	return (n + amx8GroupBand - 1) / amx8GroupBand, func(t int) {
		var c [amx8Chunk * amx8Tile * amx8Tile]float32
		var tmp [amx8Scratch]int32
		sp := d.quant.tiles.Get().(*[]byte)
		*sp = grow(*sp, amx8Tile*(k+4*ng*4))
		tile := *sp
		fs := unsafe.Slice((*float32)(unsafe.Pointer(&tile[amx8Tile*k])), 4*amx8Tile*ng)
		ws, spare, mins := fs[:amx8Tile*ng], fs[amx8Tile*ng:3*amx8Tile*ng], fs[3*amx8Tile*ng:]
		j0 := t * amx8GroupBand
		for j := j0; j < min(n, j0+amx8GroupBand); j += amx8Tile {
			rewrite(tile, ws, spare, mins, j)
			// The next tile's blocks; after the band's last tile, the
			// first of band t+threads (as in amx8Bands; past the end,
			// whatever follows: prefetches do not fault).
			nj := j + amx8Tile
			if next := (t + threads) * amx8GroupBand; nj >= j0+amx8GroupBand && next < n {
				nj = next
			}
			pf := unsafe.Add(unsafe.Pointer(unsafe.SliceData(w.q)), nj*w.qrow)
			for mt0 := 0; mt0 < mts; mt0 += amx8Chunk {
				mc := min(amx8Chunk, mts-mt0)
				qgamx8(cfg, &tile[0], k, ng, g, (*byte)(unsafe.Pointer(&p.b[mt0*ng*g/4*16])), &p.d[mt0*ng*16], &ws[0], mc, &tmp[0], &c[0], (*byte)(pf), (amx8Tile*w.qrow+ng-1)/ng)
				if withMins {
					q4kminZ(&c[0], &mins[0], &p.s[mt0*ng*amx8Tile], ng, mc)
				}
				amx8Out(out[mt0*amx8Tile*n:], c[:], j, 1, mc, rows-mt0*amx8Tile, n)
			}
		}
		d.quant.tiles.Put(sp)
	}
}
