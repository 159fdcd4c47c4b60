package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/stretchr/testify/require"
)

// TestDequantBF16 checks the bf16 dequantizers of the AMX path: the Go one
// against core/quant.Dequantize rounded to bf16 by nearestBF16Float64, and
// the AVX-512 one bit for bit against the Go one, on random blocks with
// zero, subnormal and ±65504 scales (randQuantRows) and whole zero blocks.
func TestDequantBF16(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, dt := range []device.DType{device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K} {
		ks, dOff := []int{32, 96, 1024}, 0
		switch dt {
		case device.Q6_K:
			ks, dOff = []int{256, 1024}, q6_KBytes-2
		case device.Q4_K:
			ks = []int{256, 1024}
		}
		for _, k := range ks {
			rows := 9
			raw := randQuantRows(r, dt, rows, k)
			// A negative largest scale too.
			raw[dOff+1] = 0xfb
			f := make([]float32, rows*k)
			require.NoError(t, quant.Dequantize(dt, f, raw))
			want := make([]uint16, rows*k)
			for i, v := range f {
				want[i] = nearestBF16Float64(v)
			}
			got := make([]uint16, rows*k)
			dequantBF16(dt, got, raw)
			require.Equal(t, want, got, "Go %v k=%d", dt, k)
			if !haveAVX512() || !enableAMX() {
				continue
			}
			simd := make([]uint16, rows*k+1)
			simd[rows*k] = 0xdead
			require.True(t, simdDequantBF16(isaAVX512, dt, simd[:rows*k], raw))
			require.Equal(t, want, simd[:rows*k], "AVX-512 %v k=%d", dt, k)
			require.Equal(t, uint16(0xdead), simd[rows*k], "AVX-512 %v wrote past the end", dt)
		}
	}
}

// TestLinearQuantAMX runs quantized matmuls on the AMX path (rows >= 10,
// n and k multiples of 32) and compares them with the float64 dot product
// of the activations and the weights dequantized by core/quant and rounded
// to the nearest bf16, within float32 rounding: for PrecisionFloat32 with
// the activations cut to their top 16 significant bits (two bf16 parts:
// linearAMX), for PrecisionBF16 rounded to bf16.
func TestLinearQuantAMX(t *testing.T) {
	if !haveAVX512() || !enableAMX() {
		t.Skip("no AMX")
	}
	r := rand.New(rand.NewPCG(23, 24))
	type shape struct{ rows, n, k int }
	shapes := []shape{
		{10, 64, 96}, {11, 96, 1024}, {12, 32, 32}, {13, 64, 96}, {16, 96, 160}, {17, 32, 1024}, {31, 160, 96},
		{33, 64, 3072}, {45, 288, 32}, {64, 96, 224}, {70, 64, 1024}, {12, 192, 3072},
	}
	for _, prec := range []Precision{PrecisionFloat32, PrecisionBF16} {
		for _, threads := range []int{1, 3} {
			d := New(Options{Precision: prec, Threads: threads})
			require.True(t, d.amx)
			// Q8_0 batches take the int8 tiles where the CPU has them
			// (quant_amx8.go, tested with the integer path); the bf16
			// path remains for CPUs without AMX-INT8 and, with Q6_K (k a
			// multiple of 256), for batches over 64 rows; Q4_K batches
			// always take it.
			d.amx8 = false
			for _, dt := range []device.DType{device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K} {
				dtShapes := shapes
				if dt == device.Q6_K || dt == device.Q4_K {
					dtShapes = []shape{{10, 64, 256}, {17, 32, 1024}, {33, 64, 3072}, {65, 96, 512}, {70, 32, 256}}
				}
				for _, s := range dtShapes {
					require.True(t, d.quantAMX(dt, s.rows, s.n, s.k), "%v %+v takes the AMX path", dt, s)
					raw := randQuantRows(r, dt, s.n, s.k)
					w, err := d.UploadWeight("w", dt, []int{s.n, s.k}, raw)
					require.NoError(t, err)
					wf := make([]float32, s.n*s.k)
					require.NoError(t, quant.Dequantize(dt, wf, raw))
					for i, v := range wf {
						wf[i] = bf16ToF32(nearestBF16Float64(v))
					}
					xs := randFloats(r, s.rows*s.k)
					out := &buffer{data: make([]float32, s.rows*s.n)}
					require.NoError(t, begin(d, oneSeqBatch(1)))
					d.Linear(out, &buffer{data: xs}, w, s.rows)
					require.NoError(t, d.ReadFloats(nil, out))
					for m := range s.rows {
						for j := range s.n {
							var want, scale float64
							for i := range s.k {
								x := xs[m*s.k+i]
								if prec == PrecisionBF16 {
									x = bf16ToF32(nearestBF16Float64(x))
								} else {
									// Two truncated bf16 parts, hi + mid:
									// the top 16 significant bits.
									hi := math.Float32frombits(math.Float32bits(x) &^ 0xffff)
									x = hi + math.Float32frombits(math.Float32bits(x-hi)&^0xffff)
								}
								p := float64(x) * float64(wf[j*s.k+i])
								want += p
								scale += math.Abs(p)
							}
							got := float64(out.data[m*s.n+j])
							if tol := float64(s.k/32+8) * 0x1p-24 * scale; math.Abs(got-want) > tol {
								t.Fatalf("%s %v %+v: out[%d][%d] = %v, want %v (tol %v)", d.Name(), dt, s, m, j, got, want, tol)
							}
						}
					}
				}
			}
			d.Close()
		}
	}
}

