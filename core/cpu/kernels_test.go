package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/stretchr/testify/require"
)

// The kernels are checked against naive float64 implementations on random
// inputs of awkward sizes, for both the assembly and the pure-Go paths.

func modes(t *testing.T) []Options {
	t.Helper()
	out := []Options{{PureGo: true}, {PureGo: true, Threads: 1}}
	if haveSIMD() {
		out = append(out, Options{NoAVX512: true}, Options{NoAVX512: true, Threads: 1}, Options{NoAVX512: true, Threads: 3})
	}
	if haveAVX512() {
		out = append(out, Options{NoAMX: true}, Options{Threads: 1, NoAMX: true}, Options{Threads: 3, NoAMX: true})
		out = append(out, Options{}, Options{Threads: 1})
	}
	if !haveSIMD() {
		t.Log("no AVX2/FMA on this machine: testing the pure-Go kernels only")
	}
	return out
}

func randFloats(r *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64())
	}
	return out
}

func randBF16(r *rand.Rand, n int) []byte {
	out := make([]byte, 2*n)
	for i := range n {
		bits := math.Float32bits(float32(r.NormFloat64() * 0.5))
		out[2*i] = byte(bits >> 16)
		out[2*i+1] = byte(bits >> 24)
	}
	return out
}

// relClose asserts |got-want| <= tol·(1 + scale), where scale bounds the
// magnitude of the terms summed (float32 rounding grows with it).
func relClose(t *testing.T, want float64, got float32, scale, tol float64, msg string, args ...any) {
	t.Helper()
	if math.Abs(float64(got)-want) > tol*(1+scale) {
		t.Fatalf("%s: got %v, want %v", fmt.Sprintf(msg, args...), got, want)
	}
}

// oneSeqBatch is a step of one sequence prefilling n tokens in blocks 0, 1,
// ... of 16, asking for the last token's logits.
func oneSeqBatch(n int) *step.Step {
	tokens := make([]int32, n)
	for i := range tokens {
		tokens[i] = int32(i % 7)
	}
	blocks := make([]int32, (n+15)/16)
	for k := range blocks {
		blocks[k] = int32(k)
	}
	var b step.Builder
	b.Reset(16, 0)
	b.Add(tokens, 0, n, blocks, 1)
	return b.Step()
}

// begin starts step s on d for kernels that do not touch the KV cache, with
// a scratch cache just large enough for the step's block tables.
func begin(d *Device, s *step.Step) error {
	nb := 1
	for _, b := range s.BlockTables {
		nb = max(nb, int(b)+1)
	}
	c, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: nb, BlockSize: s.BlockSize, KVHeads: 1, HeadDim: 1})
	if err != nil {
		return err
	}
	return d.BeginStep(s, c)
}

func TestLinearBF16MatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shapes := []struct{ rows, n, k int }{
		{1, 4, 16}, {1, 7, 33}, {2, 13, 48}, {3, 8, 64}, {4, 12, 100}, {5, 17, 15},
		{7, 9, 160}, {1, 1, 1}, {50, 21, 96}, {97, 70, 80}, {1, 300, 1024}, {8, 8, 64}, {9, 20, 47}, {6, 5, 31}, {32, 32, 32}, {33, 64, 96}, {70, 160, 64}, {64, 288, 1024}, {8, 64, 32}, {16, 128, 64}, {9, 96, 64}, {40, 192, 96}, {17, 32, 64},
		// Many 16-row tiles: AMX tile pairs and an odd last tile.
		{128, 96, 64}, {161, 288, 96}, {300, 64, 128},
	}
	for _, opts := range modes(t) {
		d := New(opts)
		for _, s := range shapes {
			raw := randBF16(r, s.n*s.k)
			w, err := d.UploadWeight("w", device.BF16, []int{s.n, s.k}, raw)
			require.NoError(t, err)
			xs := randFloats(r, s.rows*s.k)
			x := &buffer{data: append([]float32(nil), xs...)}
			out := &buffer{data: make([]float32, s.rows*s.n)}
			require.NoError(t, begin(d, oneSeqBatch(1)))
			d.Linear(out, x, w, s.rows)
			require.NoError(t, d.ReadFloats(nil, out))
			wf := w.(*weight).bf
			for m := range s.rows {
				for j := range s.n {
					var want, scale float64
					for i := range s.k {
						p := float64(xs[m*s.k+i]) * float64(bf16ToF32(wf[j*s.k+i]))
						want += p
						scale += math.Abs(p)
					}
					relClose(t, want, out.data[m*s.n+j], scale, 1e-6, "%s %+v out[%d][%d]", d.Name(), s, m, j)
				}
			}
			require.Equal(t, xs, x.data, "Linear must not modify its input")
		}
		d.Close()
	}
}

