package cpu

import (
	"unsafe"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Attention: causal grouped-query attention over the paged KV cache. The
// AMX tile-unit variant (bf16 prefill) is in attention_amx.go.

// Attention implements device.Device: for each token and each KV head, the
// query heads of that group score every cached key up to the token's
// position (found through the sequence's block table), take a float32
// softmax and sum the values. One task is one (token, KV head) pair, so a
// key read from memory serves every query head of its group.
func (d *Device) Attention(out, q device.Buffer, cache device.KVCache, layer, heads, rows int) {
	if !d.ok("Attention") {
		return
	}
	c := d.layerCache("Attention", cache, layer)
	if c == nil {
		return
	}
	b := d.batch
	nkv, hd := c.spec.KVHeads, c.spec.HeadDim
	if heads <= 0 || heads%nkv != 0 || rows != len(b.TokenIDs) {
		d.fail("Attention: %d heads over %d KV heads, %d rows for %d tokens", heads, nkv, rows, len(b.TokenIDs))
		return
	}
	qs := d.floats("Attention", q, rows*heads*hd)
	os := d.floats("Attention", out, rows*heads*hd)
	if qs == nil || os == nil {
		return
	}
	group := heads / nkv
	scale := device.AttentionScale(hd)
	kv := c.layerView(layer)
	bs := b.BlockSize
	if d.isa == isaAVX512 && hd%64 == 0 && bs == 16 {
		d.attentionTiled(os, qs, kv, heads, nkv, hd, scale)
		return
	}
	if kv.dt != device.F32 {
		d.attentionHalf(os, qs, kv, heads, nkv, hd, scale)
		return
	}
	kl, vl := kv.k, kv.v
	d.pool.run(rows*nkv, func(task int) {
		tok, g := task/nkv, task%nkv
		seq := int(b.TokenSeqs[tok])
		table := b.BlockTables[seq*b.BlockTableStride : (seq+1)*b.BlockTableStride]
		n := int(b.Positions[tok]) + 1
		sp, _ := d.scratch.Get().(*[]float32)
		if sp == nil {
			sp = new([]float32)
		}
		if cap(*sp) < group*n {
			*sp = make([]float32, group*n)
		}
		scores := (*sp)[:group*n]
		for t := range n {
			// Key t, transposed in its block: element j at base + j*bs.
			base := (int(table[t/bs])*nkv+g)*hd*bs + t%bs
			for h := range group {
				qh := qs[(tok*heads+g*group+h)*hd : (tok*heads+g*group+h+1)*hd]
				var sum float32
				for j, qv := range qh {
					sum += qv * kl[base+j*bs]
				}
				scores[h*n+t] = sum * scale
			}
		}
		softmaxRows(scores, group, n)
		for h := range group {
			o := os[(tok*heads+g*group+h)*hd : (tok*heads+g*group+h+1)*hd]
			clear(o)
			for t := range n {
				row := ((int(table[t/bs])*nkv+g)*bs + t%bs) * hd
				d.axpy(o, scores[h*n+t], vl[row:])
			}
		}
		d.scratch.Put(sp)
	})
}

// softmaxRows replaces each of the rows rows of n scores in s with its
// softmax.
func softmaxRows(s []float32, rows, n int) {
	for h := range rows {
		s := s[h*n : (h+1)*n]
		m := s[0]
		for _, v := range s {
			m = max(m, v)
		}
		var sum float32
		for t, v := range s {
			e := expf(v - m)
			s[t] = e
			sum += e
		}
		inv := 1 / sum
		for t := range s {
			s[t] *= inv
		}
	}
}

// pvBlocks is how many cache blocks one call of the eight-query value kernel
// covers (measured: 1 to 8 and all blocks are within noise of each other).
const pvBlocks = 4

// attnTile is a task of attentionTiled: ntok query tokens from tok0 of
// sequence seq, against KV head g.
type attnTile struct{ seq, tok0, ntok, g int }

// attentionTiled is Attention with the AVX-512 kernels. A task is a tile of
// consecutive tokens of one sequence and one KV head; its queries (every
// token of the tile times every query head of the group) are processed
// eight at a time (four for the last few), so each key and value read from
// the cache serves eight queries. Keys past a query's position (a later
// token of the tile needs them) get probability 0. Keys and values are read
// in the cache's dtype (see kvLayer).
func (d *Device) attentionTiled(os, qs []float32, kv kvLayer, heads, nkv, hd int, scale float32) {
	b := d.batch
	group := heads / nkv
	bs := b.BlockSize
	tileTok := max(1, 8/group)
	// Tasks go sequence by sequence and, within a sequence, KV head by KV
	// head: while the threads sweep the tiles of one head of a long prompt,
	// its keys and values stay in their L2 caches, and a decode step (one
	// tile per sequence) still reads each sequence's blocks head after head.
	// With bf16 activations, sequences bringing enough queries to this step
	// (prefill chunks) take the tile units instead.
	var amxSeq []bool // nil unless the tile units may take some sequences
	if d.amxAttnEligible(group, hd, bs) {
		amxSeq = make([]bool, len(b.QueryStarts)-1)
		var seqs []int
		for i := range amxSeq {
			if int(b.QueryStarts[i+1]-b.QueryStarts[i])*group >= amxAttnMinQueries {
				amxSeq[i] = true
				seqs = append(seqs, i)
			}
		}
		if len(seqs) > 0 {
			d.attentionAMX(os, qs, kv, heads, nkv, hd, scale, seqs)
		}
	}
	// A decode step that reads tens of megabytes of keys and values per
	// layer reads them from memory; a smaller one finds them in the caches
	// from the last step, where prefetching them again only costs (5% of
	// a 16-sequence step's CPU time). Measured: 64 sequences of 512 tokens
	// (134 MB per layer at f16) 17% faster with it.
	prefetchKV := d.kvStepBytes(kv, nkv, hd) >= 16<<20
	tasks := d.attnTasks[:0]
	for i := range len(b.QueryStarts) - 1 {
		if amxSeq != nil && amxSeq[i] {
			continue
		}
		for g := range nkv {
			for j := int(b.QueryStarts[i]); j < int(b.QueryStarts[i+1]); j += tileTok {
				tasks = append(tasks, attnTile{i, j, min(tileTok, int(b.QueryStarts[i+1])-j), g})
			}
		}
	}
	d.attnTasks = tasks // kept for the next call: a decode step makes thousands
	d.pool.run(len(tasks), func(task int) {
		tl := tasks[task]
		g := tl.g
		table := b.BlockTables[tl.seq*b.BlockTableStride : (tl.seq+1)*b.BlockTableStride]
		nmax := 0
		for j := tl.tok0; j < tl.tok0+tl.ntok; j++ {
			nmax = max(nmax, int(b.Positions[j])+1)
		}
		sp, _ := d.scratch.Get().(*[]float32)
		if sp == nil {
			sp = new([]float32)
		}
		// Score rows are whole blocks long: the kernels write 16 scores per
		// block, including the unused tail of a partial last block.
		ps := (nmax + 15) &^ 15
		if need := 8*ps + hd; cap(*sp) < need {
			*sp = make([]float32, need)
		}
		scores := (*sp)[:8*ps]
		dummy := (*sp)[8*ps : 8*ps+hd]
		nq := tl.ntok * group
		// vblk holds the address of each value block the tile reads, for
		// the eight-query kernel (on the stack up to 1024 tokens).
		var vbuf [64]uintptr
		vblk := vbuf[:0]
		for q0 := 0; q0 < nq; {
			// Eight queries per pass while more than four remain, then four,
			// then two (a decode step's pair); missing ones repeat the last
			// query and write to dummy.
			width := 8
			switch {
			case nq-q0 <= 2:
				width = 2
			case nq-q0 <= 4:
				width = 4
			}
			var qp, op [8]*float32
			var pos [8]int
			for r := range width {
				qi := min(q0+r, nq-1)
				tok, h := tl.tok0+qi/group, g*group+qi%group
				qp[r] = &qs[(tok*heads+h)*hd]
				pos[r] = int(b.Positions[tok])
				if q0+r < nq {
					o := os[(tok*heads+h)*hd : (tok*heads+h+1)*hd]
					clear(o)
					op[r] = &o[0]
				} else {
					clear(dummy)
					op[r] = &dummy[0]
				}
			}
			for t0 := 0; t0 < nmax; t0 += bs {
				base := (int(table[t0/bs])*nkv + g) * hd * bs
				switch {
				case width == 2:
					if prefetchKV && t0+bs < nmax {
						kv.prefetch((int(table[t0/bs+1])*nkv+g)*hd*bs, hd*bs)
					}
					kv.qkt2(qp[0], qp[1], base, hd, &scores[t0], ps)
				case width == 8 && t0+bs < nmax:
					// Two blocks per call while two remain.
					base1 := (int(table[t0/bs+1])*nkv + g) * hd * bs
					kv.qkt8x2(&qp, base, base1, hd, &scores[t0], ps)
					t0 += bs
				case width == 8:
					kv.qkt8(&qp, base, hd, &scores[t0], ps)
				default:
					kv.qkt4(qp[0], qp[1], qp[2], qp[3], base, hd, &scores[t0], ps)
				}
			}
			// Unnormalised softmax: exp(s·scale - max), the division by the
			// sum is applied to the output row after the weighted sum.
			var inv [8]float32
			for r := range width {
				s := scores[r*ps : r*ps+nmax]
				n := pos[r] + 1
				inv[r] = 1 / softmaxNumerators(s[:n], scale)
				clear(s[n:])
			}
			if width != 4 {
				if len(vblk) == 0 {
					for t0 := 0; t0 < nmax; t0 += bs {
						vblk = append(vblk, kv.vaddr((int(table[t0/bs])*nkv+g)*bs*hd))
					}
				}
				// Four blocks per call: their values (32 KiB at Qwen3's 8
				// KV heads of 128) stay in L1 while the kernel sweeps them
				// once per slice of the outputs.
				for b0 := 0; b0 < len(vblk); b0 += pvBlocks {
					b1 := min(len(vblk), b0+pvBlocks)
					last := min(bs, nmax-(b1-1)*bs)
					if width == 8 {
						kv.pv8(&scores[b0*bs], ps, &vblk[b0], b1-b0, last, hd, hd, &op)
					} else {
						kv.pv2(&scores[b0*bs], ps, &vblk[b0], b1-b0, last, hd, hd, op[0], op[1])
					}
				}
			} else {
				for t0 := 0; t0 < nmax; t0 += bs {
					cnt := min(bs, nmax-t0)
					base := (int(table[t0/bs])*nkv + g) * bs * hd
					kv.pv4(&scores[t0], ps, base, hd, cnt, hd, op[0], op[1], op[2], op[3])
				}
			}
			for r := range min(width, nq-q0) {
				o := unsafe.Slice(op[r], hd)
				for i := range o {
					o[i] *= inv[r]
				}
			}
			q0 += width
		}
		d.scratch.Put(sp)
	})
}

// softmaxNumerators replaces s with exp(s·scale - max(s)·scale) and
// returns their sum, as the float32 attention does.
func softmaxNumerators(s []float32, scale float32) float32 {
	n16 := len(s) &^ 15
	m := s[0]
	if n16 > 0 {
		m = maxZ(&s[0], n16)
	}
	for _, v := range s[n16:] {
		m = max(m, v)
	}
	m *= scale
	var sum float32
	if n16 > 0 {
		sum = expSumZ(&s[0], n16, scale, m)
	}
	for t := n16; t < len(s); t++ {
		e := expf(s[t]*scale - m)
		s[t] = e
		sum += e
	}
	return sum
}

// kvStepBytes is what attention reads of one layer's keys and values for
// the current step: every sequence's context, once per KV head.
func (d *Device) kvStepBytes(kv kvLayer, nkv, hd int) int {
	b := d.batch
	ctx := 0
	for i := range len(b.QueryStarts) - 1 {
		// The last query token's position is the sequence's context.
		ctx += int(b.Positions[b.QueryStarts[i+1]-1]) + 1
	}
	size := 2
	if kv.dt == device.F32 {
		size = 4
	}
	return 2 * ctx * nkv * hd * size
}
