package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/stretchr/testify/require"
)

// The quantized kernels are checked against core/quant, the scalar
// reference written from ggml's C code: its Dequantize gives the weights
// (and, with the block scales set to 1, the weights' integers), its
// activation quantizers the int8 activations. The integer path's block sums
// are exact, so its results must equal the float64 sum of scale·integer
// terms within the rounding of float32 accumulation; the float path's must
// equal the float64 dot product of the dequantized weights.

// randFP16 returns a random fp16 scale: mostly ordinary magnitudes, and
// now and then zero, a subnormal, or the largest finite value.
func randFP16(r *rand.Rand) uint16 {
	switch r.IntN(16) {
	case 0:
		return 0
	case 1:
		return uint16(1 + r.IntN(0x3ff)) // subnormal
	case 2:
		return 0x7bff // 65504
	}
	h := quant.F32ToF16(float32(math.Ldexp(0.5+r.Float64(), -12+r.IntN(10))))
	if r.IntN(2) == 0 {
		h |= 0x8000
	}
	return h
}

// randQuantRows returns rows×k values of type t as random blocks: random
// bytes with random fp16 scales, every eighth block all zero.
func randQuantRows(r *rand.Rand, t device.DType, rows, k int) []byte {
	n, err := quant.Bytes(t, rows, k)
	if err != nil {
		panic(err)
	}
	out := make([]byte, n)
	bb := quant.BlockBytes(t)
	for b := 0; b < n/bb; b++ {
		blk := out[b*bb : (b+1)*bb]
		if r.IntN(8) == 0 {
			continue // zero block
		}
		for i := range blk {
			blk[i] = byte(r.Uint32())
		}
		switch t {
		case device.Q8_0, device.Q4_0:
			binary.LittleEndian.PutUint16(blk, randFP16(r))
		case device.Q4_K:
			binary.LittleEndian.PutUint16(blk, randFP16(r))
			binary.LittleEndian.PutUint16(blk[2:], randFP16(r))
		case device.Q6_K:
			binary.LittleEndian.PutUint16(blk[208:], randFP16(r))
		}
	}
	return out
}

// quantInts returns the integers of a quantized matrix with its fp16
// scales replaced: for Q8_0/Q4_0/Q6_K value = ints·d (ints = q, q-8, or
// sc·(q-32)); for Q4_K value = d·ints - dmin·mins.
func quantInts(t device.DType, data []byte, n, k int) (ints, mins []float32, d, dmin []float32) {
	bb, bv := quant.BlockBytes(t), quant.BlockValues(t)
	nb := len(data) / bb
	one := make([]byte, len(data))
	zero := make([]byte, len(data))
	copy(one, data)
	copy(zero, data)
	d, dmin = make([]float32, nb), make([]float32, nb)
	for b := range nb {
		blk, o, z := data[b*bb:], one[b*bb:], zero[b*bb:]
		switch t {
		case device.Q8_0, device.Q4_0:
			d[b] = quant.F16ToF32(binary.LittleEndian.Uint16(blk))
			binary.LittleEndian.PutUint16(o, 0x3c00)
		case device.Q4_K:
			d[b] = quant.F16ToF32(binary.LittleEndian.Uint16(blk))
			dmin[b] = quant.F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
			binary.LittleEndian.PutUint16(o, 0x3c00)
			binary.LittleEndian.PutUint16(o[2:], 0)
			binary.LittleEndian.PutUint16(z, 0)
			binary.LittleEndian.PutUint16(z[2:], 0x3c00)
		case device.Q6_K:
			d[b] = quant.F16ToF32(binary.LittleEndian.Uint16(blk[208:]))
			binary.LittleEndian.PutUint16(o[208:], 0x3c00)
		}
	}
	_ = bv
	ints = make([]float32, n*k)
	if err := quant.Dequantize(t, ints, one); err != nil {
		panic(err)
	}
	if t == device.Q4_K {
		mins = make([]float32, n*k)
		if err := quant.Dequantize(t, mins, zero); err != nil {
			panic(err)
		}
	}
	return ints, mins, d, dmin
}