func TestLinearF32AndF16(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, opts := range modes(t) {
		d := New(opts)
		n, k, rows := 11, 37, 3
		vals := randFloats(r, n*k)
		raw32 := make([]byte, 4*n*k)
		raw16 := make([]byte, 2*n*k)
		for i, v := range vals {
			b := math.Float32bits(v)
			raw32[4*i], raw32[4*i+1], raw32[4*i+2], raw32[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
			h := uint16(0x3c00 + i%1000) // exact f16 values in [1, 2)
			raw16[2*i], raw16[2*i+1] = byte(h), byte(h>>8)
		}
		xs := randFloats(r, rows*k)
		for _, c := range []struct {
			dt   device.DType
			raw  []byte
			elem func(i int) float64
		}{
			{device.F32, raw32, func(i int) float64 { return float64(vals[i]) }},
			{device.F16, raw16, func(i int) float64 { return 1 + float64(i%1000)/1024 }},
		} {
			w, err := d.UploadWeight("w", c.dt, []int{n, k}, c.raw)
			require.NoError(t, err)
			out := &buffer{data: make([]float32, rows*n)}
			require.NoError(t, begin(d, oneSeqBatch(1)))
			d.Linear(out, &buffer{data: xs}, w, rows)
			require.NoError(t, d.ReadFloats(nil, out))
			for m := range rows {
				for j := range n {
					var want, scale float64
					for i := range k {
						p := float64(xs[m*k+i]) * c.elem(j*k+i)
						want += p
						scale += math.Abs(p)
					}
					relClose(t, want, out.data[m*n+j], scale, 1e-6, "dtype %d out[%d][%d]", c.dt, m, j)
				}
			}
		}
		d.Close()
	}
}

func TestRMSNormSwiGLUAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	d := New(Options{})
	defer d.Close()
	rows, width := 5, 37
	xs := randFloats(r, rows*width)
	wv := randFloats(r, width)
	raw := make([]byte, 4*width)
	for i, v := range wv {
		b := math.Float32bits(v)
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
	}
	w, err := d.UploadWeight("norm", device.F32, []int{width}, raw)
	require.NoError(t, err)
	require.NoError(t, begin(d, oneSeqBatch(1)))
	out := &buffer{data: make([]float32, rows*width)}
	d.RMSNorm(out, &buffer{data: xs}, w, rows, 1e-6)
	for m := range rows {
		var ss float64
		for i := range width {
			ss += float64(xs[m*width+i]) * float64(xs[m*width+i])
		}
		inv := 1 / math.Sqrt(ss/float64(width)+1e-6)
		for i := range width {
			want := float64(xs[m*width+i]) * inv * float64(wv[i])
			relClose(t, want, out.data[m*width+i], math.Abs(want), 1e-6, "rmsnorm[%d][%d]", m, i)
		}
	}
	n := 10001
	g, u := randFloats(r, n), randFloats(r, n)
	g[0], g[1], g[2] = -100, 100, 0
	o := &buffer{data: make([]float32, n)}
	d.SwiGLU(o, &buffer{data: g}, &buffer{data: u}, n)
	for i := range n {
		want := float64(g[i]) / (1 + math.Exp(-float64(g[i]))) * float64(u[i])
		relClose(t, want, o.data[i], math.Abs(want), 1e-6, "swiglu[%d]", i)
	}
	a := &buffer{data: append([]float32(nil), g...)}
	d.Add(a, &buffer{data: u}, n)
	for i := range n {
		require.Equal(t, g[i]+u[i], a.data[i])
	}
	require.NoError(t, d.ReadFloats(nil, a))
}

func TestExpf(t *testing.T) {
	for x := -87.0; x <= 88.5; x += 0.0137 {
		want := math.Exp(float64(float32(x)))
		got := expf(float32(x))
		require.InDelta(t, 0, (float64(got)-want)/want, 3e-7, "exp(%v)", x)
	}
	require.Equal(t, float32(0), expf(-1000))
	require.True(t, math.IsInf(float64(expf(1000)), 1))
}

