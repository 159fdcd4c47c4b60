//go:build js && wasm

package webgpu

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

var quantRounds = flag.Int("quantrounds", 3, "alternated rounds of the quantized benchmarks")

// median returns the median of v (the mean of the middle two for an even
// count).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// BenchmarkQuantKernels times the decode matmul (1 row, Qwen3-0.6B's
// 1024 -> 3072 up projection) with bf16 weights and with each block format,
// the formats alternated within each round, and reports each one's median
// time and weight bytes against bf16's.
func BenchmarkQuantKernels(b *testing.B) {
	d := newGPU(b, Options{})
	r := rand.New(rand.NewPCG(41, 42))
	const H, I = 1024, 3072
	x, err := d.NewBuffer(H)
	require.NoError(b, err)
	y, err := d.NewBuffer(I)
	require.NoError(b, err)
	types := []device.DType{device.BF16, device.Q8_0, device.Q4_0, device.Q4_K, device.Q6_K}
	ws := make([]*Weight, len(types))
	for i, dt := range types {
		data := randBF16(r, I*H, 0.02)
		if dt != device.BF16 {
			data = randQuant(b, r, dt, I, H)
		}
		w, err := d.UploadWeight("up", dt, []int{I, H}, data)
		require.NoError(b, err)
		ws[i] = w.(*Weight)
	}
	require.NoError(b, beginScratch(d, seqBatch(16, [][2]int{{0, 1}})))
	times := make([][]float64, len(types))
	for it := 0; it < b.N; it++ {
		for round := range *quantRounds {
			for k := range types {
				i := (k + round) % len(types) // a different order each round
				d.Linear(y, x, ws[i], 1)      // compile, bind
				require.NoError(b, d.ReadFloats(nil, y))
				start := time.Now()
				for range perFlush {
					d.Linear(y, x, ws[i], 1)
				}
				require.NoError(b, d.ReadFloats(nil, y))
				times[i] = append(times[i], time.Since(start).Seconds()/perFlush)
			}
		}
	}
	base := median(times[0])
	for i, dt := range types {
		m := median(times[i])
		b.Logf("%s 1x%dx%d (%s kernels): median %.2f ms/call over %d, %.2fx bf16's time, %d weight bytes (%.2fx fewer)",
			dt, H, I, map[bool]string{true: "thread", false: "coop"}[d.threadKernels], m*1e3, len(times[i]), m/base, ws[i].Bytes(), float64(ws[0].Bytes())/float64(ws[i].Bytes()))
		b.ReportMetric(m*1e3, dt.String()+"-ms/call")
	}
}

// BenchmarkQuantModel times decode steps of the Qwen3-0.6B architecture
// (-layers of its 28, random weights, the tied 151936x1024 embedding and LM
// head in full) loaded as bf16, and quantized on load to Q8_0 and to Q4_0,
// all three on one device, alternated step by step over -quantrounds rounds,
// and reports each one's median step time and the weight bytes one decode
// step reads (Stats.WeightBytes), against bf16's.
func BenchmarkQuantModel(b *testing.B) {
	cfg := qwen3.Qwen3_0_6B
	cfg.NumHiddenLayers = *benchLayers
	d := newGPU(b, Options{})
	tensors, shapes := qwen3.RandomTensors(cfg)
	types := []device.DType{device.BF16, device.Q8_0, device.Q4_0}
	models := make([]*qwen3.Model, len(types))
	for i, dt := range types {
		q := device.F32 // as stored: bf16
		if dt != device.BF16 {
			q = dt
		}
		m, err := qwen3.LoadFrom(cfg, tensorFunc(tensors, shapes), d, qwen3.Options{Quantize: q})
		require.NoError(b, err)
		require.NoError(b, m.NewKVCache(8, 16))
		models[i] = m
	}
	b.Logf("model: Qwen3-0.6B shape, %d of 28 layers, random weights, %s", cfg.NumHiddenLayers, d.Name())
	prompt := []int32{1, 2, 3, 4, 5, 6, 7, 8}
	pos := make([]int, len(types))
	for i, m := range models {
		_, err := m.ForwardArgmax(blockBatch(0, []int{0}, []int{len(prompt)}))
		require.NoError(b, err)
		pos[i] = len(prompt)
	}
	times := make([][]float64, len(types))
	bytes := make([]int64, len(types))
	for it := 0; it < b.N; it++ {
		for round := range *quantRounds {
			for k := range types {
				i := (k + round) % len(types)
				before := d.Stats().WeightBytes
				start := time.Now()
				_, err := models[i].ForwardArgmax(blockBatch(0, []int{pos[i]}, []int{1}))
				require.NoError(b, err)
				times[i] = append(times[i], time.Since(start).Seconds())
				bytes[i] = d.Stats().WeightBytes - before
				pos[i]++
				if pos[i] == 8*16 {
					pos[i] = len(prompt) // reuse the cache: the cost does not depend on the tokens
				}
			}
		}
	}
	base := median(times[0])
	for i, dt := range types {
		m := median(times[i])
		b.Logf("%s: decode step median %.0f ms over %d (%.2fx bf16's time), %.1f MB of weights read (%.2fx fewer)",
			dt, m*1e3, len(times[i]), m/base, float64(bytes[i])/1e6, float64(bytes[0])/float64(bytes[i]))
		b.ReportMetric(m*1e3, dt.String()+"-ms/step")
		b.ReportMetric(float64(bytes[i])/1e6, dt.String()+"-MB/step")
	}
}