// quantCase is one matmul shape of a test.
type quantCase struct {
	t          device.DType
	rows, n, k int
}

func quantCases() []quantCase {
	var cs []quantCase
	for _, t := range []device.DType{device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K} {
		ks := []int{32, 64, 96, 1024, 3072}
		if t == device.Q4_K || t == device.Q6_K {
			ks = []int{256, 512, 1024, 3072}
		}
		for i, k := range ks {
			for _, s := range [][2]int{{1, 5}, {1, 67}, {1, 301}, {2, 9}, {3, 4}, {4, 13}, {5, 8}, {7, 3}, {16, 17}, {33, 6}, {70, 9}} {
				if k >= 1024 && s[0]*s[1] > 200 {
					continue
				}
				cs = append(cs, quantCase{t, s[0], s[1] + i, k})
			}
		}
	}
	// Batches in whole tiles of 16 weight rows: the AMX int8 path for
	// Q8_0, Q4_0, Q6_K and Q4_K (k a multiple of 512) where there is one
	// (quantAMX8; Q4_0, Q6_K and Q4_K rewritten a tile at a time, 80 rows
	// being a band and a tile), including a partial last tile of
	// activation rows and padding to 16.
	return append(cs, quantCase{device.Q8_0, 16, 32, 64}, quantCase{device.Q8_0, 33, 48, 96},
		quantCase{device.Q8_0, 12, 64, 1024}, quantCase{device.Q8_0, 64, 16, 256},
		quantCase{device.Q4_0, 16, 32, 64}, quantCase{device.Q4_0, 33, 80, 96},
		quantCase{device.Q4_0, 12, 64, 1024}, quantCase{device.Q4_0, 64, 16, 256},
		quantCase{device.Q6_K, 16, 32, 256}, quantCase{device.Q6_K, 33, 80, 512},
		quantCase{device.Q6_K, 12, 48, 3072}, quantCase{device.Q6_K, 64, 16, 1024},
		quantCase{device.Q4_K, 16, 32, 512}, quantCase{device.Q4_K, 24, 80, 1024},
		quantCase{device.Q4_K, 12, 48, 3072}, quantCase{device.Q4_K, 32, 16, 2048})
}

func TestLinearQuantIntegerPath(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, opts := range modes(t) {
		d := New(opts)
		amx8 := 0 // cases on the AMX int8 path
		for _, c := range quantCases() {
			if d.quantAMX8(c.t, c.rows, c.n, c.k) {
				amx8++
			}
			raw := randQuantRows(r, c.t, c.n, c.k)
			w, err := d.UploadWeight("w", c.t, []int{c.n, c.k}, raw)
			require.NoError(t, err)
			xs := randFloats(r, c.rows*c.k)
			if c.rows > 1 {
				clear(xs[c.k : c.k+32]) // an all-zero activation block
			}
			out := &buffer{data: make([]float32, c.rows*c.n)}
			require.NoError(t, begin(d, oneSeqBatch(1)))
			d.Linear(out, &buffer{data: xs}, w, c.rows)
			require.NoError(t, d.ReadFloats(nil, out))
			ints, mins, wd, wdmin := quantInts(c.t, raw, c.n, c.k)
			bv := quant.BlockValues(c.t)
			for m := range c.rows {
				xq, xd := refActs(t, c.t, xs[m*c.k:(m+1)*c.k])
				for j := range c.n {
					var want, scale float64
					for b := range c.k / bv {
						wb := j*c.k/bv + b
						// Exact integer sums, and the sums of their
						// terms' magnitudes (the kernels may add the
						// terms of a block in any grouping).
						var si, sm, ai, am float64
						for i := b * bv; i < (b+1)*bv; i++ {
							si += float64(ints[j*c.k+i]) * float64(xq[i])
							ai += math.Abs(float64(ints[j*c.k+i]) * float64(xq[i]))
							if mins != nil {
								sm += float64(-mins[j*c.k+i]) * float64(xq[i])
								am += math.Abs(float64(-mins[j*c.k+i]) * float64(xq[i]))
							}
						}
						want += float64(wd[wb])*float64(xd[b])*si - float64(wdmin[wb])*float64(xd[b])*sm
						scale += math.Abs(float64(wd[wb])*float64(xd[b]))*ai + math.Abs(float64(wdmin[wb])*float64(xd[b]))*am
					}
					// Float32 rounding: a few roundings per block and one
					// per addition of the nb block terms.
					tol := float64(c.k/bv+12) * 0x1p-24 * scale
					got := float64(out.data[m*c.n+j])
					if math.Abs(got-want) > tol {
						t.Fatalf("%s %v rows=%d n=%d k=%d: out[%d][%d] = %v, want %v (tol %v)", d.Name(), c.t, c.rows, c.n, c.k, m, j, got, want, tol)
					}
				}
			}
		}
		if d.amx8 {
			require.Equal(t, 16, amx8, "%s: the Q8_0, Q4_0, Q6_K and Q4_K batches in whole tiles take the AMX int8 path", d.Name())
		}
		d.Close()
	}
}