// naiveAttention is causal GQA attention in float64 over contiguous keys.
func naiveAttention(q []float32, keys, vals [][]float32, heads, nkv, hd, pos int) []float64 {
	out := make([]float64, heads*hd)
	group := heads / nkv
	for h := range heads {
		g := h / group
		scores := make([]float64, pos+1)
		m := math.Inf(-1)
		for t := 0; t <= pos; t++ {
			var s float64
			for j := range hd {
				s += float64(q[h*hd+j]) * float64(keys[t][g*hd+j])
			}
			scores[t] = s / math.Sqrt(float64(hd))
			m = math.Max(m, scores[t])
		}
		var sum float64
		for t := range scores {
			scores[t] = math.Exp(scores[t] - m)
			sum += scores[t]
		}
		for t := range scores {
			for j := range hd {
				out[h*hd+j] += scores[t] / sum * float64(vals[t][g*hd+j])
			}
		}
	}
	return out
}

// TestPagedAttention scatters two sequences' tokens over shuffled blocks,
// computes the second half of each in one step (the first half already
// cached), and compares with float64 attention over contiguous keys.
func TestPagedAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, shape := range []struct{ heads, nkv, hd, bs int }{
		{6, 2, 24, 4}, {6, 2, 64, 4}, {4, 4, 128, 4}, {8, 1, 64, 4}, {6, 3, 128, 4},
		{16, 8, 128, 16}, {6, 2, 64, 16}, {6, 3, 128, 16}, {4, 4, 64, 16}, {8, 1, 128, 16},
	} {
		testPagedAttention(t, r, shape.heads, shape.nkv, shape.hd, shape.bs)
	}
}

func testPagedAttention(t *testing.T, r *rand.Rand, heads, nkv, hd, bs int) {
	lens := []int{13, 22}
	if bs == 16 {
		lens = []int{37, 50}
	}
	for _, opts := range modes(t) {
		d := New(opts)
		cacheI, err := d.NewKVCache(device.KVCacheSpec{Layers: 2, NumBlocks: 16, BlockSize: bs, KVHeads: nkv, HeadDim: hd})
		require.NoError(t, err)
		blocks := r.Perm(16)
		stride := (max(lens[0], lens[1]) + bs - 1) / bs
		tables := [][]int32{}
		next := 0
		for _, n := range lens {
			row := make([]int32, stride)
			for k := range row {
				row[k] = -1
				if k < (n+bs-1)/bs {
					row[k] = int32(blocks[next])
					next++
				}
			}
			tables = append(tables, row)
		}
		keys := make([][][]float32, len(lens))
		vals := make([][][]float32, len(lens))
		for s, n := range lens {
			for range n {
				keys[s] = append(keys[s], randFloats(r, nkv*hd))
				vals[s] = append(vals[s], randFloats(r, nkv*hd))
			}
		}
		// Two steps: first halves, then second halves (with queries).
		for half := range 2 {
			var sb step.Builder
			sb.Reset(bs, stride)
			var kb, vb, qb []float32
			var qpos [][2]int
			for s, n := range lens {
				lo, hi := 0, n/2
				if half == 1 {
					lo, hi = n/2, n
				}
				sb.Add(make([]int32, n), lo, hi, tables[s], 0)
				for p := lo; p < hi; p++ {
					kb = append(kb, keys[s][p]...)
					vb = append(vb, vals[s][p]...)
					qb = append(qb, randFloats(r, heads*hd)...)
					qpos = append(qpos, [2]int{s, p})
				}
			}
			b := sb.Step()
			rows := len(b.TokenIDs)
			require.NoError(t, d.BeginStep(b, cacheI))
			d.WriteKV(cacheI, 1, &buffer{data: kb}, &buffer{data: vb}, rows)
			out := &buffer{data: make([]float32, rows*heads*hd)}
			d.Attention(out, &buffer{data: qb}, cacheI, 1, heads, rows)
			require.NoError(t, d.ReadFloats(nil, out))
			for i, sp := range qpos {
				want := naiveAttention(qb[i*heads*hd:], keys[sp[0]], vals[sp[0]], heads, nkv, hd, sp[1])
				for j := range want {
					relClose(t, want[j], out.data[i*heads*hd+j], math.Abs(want[j]), 2e-6, "%s heads %d/%d hd %d token %d out %d", d.Name(), heads, nkv, hd, i, j)
				}
			}
		}
		d.Close()
	}
}

func TestRoPEMatchesFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	// hd 16 takes the Go loop; 32 and 128 the AVX-512 kernel where present.
	for _, hd := range []int{16, 32, 128} {
		d := New(Options{})
		n, heads := 40, 3
		b := oneSeqBatch(n)
		for i := range b.Positions {
			b.Positions[i] = int32(i)
		}
		require.NoError(t, begin(d, b))
		xs := randFloats(r, n*heads*hd)
		x := &buffer{data: append([]float32(nil), xs...)}
		d.RoPE(x, n, heads, hd, 1e6)
		require.NoError(t, d.ReadFloats(nil, x))
		for p := range n {
			for h := range heads {
				v := xs[(p*heads+h)*hd:]
				for j := range hd / 2 {
					ang := float64(p) * math.Pow(1e6, -float64(2*j)/float64(hd))
					c, s := math.Cos(ang), math.Sin(ang)
					w1 := float64(v[j])*c - float64(v[j+hd/2])*s
					w2 := float64(v[j+hd/2])*c + float64(v[j])*s
					got := x.data[(p*heads+h)*hd:]
					relClose(t, w1, got[j], 1, 2e-5, "hd %d pos %d head %d dim %d", hd, p, h, j)
					relClose(t, w2, got[j+hd/2], 1, 2e-5, "hd %d pos %d head %d dim %d", hd, p, h, j+hd/2)
				}
			}
		}
		// The kernels round exactly as the portable loop does.
		g := New(Options{PureGo: true})
		require.NoError(t, begin(g, b))
		y := &buffer{data: append([]float32(nil), xs...)}
		g.RoPE(y, n, heads, hd, 1e6)
		require.NoError(t, g.ReadFloats(nil, y))
		require.Equal(t, y.data, x.data, "hd %d", hd)
		d.Close()
		g.Close()
	}
}

// TestMisuseIsAnError checks that wrong buffers, slots and shapes surface as
// errors from the step's read, not panics.
func TestMisuseIsAnError(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	w, err := d.UploadWeight("w", device.BF16, []int{4, 16}, make([]byte, 128))
	require.NoError(t, err)
	_, err = d.UploadWeight("w", device.BF16, []int{4, 16}, make([]byte, 127))
	require.ErrorContains(t, err, "127 bytes")
	out := &buffer{data: make([]float32, 4)}
	d.Linear(out, &buffer{data: make([]float32, 16)}, w, 1)
	require.ErrorContains(t, d.ReadFloats(nil, out), "outside a step")

	require.NoError(t, begin(d, oneSeqBatch(2)))
	d.Linear(out, &buffer{data: make([]float32, 16)}, w, 2)
	require.ErrorContains(t, d.ReadFloats(nil, out), "need 32")

	c, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 1, BlockSize: 16, KVHeads: 1, HeadDim: 4})
	require.NoError(t, err)
	b := oneSeqBatch(20) // needs 2 blocks, the cache has 1
	err = d.BeginStep(b, c)
	require.ErrorIs(t, err, step.ErrInvalid)
	require.ErrorContains(t, err, "block 1, KV cache has 1")
	d.WriteKV(c, 0, &buffer{data: make([]float32, 80)}, &buffer{data: make([]float32, 80)}, 20)
	require.ErrorContains(t, d.ReadFloats(nil, out), "outside a step", "a step that failed BeginStep runs nothing")

	require.NoError(t, d.BeginStep(oneSeqBatch(3), c))
	other, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 1, BlockSize: 16, KVHeads: 1, HeadDim: 4})
	require.NoError(t, err)
	d.WriteKV(other, 0, &buffer{data: make([]float32, 12)}, &buffer{data: make([]float32, 12)}, 3)
	require.ErrorContains(t, d.ReadFloats(nil, out), "not the one BeginStep was given")

	bad := oneSeqBatch(3)
	bad.Slots[2] = 9
	require.ErrorIs(t, d.BeginStep(bad, c), step.ErrInvalid)
	require.ErrorContains(t, d.BeginStep(oneSeqBatch(3), nil), "not from the CPU device")
}

