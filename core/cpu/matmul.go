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
	// multiple of 3): 48 rows of 3072 floats are 576 KiB, also in L2.
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
	k16 := k &^ 15
	if !d.simd || k16 == 0 {
		band := bandSize(n, d.pool.threads())
		d.pool.run((n+band-1)/band, func(t int) {
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
	for m := range rows {
		permute16(xp[m*k:(m+1)*k], x[m*k:(m+1)*k], k16)
	}
	band := bandSize(n, d.pool.threads())
	d.pool.run((n+band-1)/band, func(t int) {
		linearBandSIMD(out, xp, w, rows, n, k, t*band, min(n, (t+1)*band))
	})
}

// linearBandSIMD computes output columns [j0, j1) for every activation row.
func linearBandSIMD(out, xp []float32, w []uint16, rows, n, k, j0, j1 int) {
	k16 := k &^ 15
	nblk := k16 / 16
	for m0 := 0; m0 < rows; m0 += actRows {
		m1 := min(rows, m0+actRows)
		j := j0
		for ; j+4 <= j1; j += 4 {
			m := m0
			for ; m+3 <= m1; m += 3 {
				kern3x4(&xp[m*k], k, &w[j*k], k, nblk, &out[m*n+j], n)
			}
			for ; m < m1; m++ {
				kern1x4(&xp[m*k], &w[j*k], k, nblk, &out[m*n+j])
			}
		}
		for ; j < j1; j++ {
			for m := m0; m < m1; m++ {
				out[m*n+j] = dotBF16Perm(xp[m*k:m*k+k16], w[j*k:j*k+k16])
			}
		}
		if k16 < k {
			for j := j0; j < j1; j++ {
				for m := m0; m < m1; m++ {
					out[m*n+j] += dotBF16Go(xp[m*k+k16:(m+1)*k], w[j*k+k16:(j+1)*k])
				}
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
	if !d.simd || n8 == 0 {
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
	if !d.simd || n8 == 0 {
		axpyF32Go(y, a, x)
		return
	}
	axpyF32AVX(&y[0], &x[0], a, n8)
	if n8 < len(y) {
		axpyF32Go(y[n8:], a, x[n8:len(y)])
	}
}
