package scheduler

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// decodingScheduler returns a scheduler with n sequences of promptLen
// tokens, all prefilled and decoding. The prompts share nothing.
func decodingScheduler(b *testing.B, n, promptLen int) *Scheduler {
	cfg := Config{MaxSeqs: n, MaxBatchedTokens: 8192, MaxModelLen: 4096}
	s := newScheduler(b, cfg, n*(promptLen+1024)/16, 16)
	for i := range n {
		add(b, s, uint64(i+1), span(i*promptLen, promptLen))
	}
	sampled := make([]int32, n)
	for s.Stats().Running < n || s.out.NumTokens() != n {
		bt := s.Schedule()
		require.NoError(b, s.Postprocess(bt, sampled[:len(bt.Step.LogitsRows)]))
		s.Schedule()
	}
	return s
}

// BenchmarkScheduleDecode256 is one Schedule of 256 decoding sequences of
// about 500 tokens (32 blocks each). Scheduling again without Postprocess
// rebuilds the same step, so every iteration does the full work.
func BenchmarkScheduleDecode256(b *testing.B) {
	s := decodingScheduler(b, 256, 500)
	b.ReportAllocs()
	for b.Loop() {
		bt := s.Schedule()
		if bt.NumTokens() != 256 {
			b.Fatalf("%d tokens scheduled", bt.NumTokens())
		}
	}
}

// BenchmarkStepDecode256 is a whole decode step as the engine sees it:
// Schedule then Postprocess of 256 sequences, which grow by a token each
// step (and now and then fill a block that joins the prefix cache).
func BenchmarkStepDecode256(b *testing.B) {
	s := decodingScheduler(b, 256, 500)
	sampled := make([]int32, 256)
	steps := 0
	b.ReportAllocs()
	for b.Loop() {
		if steps == 512 {
			// Keep sequences from outgrowing the pool: start them over.
			b.StopTimer()
			s = decodingScheduler(b, 256, 500)
			steps = 0
			b.StartTimer()
		}
		bt := s.Schedule()
		for i := range sampled {
			sampled[i] = int32(steps + i)
		}
		if err := s.Postprocess(bt, sampled); err != nil {
			b.Fatal(err)
		}
		steps++
	}
}

// BenchmarkBatchCopyFloor256 is the floor for BenchmarkScheduleDecode256 on
// the same machine: only the copying any scheduler must do to produce that
// batch (each sequence's last token and its padded block table). Compare
// the two as a ratio; absolute times move with machine load.
func BenchmarkBatchCopyFloor256(b *testing.B) {
	s := decodingScheduler(b, 256, 500)
	seqs := append([]*sequence.Sequence(nil), s.running...)
	stride := 0
	for _, seq := range seqs {
		stride = max(stride, seq.Blocks.Len())
	}
	tokens := make([]int32, 0, len(seqs))
	tables := make([]int32, len(seqs)*stride)
	for b.Loop() {
		tokens = tokens[:0]
		for i, seq := range seqs {
			tokens = append(tokens, seq.LastToken())
			row := tables[i*stride : (i+1)*stride]
			n := copy(row, seq.Blocks.Blocks())
			for j := n; j < stride; j++ {
				row[j] = -1
			}
		}
	}
}