// TestLinearSeesChangedInput runs Linear twice on the same buffer with an
// Add in between: the second result must use the new contents (the AMX
// path reuses its packing of an unchanged input).
func TestLinearSeesChangedInput(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, opts := range modes(t) {
		d := New(opts)
		rows, n, k := 40, 64, 64
		w, err := d.UploadWeight("w", device.BF16, []int{n, k}, randBF16(r, n*k))
		require.NoError(t, err)
		x := &buffer{data: randFloats(r, rows*k)}
		y := &buffer{data: randFloats(r, rows*k)}
		out1 := &buffer{data: make([]float32, rows*n)}
		out2 := &buffer{data: make([]float32, rows*n)}
		require.NoError(t, begin(d, oneSeqBatch(1)))
		d.Linear(out1, x, w, rows)
		d.Linear(out2, x, w, rows)
		require.Equal(t, out1.data, out2.data)
		d.Add(x, y, rows*k)
		d.Linear(out2, x, w, rows)
		require.NoError(t, d.ReadFloats(nil, out2))
		sum := &buffer{data: make([]float32, rows*n)}
		d.Linear(sum, y, w, rows)
		for i := range out2.data {
			relClose(t, float64(out1.data[i])+float64(sum.data[i]), out2.data[i], 10, 1e-5, "%s out[%d]", d.Name(), i)
		}
		d.Close()
	}
}

func TestVectorExp(t *testing.T) {
	if !haveAVX512() {
		t.Skip("no AVX-512")
	}
	var xs []float32
	for x := -120.0; x <= 95; x += 0.0173 {
		xs = append(xs, float32(x))
	}
	xs = xs[:len(xs)&^15]
	s := append([]float32(nil), xs...)
	sum := expSumZ(&s[0], len(s), 1, 0)
	var want float64
	for i, x := range xs {
		w := float64(float32(math.Exp(float64(x))))
		want += w
		if w == 0 || math.IsInf(w, 1) || w < 1e-37 {
			if math.IsInf(w, 1) {
				require.True(t, math.IsInf(float64(s[i]), 1), "exp(%v)", x)
			} else {
				require.Less(t, float64(s[i]), 1e-37, "exp(%v)", x)
			}
			continue
		}
		require.InDelta(t, 0, (float64(s[i])-w)/w, 3e-7, "exp(%v)", x)
	}
	require.True(t, math.IsInf(float64(sum), 1))

	g, u := make([]float32, 64), make([]float32, 64)
	for i := range g {
		g[i], u[i] = float32(i-32)*3.1, float32(i%5)-2
	}
	g[0] = -200
	out := make([]float32, 64)
	swigluZ(&out[0], &g[0], &u[0], 64)
	for i := range g {
		w := float64(g[i]) / (1 + math.Exp(-float64(g[i]))) * float64(u[i])
		require.InDelta(t, w, float64(out[i]), 1e-6*(1+math.Abs(w)), "swiglu(%v, %v)", g[i], u[i])
	}
}

// TestPackAMXFast compares the AVX-512 activation packing with the Go one,
// including a partial last tile, and checks that the three parts add up to
// the activations exactly.
func TestPackAMXFast(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	if !d.amx {
		t.Skip("no AMX")
	}
	r := rand.New(rand.NewPCG(13, 14))
	rows, k := 37, 96
	x := randFloats(r, rows*k)
	x[5] = 1e-30
	x[6] = -3.75
	x[7] = float32(math.NaN())
	x[8] = float32(math.Inf(-1))
	x[9] = math.MaxFloat32 // rounds up to +Inf in bf16
	x[10] = 1 + 1.0/256    // a tie: to even, 1
	x[11] = 1 + 3.0/256    // a tie: to even, 1 + 4/256
	kbs := k / 32
	for _, parts := range []int{3, 1} {
		for mt := range (rows + 15) / 16 {
			want := make([]uint16, kbs*parts*512)
			got := make([]uint16, kbs*parts*512)
			for i := range got {
				got[i] = 0xdead
			}
			packAMX(want, x, rows, k, mt, parts)
			d.packAMXFast(got, x, rows, k, mt, parts)
			require.Equal(t, want, got, "%d parts, m-tile %d", parts, mt)
			for ml := range 16 {
				m := mt*16 + ml
				if m >= rows {
					continue
				}
				for kk := range k {
					at := (kk/32*parts)*512 + (kk%32/2)*32 + ml*2 + kk%2
					xv := x[m*k+kk]
					if parts == 1 {
						require.Equal(t, nearestBF16Float64(xv), got[at], "row %d k %d (%g)", m, kk, xv)
						continue
					}
					if xv != xv || math.IsInf(float64(xv), 0) {
						continue // the split is for finite activations
					}
					sum := bf16ToF32(got[at]) + bf16ToF32(got[at+512]) + bf16ToF32(got[at+1024])
					require.Equal(t, xv, sum, "row %d k %d", m, kk)
				}
			}
		}
	}
}

