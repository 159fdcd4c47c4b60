package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// constModel returns the same full-vocabulary row for every request, at no
// cost, so that a benchmark measures the engine's own work per step:
// scheduling, sampling, stop checks and bookkeeping.
type constModel struct {
	row []float32
	out []float32
}

func (m *constModel) VocabSize() int                     { return len(m.row) }
func (m *constModel) KVBytesPerToken() int64             { return 1 }
func (m *constModel) NewKVCache(numBlocks, bs int) error { return nil }
func (m *constModel) Forward(b *step.Step) ([]float32, error) {
	m.out = m.out[:0]
	for range b.LogitsRows {
		m.out = append(m.out, m.row...)
	}
	return m.out, nil
}

// BenchmarkDecodeStep measures one engine step of 64 decoding requests
// with Qwen3's vocabulary and default sampling (temperature 0.6, top-k 20,
// top-p 0.95), sampling on one goroutine and on GOMAXPROCS of them.
func BenchmarkDecodeStep(b *testing.B) {
	const vocab, batch = 151936, 64
	rng := rand.New(rand.NewPCG(1, 1))
	row := make([]float32, vocab)
	for i := range row {
		row[i] = float32(rng.NormFloat64() * 3)
	}
	for _, procs := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			e, err := New(&constModel{row: row}, nil, Config{
				Cache:     block.Config{BlockSize: 16, NumBlocks: 4096, PrefixCaching: true},
				Scheduler: scheduler.Config{MaxSeqs: batch, MaxBatchedTokens: 2048, MaxModelLen: 1 << 20},
				Seeds:     rand.NewPCG(2, 2),
			})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for i := range batch {
				if _, err := e.AddRequest(ctx, Request{PromptIDs: []int32{int32(i)},
					Params: sampler.Params{Temperature: 0.6, TopK: 20, TopP: 0.95, IgnoreEOS: true}}); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := e.Step(ctx); err != nil { // prefill
				b.Fatal(err)
			}
			for b.Loop() {
				outs, err := e.Step(ctx)
				if err != nil || len(outs) != batch {
					b.Fatal(err, len(outs))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/batch, "µs/request")
		})
	}
}
