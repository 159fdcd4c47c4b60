package cpu

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// argmaxChunkFloats bounds the logits LinearArgmax holds at once: 4 MiB,
// where a batch of 64 rows of Qwen3's 151,936-token vocabulary is 39 MB.
const argmaxChunkFloats = 1 << 20

// LinearArgmax returns, for each of the rows rows of x, the index of the
// largest element of x · wᵀ (the lowest index on ties, exactly as
// ArgmaxRows over Linear's output), without holding the whole product:
// the lm_head of a greedy step, a slice of the vocabulary at a time. Each
// slice is a Linear of the weight's rows [j0, j1) through the same kernels,
// so every logit is the one Linear would give.
func (d *Device) LinearArgmax(x device.Buffer, w device.Weight, rows int) ([]int32, error) {
	if !d.ok("LinearArgmax") {
		return nil, d.err
	}
	cw := d.weight("LinearArgmax", w, 2)
	if cw == nil {
		return nil, d.err
	}
	n, k := cw.shape[0], cw.shape[1]
	xs := d.floats("LinearArgmax", x, rows*k)
	if xs == nil {
		return nil, d.err
	}
	if rows <= 0 {
		return nil, fmt.Errorf("cpu: LinearArgmax of %d rows", rows)
	}
	// Slices of whole 64-row tiles, and only of a weight of whole tiles, so
	// that every slice takes the kernels the whole weight would.
	chunk, budget := n, d.argmaxChunk
	if budget == 0 {
		budget = argmaxChunkFloats
	}
	if rows*n > budget && n%64 == 0 {
		chunk = max(64, budget/rows&^63)
	}
	d.argmaxOut = grow(d.argmaxOut, rows*min(chunk, n))
	ids := make([]int32, rows)
	best := make([]float32, rows)
	for j0 := 0; j0 < n; j0 += chunk {
		j1 := min(n, j0+chunk)
		c := j1 - j0
		out := d.argmaxOut[:rows*c]
		d.linear(out, xs, cw.rowsView(j0, j1), rows, c, k, x.(*buffer))
		simd := d.isa == isaAVX512
		d.rowsParallel(rows, c, func(m int) {
			row := out[m*c : (m+1)*c]
			i, v := int(ids[m]), best[m]
			if j0 == 0 {
				i, v = 0, row[0]
			}
			i, v = argmaxScan(row, j0, i, v, simd)
			ids[m], best[m] = int32(i), v
		})
	}
	if d.err != nil {
		return nil, d.err
	}
	return ids, nil
}

// rowsView is the weight's rows [j0, j1), sharing its data.
func (w *weight) rowsView(j0, j1 int) *weight {
	k := w.shape[1]
	v := &weight{name: w.name, shape: []int{j1 - j0, k}, qt: w.qt, qrow: w.qrow}
	switch {
	case w.q != nil:
		v.q = w.q[j0*w.qrow : j1*w.qrow]
	case w.bf != nil:
		v.bf = w.bf[j0*k : j1*k]
	default:
		v.f = w.f[j0*k : j1*k]
	}
	return v
}

// argmaxScan continues a running argmax (index i, value v) over row, whose
// element j is column j0+j: the first column whose value is greater than
// every one before it, as ArgmaxRows scans (NaNs never win). With simd it
// finds the row's largest value first (maxZ, NaN if there is one: then it
// scans as without), and looks for its first index only if it beats v.
func argmaxScan(row []float32, j0, i int, v float32, simd bool) (int, float32) {
	if simd && len(row) >= 16 {
		n16 := len(row) &^ 15
		top := maxZ(&row[0], n16)
		for _, x := range row[n16:] {
			top = max(top, x)
		}
		if top == top {
			if top > v {
				for j, x := range row {
					if x == top {
						return j0 + j, x
					}
				}
			}
			return i, v
		}
	}
	for j, x := range row {
		if x > v {
			i, v = j0+j, x
		}
	}
	return i, v
}
