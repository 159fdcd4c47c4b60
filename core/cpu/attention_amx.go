package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// Prefill attention on the AMX tile units, used with PrecisionBF16 for
// sequences that bring at least two tiles of queries to a step. As in
// PyTorch's bf16 attention, queries, keys, values and the softmax
// numerators are rounded to bf16; scores, the softmax and the sums stay
// float32. A tile is 16 queries (8 tokens x Qwen3's 2 query heads per KV
// head) of one sequence and KV head:
//
//	scores[16][keys] = Q (4 tiles of 32 dims) · K (per block: 4 tiles)   amxScores
//	p = exp(scores·scale - max), float32, rounded to bf16 per 32-key chunk
//	out[16][128]     = P (1 tile per chunk) · V (per chunk: 8 tiles)     amxPV
//
// Keys and values are packed once per step, sequence and KV head, into the
// pair-interleaved layout the tile unit multiplies (VNNI): every query
// tile of the sequence then reads them from there.

// amxAttnMinQueries is the fewest query rows of one sequence and KV head
// worth packing its keys and values for: two tiles.
const amxAttnMinQueries = 32

// amxAttnScratch holds one task's buffers.
type amxAttnScratch struct {
	q      [4 * 512]uint16   // query tiles
	out    [16 * 128]float32 // P·V of the tile
	scores []float32
	p      []uint16
}

// amxAttnEligible reports whether the tile-unit attention applies to this
// device and cache shape.
func (d *Device) amxAttnEligible(group, hd, bs int) bool {
	return d.amx && d.amxParts == 1 && hd == 128 && bs == 16 && group <= 16 && 16%group == 0
}