// refActs quantizes one activation row with core/quant as llama.cpp does
// for weights of type t: the integers and one scale per block.
func refActs(t *testing.T, wt device.DType, x []float32) (q []int8, d []float32) {
	q = make([]int8, len(x))
	if wt == device.Q4_K || wt == device.Q6_K {
		blocks := make([]quant.BlockQ8K, len(x)/256)
		require.NoError(t, quant.QuantizeRowQ8_K(blocks, x))
		for b, blk := range blocks {
			copy(q[b*256:], blk.QS[:])
			d = append(d, blk.D)
		}
		return q, d
	}
	raw := make([]byte, len(x)/32*34)
	require.NoError(t, quant.QuantizeRowQ8_0Activations(raw, x))
	for b := range len(x) / 32 {
		d = append(d, quant.F16ToF32(binary.LittleEndian.Uint16(raw[b*34:])))
		for i := range 32 {
			q[b*32+i] = int8(raw[b*34+2+i])
		}
	}
	return q, d
}

func TestQuantizeActsMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, opts := range modes(t) {
		d := New(opts)
		for _, wt := range []device.DType{device.Q8_0, device.Q4_0, device.Q6_K} {
			for _, layout := range []zactLayout{zactNone, zactPair, zactQuad} {
				if layout != zactNone && wt == device.Q6_K || layout == zactQuad && wt != device.Q4_0 {
					continue
				}
				const rows, k = 3, 1024
				xs := randFloats(r, rows*k)
				for i := range 64 {
					xs[i] = float32(i%5) - 2 // ties: exact halves after scaling
				}
				clear(xs[256:512])
				xs[600] = float32(math.Ldexp(1, -140)) // subnormal
				xs[700] = 1e30
				xs[800], xs[900] = -50, 50 // the first of the largest magnitude sets the sign
				var a qact
				d.quantizeActs(&a, xs, rows, k, wt, layout)
				for m := range rows {
					q, sc := refActs(t, wt, xs[m*k:(m+1)*k])
					require.Equal(t, q, a.xq[m*k:(m+1)*k], "%s %v row %d integers", d.Name(), wt, m)
					require.Equal(t, sc, a.xd[m*len(sc):(m+1)*len(sc)], "%s %v row %d scales", d.Name(), wt, m)
					if wt == device.Q6_K {
						for g := range k / 16 {
							var sum int16
							for _, v := range q[16*g : 16*g+16] {
								sum += int16(v)
							}
							require.Equal(t, sum, a.bs[m*k/16+g], "%s row %d group sum %d", d.Name(), m, g)
						}
					}
					if layout == zactNone {
						continue
					}
					// Where block b's value i, its starting lanes and its
					// scale lanes are (byte offsets in the row), and the
					// lanes' constant: each block's lanes start from
					// -c·Σx, which adds up to the weights' offset times
					// Σx (8 for Q4_0, 128 for Q8_0 as w + 128).
					per, lanes, c := k/64*192, 8, int32(16)
					at := func(b, i int) int { return b/2*192 + 32*(b%2) + i }
					start := func(b, l int) int { return b/2*192 + 64 + 32*(b%2) + 4*l }
					scale := func(b, l int) int { return start(b, l) + 64 }
					if wt == device.Q4_0 {
						c = 1
					}
					if layout == zactQuad {
						per, lanes, c = k/128*256, 4, 2
						at = func(b, i int) int { return b/4*256 + 64*(i/16) + 16*(b%4) + i%16 }
						start = func(b, l int) int { return b/4*256 + 128 + 16*(b%4) + 4*l }
						scale = func(b, l int) int { return start(b, l) + 64 }
					}
					za := a.za[m*per : (m+1)*per]
					for b := range k / 32 {
						var sum int32
						for i := range 32 {
							require.Equal(t, byte(q[b*32+i]), za[at(b, i)], "%s %v block %d value %d", d.Name(), layout, b, i)
							sum += int32(q[b*32+i])
						}
						for l := range lanes {
							require.Equal(t, uint32(-c*sum), binary.LittleEndian.Uint32(za[start(b, l):]), "lane")
							require.Equal(t, math.Float32bits(sc[b]), binary.LittleEndian.Uint32(za[scale(b, l):]), "scale")
						}
					}
				}
			}
		}
		d.Close()
	}
}