// nearestBF16Float64 rounds v to the nearest bf16 by comparing distances in
// float64, ties to the even significand: an independent check of the
// bit-trick rounding in the kernels.
func nearestBF16Float64(v float32) uint16 {
	b := math.Float32bits(v)
	if v != v || math.IsInf(float64(v), 0) {
		return uint16(b >> 16)
	}
	lo := uint16(b >> 16) // truncation: toward zero
	hi := lo + 1          // the next bf16 away from zero (may be Inf)
	hv := float64(bf16ToF32(hi))
	if math.IsInf(hv, 0) {
		// IEEE rounding treats overflow as if the exponent range went on:
		// the next value after the largest bf16 is 2^128.
		hv = math.Copysign(math.Ldexp(1, 128), hv)
	}
	dl := math.Abs(float64(v) - float64(bf16ToF32(lo)))
	dh := math.Abs(hv - float64(v))
	switch {
	case dl < dh:
		return lo
	case dh < dl:
		return hi
	case lo%2 == 0:
		return lo
	}
	return hi
}

func TestLinearBF16Precision(t *testing.T) {
	if !haveAVX512() || !enableAMX() {
		t.Skip("no AMX")
	}
	r := rand.New(rand.NewPCG(21, 22))
	for _, s := range []struct{ rows, n, k int }{{12, 64, 96}, {33, 96, 128}, {161, 288, 96}} {
		for _, threads := range []int{1, 2} {
			d := New(Options{Precision: PrecisionBF16, Threads: threads})
			require.Contains(t, d.Name(), "bf16")
			raw := randBF16(r, s.n*s.k)
			w, err := d.UploadWeight("w", device.BF16, []int{s.n, s.k}, raw)
			require.NoError(t, err)
			xs := randFloats(r, s.rows*s.k)
			out := &buffer{data: make([]float32, s.rows*s.n)}
			require.NoError(t, begin(d, oneSeqBatch(1)))
			d.Linear(out, &buffer{data: xs}, w, s.rows)
			require.NoError(t, d.ReadFloats(nil, out))
			wf := w.(*weight).bf
			var worst float64
			for m := range s.rows {
				for j := range s.n {
					// What the mode computes: activations rounded to bf16,
					// exact products, float32 accumulation.
					var want, exact, scale float64
					for i := range s.k {
						wv := float64(bf16ToF32(wf[j*s.k+i]))
						want += float64(bf16ToF32(nearestBF16Float64(xs[m*s.k+i]))) * wv
						exact += float64(xs[m*s.k+i]) * wv
						scale += math.Abs(float64(xs[m*s.k+i]) * wv)
					}
					relClose(t, want, out.data[m*s.n+j], scale, 1e-6, "%+v out[%d][%d]", s, m, j)
					worst = max(worst, math.Abs(exact-float64(out.data[m*s.n+j]))/scale)
				}
			}
			// Against the exact product the error is bf16's: under 2^-9 of
			// the magnitudes summed, but well above float32's.
			require.Less(t, worst, 1.0/512, "%+v", s)
			require.Greater(t, worst, 1e-5, "%+v: no sign of bf16 rounding", s)
			d.Close()
		}
	}
}

func TestSumF32AVX(t *testing.T) {
	if !haveSIMD() {
		t.Skip("no AVX2")
	}
	for _, n := range []int{64, 128, 4096, 1 << 16} {
		a := make([]float32, n)
		want := 0.0
		for i := range a {
			a[i] = float32(i%7) - 2 // small integers: every partial sum exact
			want += float64(a[i])
		}
		require.Equal(t, float32(want), sumF32AVX(&a[0], n), "n=%d", n)
	}
}

func TestTransposeTileZ(t *testing.T) {
	if !haveAVX512() {
		t.Skip("no AVX-512")
	}
	const ldc, ldo = 20, 40
	var c [16 * ldc]float32
	for i := range c {
		c[i] = float32(i) + 0.5
	}
	for _, n := range []int{1, 7, 15, 16} {
		out := make([]float32, 17*ldo)
		for i := range out {
			out[i] = -1
		}
		transposeTileZ(&c[0], ldc, &out[3], ldo, n)
		for j := range 17 {
			for col := range ldo {
				want := float32(-1) // untouched outside the n rows and 16 columns
				if i := col - 3; j < n && i >= 0 && i < 16 {
					want = c[i*ldc+j]
				}
				require.Equal(t, want, out[j*ldo+col], "n=%d row %d col %d", n, j, col)
			}
		}
	}
}

