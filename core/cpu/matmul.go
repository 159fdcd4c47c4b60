package cpu

// The matmuls are y = x·Wᵀ with W stored [out_features, in_features], the
// layout of Hugging Face checkpoints, so every output element is a dot
// product of two contiguous rows. Work is split over output features (weight
// rows): each task owns a band of weight rows and computes them for every
// activation row, so a weight row is fetched from memory once per call and
// then reused from cache by all the activation rows of the step. That is what
// makes batched decode and prefill compute-bound while batch-1 decode stays
// bound by memory bandwidth.

// Blocking parameters for linearBF16.
const (
	// bandRows is the most weight rows one task owns (a multiple of 4): 64
	// rows of a 3072-wide bf16 matrix are 384 KiB, comfortably in L2.
	bandRows = 64
	// actRows is the most activation rows swept per pass over a band (a
	// multiple of 3 and of 4, the kernels' row tiles): 48 rows of 3072 floats are 576 KiB, also in L2.
	actRows = 48
)

// bandSize picks the number of weight rows per task: a multiple of 4, at
// most bandRows, small enough that every thread gets several tasks.
func bandSize(n, threads int) int {
	b := n / (8 * threads)
	b = max(4, min(bandRows, b&^3))
	return b
}

// linearBF16 computes out[m*n+j] = Σ_k x[m*k+i]·w[j*k+i] for m < rows.
func (d *Device) linearBF16(out, x []float32, w []uint16, rows, n, k int) {
	blk := 0 // elements per SIMD step; 0 selects the Go loop
	switch {
	case d.isa == isaAVX512 && k >= 32:
		blk = 32
	case d.isa >= isaAVX2 && k >= 16:
		blk = 16
	}
	band := bandSize(n, d.pool.threads())
	tasks := (n + band - 1) / band
	if blk == 0 {
		d.pool.run(tasks, func(t int) {
			for j := t * band; j < min(n, (t+1)*band); j++ {
				wr := w[j*k : (j+1)*k]
				for m := range rows {
					out[m*n+j] = dotBF16Go(x[m*k:(m+1)*k], wr)
				}
			}
		})
		return
	}
	if cap(d.perm) < rows*k {
		d.perm = make([]float32, rows*k)
	}
	xp := d.perm[:rows*k]
	kb := k / blk * blk
	for m := range rows {
		permuteBlocks(xp[m*k:(m+1)*k], x[m*k:(m+1)*k], kb, blk)
	}
	d.pool.run(tasks, func(t int) {
		linearBand(out, xp, w, rows, n, k, t*band, min(n, (t+1)*band), blk)
	})
}

// linearBand computes output columns [j0, j1) for every activation row with
// the SIMD kernels for blocks of blk elements.
func linearBand(out, xp []float32, w []uint16, rows, n, k, j0, j1, blk int) {
	kb := k / blk * blk
	nblk := kb / blk
	// The 4-row kernel needs 4 rows; AVX2's 3-row one, 3.
	tile := 4
	if blk == 16 {
		tile = 3
	}
	if blk == 32 {
		linearBandZ(out, xp, w, rows, n, k, j0, j1)
		return
	}
	for m0 := 0; m0 < rows; m0 += actRows {
		m1 := min(rows, m0+actRows)
		j := j0
		for ; j+4 <= j1; j += 4 {
			m := m0
			for ; m+tile <= m1; m += tile {
				kern3x4(&xp[m*k], k, &w[j*k], k, nblk, &out[m*n+j], n)
			}
			for ; m < m1; m++ {
				kern1x4(&xp[m*k], &w[j*k], k, nblk, &out[m*n+j])
			}
		}
		for ; j < j1; j++ {
			for m := m0; m < m1; m++ {
				out[m*n+j] = dotBF16Perm(xp[m*k:m*k+kb], w[j*k:j*k+kb], blk)
			}
		}
		if kb < k {
			for j := j0; j < j1; j++ {
				for m := m0; m < m1; m++ {
					out[m*n+j] += dotBF16Go(xp[m*k+kb:(m+1)*k], w[j*k+kb:(j+1)*k])
				}
			}
		}
	}
}

// kChunk is the slice of the inner dimension the AVX-512 path works on at a
// time (a multiple of 32): a 64-row band of bf16 weights is then 128 KiB
// (L2) and a 4-row activation tile 16 KiB (L1) while the tile sweeps the
// band. Measured on a shared 2-core Sapphire Rapids VM, smaller chunks
// (128-512) were no faster, and the kernel's reduction epilogue costs more
// the shorter the chunk.
const kChunk = 1024

// linearBandZ is linearBand for the AVX-512 kernels, which accumulate into
// out: columns [j0, j1) are cleared, then each chunk of k adds its part.
func linearBandZ(out, xp []float32, w []uint16, rows, n, k, j0, j1 int) {
	kb := k / 32 * 32
	j4 := j0 + (j1-j0)/4*4
	for m := range rows {
		clear(out[m*n+j0 : m*n+j4])
	}
	for k0 := 0; k0 < kb; k0 += kChunk {
		nblk := (min(kb, k0+kChunk) - k0) / 32
		m := 0
		for ; m+4 <= rows; m += 4 {
			for j := j0; j < j4; j += 4 {
				kern4x4z(&xp[m*k+k0], k, &w[j*k+k0], k, nblk, &out[m*n+j], n)
			}
		}
		for ; m < rows; m++ {
			for j := j0; j < j4; j += 4 {
				kern1x4z(&xp[m*k+k0], &w[j*k+k0], k, nblk, &out[m*n+j])
			}
		}
	}
	for j := j4; j < j1; j++ {
		for m := range rows {
			out[m*n+j] = dotBF16Perm(xp[m*k:m*k+kb], w[j*k:j*k+kb], 32)
		}
	}
	if kb < k {
		for j := j0; j < j1; j++ {
			for m := range rows {
				out[m*n+j] += dotBF16Go(xp[m*k+kb:(m+1)*k], w[j*k+kb:(j+1)*k])
			}
		}
	}
}

// linearF32 is linearBF16 for float32 weights.
func (d *Device) linearF32(out, x, w []float32, rows, n, k int) {
	band := bandSize(n, d.pool.threads())
	d.pool.run((n+band-1)/band, func(t int) {
		for j := t * band; j < min(n, (t+1)*band); j++ {
			wr := w[j*k : (j+1)*k]
			for m := range rows {
				out[m*n+j] = d.dot(x[m*k:(m+1)*k], wr)
			}
		}
	})
}

// dot returns Σ a[i]·b[i] over len(a) elements.
func (d *Device) dot(a, b []float32) float32 {
	n8 := len(a) &^ 7
	if d.isa == isaGo || n8 == 0 {
		return dotF32Go(a, b)
	}
	s := dotF32AVX(&a[0], &b[0], n8)
	if n8 < len(a) {
		s += dotF32Go(a[n8:], b[n8:len(a)])
	}
	return s
}

// axpy computes y += a·x over len(y) elements.
func (d *Device) axpy(y []float32, a float32, x []float32) {
	n8 := len(y) &^ 7
	if d.isa == isaGo || n8 == 0 {
		axpyF32Go(y, a, x)
		return
	}
	axpyF32AVX(&y[0], &x[0], a, n8)
	if n8 < len(y) {
		axpyF32Go(y[n8:], a, x[n8:len(y)])
	}
}