// attentionAMX computes the attention of the tokens of sequences seqs
// (indices into the batch's sequences) for every KV head.
func (d *Device) attentionAMX(os, qs []float32, kv kvLayer, heads, nkv, hd int, scale float32, seqs []int) {
	b := d.batch
	const bs = 16
	group := heads / nkv
	tileTok := 16 / group
	// Packed keys and values per (sequence, KV head).
	type packed struct{ seq, g, nblk, koff, voff int }
	var packs []packed
	koff, voff := 0, 0
	for _, s := range seqs {
		nmax := 0
		for j := b.QueryStarts[s]; j < b.QueryStarts[s+1]; j++ {
			nmax = max(nmax, int(b.Positions[j])+1)
		}
		nblk := (nmax + bs - 1) / bs
		for g := range nkv {
			packs = append(packs, packed{s, g, nblk, koff, voff})
			koff += nblk * 4 * 512
			voff += (nblk + 1) / 2 * 8 * 512
		}
	}
	if cap(d.attnKPack) < koff {
		d.attnKPack = make([]uint16, koff)
	}
	if cap(d.attnVPack) < voff {
		d.attnVPack = make([]uint16, voff)
	}
	kp, vp := d.attnKPack[:koff], d.attnVPack[:voff]
	tab := &d.amxTables[0]
	// A 16-bit cache's block is widened into wide (8 KiB, in L1) and
	// packed from there: bf16 comes out as it was stored, an f16 is
	// rounded to bf16 as a float32 key or value would be.
	simd := kv.dt == device.BF16 && haveSIMD() || kv.dt == device.F16 && haveF16C()
	d.pool.run(len(packs), func(i int) {
		pk := packs[i]
		table := b.BlockTables[pk.seq*b.BlockTableStride : (pk.seq+1)*b.BlockTableStride]
		var wide [bs * 128]float32
		block := func(base int, k bool) []float32 {
			switch {
			case kv.dt == device.F32 && k:
				return kv.k[base : base+bs*hd]
			case kv.dt == device.F32:
				return kv.v[base : base+bs*hd]
			case k:
				widenHalf(wide[:], kv.kh[base:base+bs*hd], kv.dt, simd)
			default:
				widenHalf(wide[:], kv.vh[base:base+bs*hd], kv.dt, simd)
			}
			return wide[:]
		}
		for bi := range pk.nblk {
			packKeysAMX(kp[pk.koff+bi*4*512:pk.koff+(bi+1)*4*512], block((int(table[bi])*nkv+pk.g)*hd*bs, true), tab)
		}
		for ch := range (pk.nblk + 1) / 2 {
			dst := vp[pk.voff+ch*8*512 : pk.voff+(ch+1)*8*512]
			for half := range 2 {
				var rows []float32 // the block's 16 value rows, or nil past the end
				if bi := 2*ch + half; bi < pk.nblk {
					rows = block((int(table[bi])*nkv+pk.g)*bs*hd, false)
				}
				packValuesAMX(dst, rows, half, tab)
			}
		}
	})

	type tile struct{ pack, tok0, ntok int }
	var tasks []tile
	for i, pk := range packs {
		s := pk.seq
		for j := int(b.QueryStarts[s]); j < int(b.QueryStarts[s+1]); j += tileTok {
			tasks = append(tasks, tile{i, j, min(tileTok, int(b.QueryStarts[s+1])-j)})
		}
	}
	cfg := &d.amxCfg[0]
	d.pool.run(len(tasks), func(task int) {
		tl := tasks[task]
		pk := packs[tl.pack]
		sc, _ := d.amxAttnPool.Get().(*amxAttnScratch)
		if sc == nil {
			sc = new(amxAttnScratch)
		}
		defer d.amxAttnPool.Put(sc)
		nq := tl.ntok * group
		nmax := 0
		for j := tl.tok0; j < tl.tok0+tl.ntok; j++ {
			nmax = max(nmax, int(b.Positions[j])+1)
		}
		nblk := (nmax + bs - 1) / bs
		nch := (nblk + 1) / 2
		ps := nch * 32 // score row length: whole chunks
		if cap(sc.scores) < 16*ps {
			sc.scores = make([]float32, 16*ps)
			sc.p = make([]uint16, 16*ps)
		}
		scores := sc.scores[:16*ps]

		// Query tiles: row r is query r (token-major, then head), four
		// tiles of 32 dims; rows past nq are zero.
		clear(sc.q[:])
		qrow := func(r int) int {
			tok, h := tl.tok0+r/group, pk.g*group+r%group
			return (tok*heads + h) * hd
		}
		for r := range nq {
			bf16RowsZ(&sc.q[r*32], 512, &qs[qrow(r)], 4, tab)
		}
		amxScores(cfg, &sc.q[0], &kp[pk.koff], nblk, &scores[0], ps)

		// Softmax numerators, float32, zero past each query's position
		// (and for the padding rows), then rounded into P's tiles: chunk
		// ch of row r at sc.p[ch*512 + r*32 + i].
		var inv [16]float32
		for r := range 16 {
			row := scores[r*ps : (r+1)*ps]
			n := 0
			if r < nq {
				n = int(b.Positions[tl.tok0+r/group]) + 1
			}
			if n > 0 {
				inv[r] = 1 / softmaxNumerators(row[:n], scale)
			}
			clear(row[n:])
			bf16RowsZ(&sc.p[r*32], 512, &row[0], nch, tab)
		}
		amxPV(cfg, &sc.p[0], &vp[pk.voff], nch, &sc.out[0])
		for r := range nq {
			o := os[qrow(r) : qrow(r)+hd]
			for i, v := range sc.out[r*128 : r*128+128] {
				o[i] = v * inv[r]
			}
		}
	})
}

// packKeysAMX writes one cache block of keys (kt[d*16+t], transposed as
// the cache stores them) as four B tiles: tile c row i holds, for each key
// t, dims 32c+2i and 32c+2i+1 as a bf16 pair. Row m = 16c+i of the tiles
// pairs rows 2m and 2m+1 of kt, so the whole block is one kernel call.
func packKeysAMX(dst []uint16, kt []float32, tab *uint16) {
	_ = dst[4*512-1]
	_ = kt[128*16-1]
	bf16PairsZ(&dst[0], 32, &kt[0], 32, 16, 64, tab)
}

// packValuesAMX writes the 16 value rows of one cache block (rows[k*128+d],
// nil for zeros) as half (0 or 1) of a 32-key chunk's eight B tiles: tile j
// row i holds, for each dim 16j+dd, keys 2i and 2i+1 of the chunk as a
// bf16 pair.
func packValuesAMX(dst []uint16, rows []float32, half int, tab *uint16) {
	_ = dst[8*512-1]
	for ip := range 8 { // key pairs of the block: tile rows 8·half+ip
		i := 8*half + ip
		if rows == nil {
			for j := range 8 {
				clear(dst[j*512+i*32 : j*512+i*32+32])
			}
			continue
		}
		_ = rows[(2*ip+2)*128-1]
		bf16PairsZ(&dst[i*32], 512, &rows[2*ip*128], 16, 128, 8, tab)
	}
}