func TestMaxZ(t *testing.T) {
	if !haveAVX512() {
		t.Skip("no AVX-512")
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name  string
		n     int
		set   map[int]float32
		isNaN bool
	}{
		{"random16", 16, nil, false},
		{"random512", 512, nil, false},
		{"max in last lane", 64, map[int]float32{63: 100}, false},
		{"max in first lane", 48, map[int]float32{0: 100}, false},
		{"all negative", 32, map[int]float32{5: -1e-30}, false},
		{"+inf", 32, map[int]float32{17: inf}, false},
		{"nan propagates", 64, map[int]float32{40: nan}, true},
		{"nan in first element", 16, map[int]float32{0: nan}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := randFloats(r, tc.n)
			if tc.name == "all negative" {
				for i := range s {
					s[i] = -1 - float32(math.Abs(float64(s[i])))
				}
			}
			for i, v := range tc.set {
				s[i] = v
			}
			want := s[0]
			for _, v := range s {
				want = max(want, v)
			}
			got := maxZ(&s[0], tc.n)
			if tc.isNaN {
				require.True(t, math.IsNaN(float64(got)), "got %v", got)
				return
			}
			require.Equal(t, want, got)
		})
	}
}

func TestRMSNormSIMDMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ rows, width int }{{3, 16}, {64, 128}, {9, 1024}, {4, 1000}, {2, 15}} {
		t.Run(fmt.Sprintf("%dx%d", tc.rows, tc.width), func(t *testing.T) {
			xs := randFloats(r, tc.rows*tc.width)
			raw := make([]byte, 4*tc.width)
			for i, v := range randFloats(r, tc.width) {
				b := math.Float32bits(v)
				raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
			}
			var outs [][]float32
			for _, opts := range []Options{{PureGo: true}, {}} {
				d := New(opts)
				w, err := d.UploadWeight("norm", device.F32, []int{tc.width}, raw)
				require.NoError(t, err)
				require.NoError(t, begin(d, oneSeqBatch(1)))
				out := &buffer{data: make([]float32, tc.rows*tc.width)}
				d.RMSNorm(out, &buffer{data: xs}, w, tc.rows, 1e-6)
				require.NoError(t, d.ReadFloats(nil, out))
				outs = append(outs, out.data)
				d.Close()
			}
			for i := range outs[0] {
				// Only the order of the float64 sum of squares differs.
				relClose(t, float64(outs[0][i]), outs[1][i], math.Abs(float64(outs[0][i])), 1e-7, "element %d", i)
			}
		})
	}
}

