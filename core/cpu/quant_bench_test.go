package cpu

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
)

// benchQuantWeight returns an n×k weight of type t filled with random
// blocks whose fp16 scales are ordinary numbers (random bytes would give
// some inf/NaN and subnormal scales, which slow float arithmetic down).
func benchQuantWeight(b *testing.B, d *Device, r *rand.Rand, t device.DType, n, k int) device.Weight {
	size, err := quant.Bytes(t, n, k)
	if err != nil {
		b.Fatal(err)
	}
	raw := make([]byte, size)
	for i := 0; i+8 <= len(raw); i += 8 {
		binary.LittleEndian.PutUint64(raw[i:], r.Uint64())
	}
	bb := quant.BlockBytes(t)
	off := map[device.DType][]int{device.Q8_0: {0}, device.Q4_0: {0}, device.Q4_K: {0, 2}, device.Q6_K: {208}}[t]
	for blk := 0; blk < len(raw); blk += bb {
		for _, o := range off {
			binary.LittleEndian.PutUint16(raw[blk+o:], 0x2000+uint16(r.IntN(0x400))) // about 0.01
		}
	}
	w, err := d.UploadWeight("w", t, []int{n, k}, raw)
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// qwen06Shapes are Qwen3-0.6B's matmuls per layer (n, k) and the lm_head.
var qwen06Shapes = []struct {
	name string
	n, k int
}{
	{"q", 2048, 1024}, {"k", 1024, 1024}, {"v", 1024, 1024}, {"o", 1024, 2048},
	{"gate", 3072, 1024}, {"up", 3072, 1024}, {"down", 1024, 3072},
}

// BenchmarkQuantGEMV measures batch-1 matmuls at Qwen3-0.6B's shapes on
// the device's threads, each weight 28 times over (one copy per layer, as
// in the model, so that it streams from memory), and the lm_head; GB/s is
// weight bytes read per second, to compare with BenchmarkReadBandwidth.
func BenchmarkQuantGEMV(b *testing.B) {
	for _, t := range []device.DType{device.Q8_0, device.Q4_0, device.Q6_K, device.Q4_K} {
		for _, s := range append(qwen06Shapes, struct {
			name string
			n, k int
		}{"lm_head", 151936, 1024}) {
			b.Run(fmt.Sprintf("%v/%s", t, s.name), func(b *testing.B) {
				benchQuantLinear(b, t, s.n, s.k, 1, Options{})
			})
		}
	}
}

// BenchmarkQuantGEMM is BenchmarkQuantGEMV for batched decode and prefill
// (rows activation rows), GFLOP/s.
func BenchmarkQuantGEMM(b *testing.B) {
	for _, t := range []device.DType{device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K} {
		for _, rows := range []int{16, 64, 512} {
			b.Run(fmt.Sprintf("%v/rows=%d/gate", t, rows), func(b *testing.B) {
				benchQuantLinear(b, t, 3072, 1024, rows, Options{})
			})
		}
	}
}

func benchQuantLinear(b *testing.B, t device.DType, n, k, rows int, opts Options) {
	r := rand.New(rand.NewPCG(1, 2))
	d := New(opts)
	defer d.Close()
	copies := 1
	if rows == 1 && n < 100000 {
		copies = 28
	}
	ws := make([]device.Weight, copies)
	for i := range ws {
		ws[i] = benchQuantWeight(b, d, r, t, n, k)
	}
	x := &buffer{data: randFloats(r, rows*k)}
	out := &buffer{data: make([]float32, rows*n)}
	if err := begin(d, oneSeqBatch(1)); err != nil {
		b.Fatal(err)
	}
	bytes, _ := quant.Bytes(t, n, k)
	b.ResetTimer()
	for i := range b.N {
		d.Linear(out, x, ws[i%copies], rows)
	}
	if d.err != nil {
		b.Fatal(d.err)
	}
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
	b.ReportMetric(2*float64(rows*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkQuantDecodeMatmuls times the matmuls of one Qwen3-0.6B decode
// step (all 28 layers' projections and the lm_head) at batch 1, 16 and 64
// for the weight formats of llama.cpp's files: all Q8_0, Q4_0 with the
// tied embedding / lm_head in Q6_K, and Q4_K with a Q6_K lm_head (close to
// Q4_K_M, which also keeps some v and down projections in Q6_K). tok/s is the step rate times the batch:
// an upper bound of the whole model's decode speed (attention, norms and
// the rest come on top).
func BenchmarkQuantDecodeMatmuls(b *testing.B) {
	for _, f := range []struct {
		name        string
		layer, head device.DType
	}{{"q8_0", device.Q8_0, device.Q8_0}, {"q4_0", device.Q4_0, device.Q6_K}, {"q4_k", device.Q4_K, device.Q6_K}} {
		for _, c := range []struct {
			rows  int
			float bool
		}{{1, false}, {1, true}, {16, false}, {64, false}} {
			rows := c.rows
			path := "int"
			if c.float {
				path = "float"
			}
			b.Run(fmt.Sprintf("%s/batch=%d/%s", f.name, rows, path), func(b *testing.B) {
				r := rand.New(rand.NewPCG(3, 4))
				d := New(Options{QuantFloat: c.float})
				defer d.Close()
				var ws []device.Weight
				total := 0
				for range 28 {
					for _, s := range qwen06Shapes {
						ws = append(ws, benchQuantWeight(b, d, r, f.layer, s.n, s.k))
						nb, _ := quant.Bytes(f.layer, s.n, s.k)
						total += nb
					}
				}
				head := benchQuantWeight(b, d, r, f.head, 151936, 1024)
				hb, _ := quant.Bytes(f.head, 151936, 1024)
				total += hb
				// Distinct inputs as in the model: q, k and v share one,
				// gate and up another; o, down and the lm_head have their own.
				attnIn, mlpIn, headIn := &buffer{data: randFloats(r, rows*1024)}, &buffer{data: randFloats(r, rows*1024)}, &buffer{data: randFloats(r, rows*1024)}
				oIn, downIn := &buffer{data: randFloats(r, rows*2048)}, &buffer{data: randFloats(r, rows*3072)}
				in := []*buffer{attnIn, attnIn, attnIn, oIn, mlpIn, mlpIn, downIn}
				out := &buffer{data: make([]float32, rows*151936)}
				if err := begin(d, oneSeqBatch(1)); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					for i, w := range ws {
						d.Linear(out, in[i%len(in)], w, rows)
					}
					d.Linear(out, headIn, head, rows)
				}
				if d.err != nil {
					b.Fatal(d.err)
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(float64(rows)/sec, "tok/s")
				b.ReportMetric(float64(total)/sec/1e9, "GB/s")
			})
		}
	}
}