// BenchmarkQuantSubgroups times the coop decode gemv of quantized weights
// in its two forms, linear_q_sg (partial sums added with subgroupAdd) and
// linear_q (added through workgroup memory), on two devices of the same
// adapter, one opened with NoSubgroups: Qwen3-0.6B's 1024 -> 3072 up
// projection for 1 and 8 rows, each block format, the two forms
// alternated within each of -quantrounds rounds. It reports each one's
// median time and the subgroup form's time over the portable one's. It is
// skipped where the adapter has no subgroups.
func BenchmarkQuantSubgroups(b *testing.B) {
	sg := newGPU(b, Options{Kernels: "coop"})
	if !sg.subgroups {
		b.Skipf("%s offers no subgroups", sg.Name())
	}
	devs := []*Device{newGPU(b, Options{Kernels: "coop", NoSubgroups: true}), sg}
	r := rand.New(rand.NewPCG(43, 44))
	const H, I = 1024, 3072
	for _, rows := range []int{1, shaders.GemvRows} {
		for _, dt := range quantDTypes {
			data := randQuant(b, r, dt, I, H)
			var xs, ys [2]device.Buffer
			var ws [2]device.Weight
			for i, d := range devs {
				var err error
				xs[i], err = d.NewBuffer(rows * H)
				require.NoError(b, err)
				ys[i], err = d.NewBuffer(rows * I)
				require.NoError(b, err)
				ws[i], err = d.UploadWeight("up", dt, []int{I, H}, data)
				require.NoError(b, err)
				require.NoError(b, beginScratch(d, seqBatch(16, [][2]int{{0, rows}})))
			}
			var times [2][]float64
			for it := 0; it < b.N; it++ {
				for round := range *quantRounds {
					for k := range devs {
						i := (k + round) % len(devs) // a different order each round
						d := devs[i]
						d.Linear(ys[i], xs[i], ws[i], rows) // compile, bind
						require.NoError(b, d.ReadFloats(nil, ys[i]))
						start := time.Now()
						for range perFlush {
							d.Linear(ys[i], xs[i], ws[i], rows)
						}
						require.NoError(b, d.ReadFloats(nil, ys[i]))
						times[i] = append(times[i], time.Since(start).Seconds()/perFlush)
					}
				}
			}
			port, sub := median(times[0]), median(times[1])
			b.Logf("%s %dx%dx%d coop gemv (%s): portable %.2f ms/call, subgroups %.2f ms/call, %.2fx the portable time (medians of %d alternated rounds)",
				dt, rows, H, I, sg.Name(), port*1e3, sub*1e3, sub/port, len(times[0]))
			b.ReportMetric(sub/port, fmt.Sprintf("%s-%drows-sg/portable", dt, rows))
		}
	}
}