func TestLinearQuantFloatPath(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, opts := range modes(t) {
		opts.QuantFloat = true
		d := New(opts)
		for _, c := range quantCases() {
			raw := randQuantRows(r, c.t, c.n, c.k)
			w, err := d.UploadWeight("w", c.t, []int{c.n, c.k}, raw)
			require.NoError(t, err)
			xs := randFloats(r, c.rows*c.k)
			out := &buffer{data: make([]float32, c.rows*c.n)}
			require.NoError(t, begin(d, oneSeqBatch(1)))
			d.Linear(out, &buffer{data: xs}, w, c.rows)
			require.NoError(t, d.ReadFloats(nil, out))
			deq := make([]float32, c.n*c.k)
			require.NoError(t, quant.Dequantize(c.t, deq, raw))
			ints, mins, wd, wdmin := quantInts(c.t, raw, c.n, c.k)
			bv := quant.BlockValues(c.t)
			for m := range c.rows {
				for j := range c.n {
					var want, scale float64
					for i := range c.k {
						x := float64(xs[m*c.k+i])
						want += float64(deq[j*c.k+i]) * x
						b := (j*c.k + i) / bv
						scale += math.Abs(float64(wd[b])*float64(ints[j*c.k+i])*x) + math.Abs(float64(wdmin[b])*x*float64(sliceAt(mins, j*c.k+i)))
					}
					tol := float64(c.k/16+40) * 0x1p-24 * scale
					got := float64(out.data[m*c.n+j])
					if math.Abs(got-want) > tol {
						t.Fatalf("%s %v rows=%d n=%d k=%d: out[%d][%d] = %v, want %v (tol %v)", d.Name(), c.t, c.rows, c.n, c.k, m, j, got, want, tol)
					}
				}
			}
		}
		d.Close()
	}
}

func sliceAt(s []float32, i int) float32 {
	if s == nil {
		return 0
	}
	return s[i]
}