// TestQ40Int8 checks the Q4_0 tile rewrites of the AMX int8 path,
// q40int8 and the AVX512-VBMI q40int8v, byte for byte against the block
// layout (value j of a block: low nibble of byte j less 8, value j+16: its
// high nibble less 8; the scale widened from fp16 exactly), on random
// blocks with zero, subnormal and ±65504 scales (randQuantRows).
func TestQ40Int8(t *testing.T) {
	if !New(Options{}).amx8 {
		t.Skip("no AMX int8 path on this machine")
	}
	r := rand.New(rand.NewPCG(9, 10))
	for _, nb := range []int{1, 3, 4, 8, 32, 96} {
		raw := randQuantRows(r, device.Q4_0, amx8Tile, nb*qk32)
		wantQ := make([]byte, amx8Tile*nb*qk32)
		wantD := make([]float32, amx8Tile*nb)
		for i := range amx8Tile {
			for b := range nb {
				blk := raw[(i*nb+b)*q4_0Bytes:]
				wantD[b*amx8Tile+i] = f16ToF32(uint16(blk[0]) | uint16(blk[1])<<8)
				for j := range 16 {
					wantQ[(i*nb+b)*qk32+j] = byte(int8(blk[2+j]&0xF) - 8)
					wantQ[(i*nb+b)*qk32+j+16] = byte(int8(blk[2+j]>>4) - 8)
				}
			}
		}
		kernels := map[string]func(q []byte, d []float32){
			"q40int8": func(q []byte, d []float32) { q40int8(&q[0], &d[0], &raw[0], nb) },
		}
		if haveAVX512VBMI() && nb%4 == 0 {
			tab := newQ40Tables()
			kernels["q40int8v"] = func(q []byte, d []float32) { q40int8v(&q[0], &d[0], &raw[0], nb, tab) }
		}
		for name, kernel := range kernels {
			q, d := make([]byte, len(wantQ)), make([]float32, len(wantD))
			kernel(q, d)
			require.Equal(t, wantQ, q, "%s nb=%d: int8 values", name, nb)
			for i := range d {
				require.Equal(t, math.Float32bits(wantD[i]), math.Float32bits(d[i]), "%s nb=%d: scale %d", name, nb, i)
			}
		}
	}
}