// TestAttentionBF16TileUnits runs prefill attention with bf16 activations
// (the AMX path for sequences with two or more tiles of queries, next to a
// short one on the float32 kernels), in two chunks so that the second
// reads keys and values written by the first, and compares it with float64
// attention over bf16-rounded queries, keys and values: what remains is the
// rounding of the softmax numerators to bf16 and float32 sums.
func TestAttentionBF16TileUnits(t *testing.T) {
	d := New(Options{Precision: PrecisionBF16})
	defer d.Close()
	if !d.amxAttnEligible(2, 128, 16) {
		t.Skip("no AMX")
	}
	r := rand.New(rand.NewPCG(31, 32))
	round := func(xs []float32) []float32 {
		out := make([]float32, len(xs))
		for i, v := range xs {
			out[i] = bf16ToF32(bf16Nearest(v))
		}
		return out
	}
	const hd, bs = 128, 16
	for _, shape := range []struct{ heads, nkv int }{{16, 8}, {8, 8}, {32, 4}} {
		heads, nkv := shape.heads, shape.nkv
		// Chunks with partial last blocks and odd and even block counts
		// (70: 35 + 35 tokens, 100: 50 + 50), and a sequence too short for
		// the tile units.
		lens := []int{70, 100, 3}
		const numBlocks, stride = 16, 7
		cache, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: numBlocks, BlockSize: bs, KVHeads: nkv, HeadDim: hd})
		require.NoError(t, err)
		blocks := r.Perm(numBlocks)
		tables := make([][]int32, len(lens))
		keys := make([][][]float32, len(lens)) // bf16-rounded for the long sequences
		vals := make([][][]float32, len(lens))
		var exactK, exactV [][][]float32
		next := 0
		for s, n := range lens {
			tables[s] = make([]int32, stride)
			for k := range tables[s] {
				tables[s][k] = -1
				if k < (n+bs-1)/bs {
					tables[s][k] = int32(blocks[next])
					next++
				}
			}
			var ek, ev [][]float32
			for range n {
				k, v := randFloats(r, nkv*hd), randFloats(r, nkv*hd)
				ek, ev = append(ek, k), append(ev, v)
				if s < 2 {
					k, v = round(k), round(v)
				}
				keys[s], vals[s] = append(keys[s], k), append(vals[s], v)
			}
			exactK, exactV = append(exactK, ek), append(exactV, ev)
		}
		var worst, worstShort float64
		for half := range 2 {
			var sb step.Builder
			sb.Reset(bs, stride)
			var kb, vb, qb []float32
			type query struct{ seq, pos int }
			var qs []query
			for s, n := range lens {
				lo, hi := 0, n/2
				if half == 1 {
					lo, hi = n/2, n
				}
				sb.Add(make([]int32, n), lo, hi, tables[s], 0)
				for p := lo; p < hi; p++ {
					kb, vb = append(kb, exactK[s][p]...), append(vb, exactV[s][p]...)
					qb = append(qb, randFloats(r, heads*hd)...)
					qs = append(qs, query{s, p})
				}
			}
			b := sb.Step()
			rows := len(b.TokenIDs)
			require.NoError(t, d.BeginStep(b, cache))
			d.WriteKV(cache, 0, &buffer{data: kb}, &buffer{data: vb}, rows)
			out := &buffer{data: make([]float32, rows*heads*hd)}
			d.attnKPack = nil
			d.Attention(out, &buffer{data: qb}, cache, 0, heads, rows)
			require.NoError(t, d.ReadFloats(nil, out))
			require.NotNil(t, d.attnKPack, "the long sequences took the tile units")
			for i, qq := range qs {
				q := qb[i*heads*hd : (i+1)*heads*hd]
				if qq.seq < 2 {
					q = round(q) // the tile units see bf16 queries
				}
				want := naiveAttention(q, keys[qq.seq], vals[qq.seq], heads, nkv, hd, qq.pos)
				for j, w := range want {
					diff := math.Abs(w - float64(out.data[i*heads*hd+j]))
					if qq.seq < 2 {
						worst = max(worst, diff)
					} else {
						worstShort = max(worstShort, diff)
					}
				}
			}
		}
		t.Logf("heads %d/%d: max |diff| %.2g on the tile units, %.2g on the float32 kernels", heads, nkv, worst, worstShort)
		// Values are N(0, 1) and the outputs their weighted averages: bf16
		// numerators (2^-9 relative) move them by well under 1e-2.
		require.Less(t, worst, 1e-2, "heads %d/%d", heads, nkv)
		require.Less(t, worstShort, 1e-5, "the short sequence stays float32 (heads %d/%d)", heads, nkv)
	}
}

// TestPackKeysValuesAMX checks the attention packing kernels against the
// tile layout spelled out element by element.
func TestPackKeysValuesAMX(t *testing.T) {
	d := New(Options{Precision: PrecisionBF16})
	defer d.Close()
	if !d.amxAttnEligible(2, 128, 16) {
		t.Skip("no AMX")
	}
	r := rand.New(rand.NewPCG(41, 42))
	kt := randFloats(r, 128*16)
	kt[7] = float32(math.NaN())
	got := make([]uint16, 4*512)
	packKeysAMX(got, kt, &d.amxTables[0])
	for c := range 4 {
		for i := range 16 {
			for k := range 16 {
				d0 := 32*c + 2*i
				at := c*512 + i*32 + 2*k
				require.Equal(t, nearestBF16Float64(kt[d0*16+k]), got[at], "key %d dim %d", k, d0)
				require.Equal(t, nearestBF16Float64(kt[(d0+1)*16+k]), got[at+1], "key %d dim %d", k, d0+1)
			}
		}
	}
	rows := randFloats(r, 16*128)
	vals := make([]uint16, 8*512)
	for i := range vals {
		vals[i] = 0xdead
	}
	packValuesAMX(vals, rows, 1, &d.amxTables[0])
	packValuesAMX(vals, nil, 0, &d.amxTables[0])
	for key := range 32 {
		for dim := range 128 {
			want := uint16(0)
			if key >= 16 {
				want = nearestBF16Float64(rows[(key-16)*128+dim])
			}
			j, dd := dim/16, dim%16
			require.Equal(t, want, vals[j*512+(key/2)*32+2*dd+key%2], "key %d dim %d", key, dim)
		}
	}
}