func TestEmbedQuantizedMatchesDequantize(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	d := New(Options{})
	defer d.Close()
	for _, dt := range []device.DType{device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K} {
		const vocab, hidden = 9, 512
		raw := randQuantRows(r, dt, vocab, hidden)
		w, err := d.UploadWeight("embed", dt, []int{vocab, hidden}, raw)
		require.NoError(t, err)
		want := make([]float32, vocab*hidden)
		require.NoError(t, quant.Dequantize(dt, want, raw))
		var b = oneSeqBatch(3)
		b.TokenIDs = []int32{4, 0, 8}
		require.NoError(t, begin(d, b))
		out := &buffer{data: make([]float32, 3*hidden)}
		d.Embed(out, w)
		require.NoError(t, d.ReadFloats(nil, out))
		for i, id := range b.TokenIDs {
			require.Equal(t, math32bits(want[int(id)*hidden:(int(id)+1)*hidden]), math32bits(out.data[i*hidden:(i+1)*hidden]), "%v row %d", dt, id)
		}
	}
}

// math32bits returns the bit patterns (so NaN compares equal to itself).
func math32bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, f := range v {
		out[i] = math.Float32bits(f)
	}
	return out
}

func TestUploadQuantizedWeightErrors(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	for _, c := range []struct {
		dt    device.DType
		shape []int
		bytes int
		want  string
	}{
		{device.Q8_0, []int{2, 48}, 2 * 34, "not whole"},
		{device.Q8_0, []int{2, 64}, 3 * 34, "bytes"},
		{device.Q4_0, []int{64}, 36, "matrix"},
		{device.Q6_K, []int{3, 256}, 2 * 210, "bytes"},
		{device.Q4_K, []int{1, 128}, 144, "not whole"},
	} {
		_, err := d.UploadWeight("w", c.dt, c.shape, make([]byte, c.bytes))
		require.ErrorContains(t, err, c.want, fmt.Sprint(c))
	}
	w, err := d.UploadWeight("w", device.Q4_0, []int{2, 64}, make([]byte, 4*18))
	require.NoError(t, err)
	require.Equal(t, []int{2, 64}, w.Shape())
}

// TestLinearQuantReusesActivationsOnlyWhenUnchanged runs two matmuls on one
// input buffer, rewritten in place between them (as a model reuses its
// buffers), and the same input twice: each result must be that of a fresh
// device.
func TestLinearQuantReusesActivationsOnlyWhenUnchanged(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const k = 1024
	// rows 16 with Q8_0 takes the AMX int8 path where there is one, whose
	// packed activations follow the quantized ones.
	for _, s := range []struct{ n, rows int }{{8, 2}, {16, 16}} {
		n, rows := s.n, s.rows
		for _, opts := range modes(t) {
			for _, dt := range []device.DType{device.Q8_0, device.Q4_0, device.Q6_K} {
				raw := randQuantRows(r, dt, n, k)
				x := &buffer{data: randFloats(r, rows*k)}
				d := New(opts)
				w, err := d.UploadWeight("w", dt, []int{n, k}, raw)
				require.NoError(t, err)
				require.NoError(t, begin(d, oneSeqBatch(1)))
				out1 := &buffer{data: make([]float32, rows*n)}
				d.Linear(out1, x, w, rows)
				copy(x.data[k:], randFloats(r, k)) // new values in the second row
				out2 := &buffer{data: make([]float32, rows*n)}
				d.Linear(out2, x, w, rows)
				out3 := &buffer{data: make([]float32, rows*n)}
				d.Linear(out3, x, w, rows)
				require.NoError(t, d.ReadFloats(nil, out3))
				d.Close()

				fresh := New(opts)
				fw, err := fresh.UploadWeight("w", dt, []int{n, k}, raw)
				require.NoError(t, err)
				require.NoError(t, begin(fresh, oneSeqBatch(1)))
				want := &buffer{data: make([]float32, rows*n)}
				fresh.Linear(want, x, fw, rows)
				require.NoError(t, fresh.ReadFloats(nil, want))
				fresh.Close()
				require.Equal(t, want.data, out2.data, "%v rows=%d: after the input changed", dt, rows)
				require.Equal(t, want.data, out3.data, "%v rows=%d: the same input again", dt, rows)
				require.NotEqual(t, out1.data[n:2*n], out2.data[n:2*n], "%v: the change must show", dt)
			}
		}
	}
}
