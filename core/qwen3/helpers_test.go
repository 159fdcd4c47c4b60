package qwen3

import (
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/stretchr/testify/require"
)

// testSeq is a sequence as these tests track it without the scheduler: its
// tokens, the KV blocks it holds, and how many tokens are in the cache.
type testSeq struct {
	tokens   []int32
	blocks   []int32
	computed int
}

func newTestSeq(prompt []int32) *testSeq {
	return &testSeq{tokens: append([]int32(nil), prompt...)}
}

// allocator hands out KV blocks of a model's cache, never reusing one, so a
// test can also share blocks between sequences on purpose.
type allocator struct {
	blockSize, numBlocks int
	next                 int32
}

func newAllocator(m *Model) *allocator {
	spec := m.cache.Spec()
	return &allocator{blockSize: spec.BlockSize, numBlocks: spec.NumBlocks}
}

// part is one sequence's share of a step: compute its next n tokens; with
// logits, return the last one's logits (allLogits: every one's).
type part struct {
	seq       *testSeq
	n         int
	logits    bool
	allLogits bool
}

// batch builds the step for parts with a step.Builder, allocating blocks as
// the sequences grow, and marks the tokens computed.
func (a *allocator) batch(parts []part) *step.Step {
	var b step.Builder
	b.Reset(a.blockSize, 0)
	for _, p := range parts {
		s := p.seq
		end := s.computed + p.n
		for len(s.blocks)*a.blockSize < end {
			if int(a.next) >= a.numBlocks {
				panic("test allocator: out of KV blocks")
			}
			s.blocks = append(s.blocks, a.next)
			a.next++
		}
		logits := 0
		switch {
		case p.allLogits:
			logits = p.n
		case p.logits:
			logits = 1
		}
		b.Add(s.tokens, s.computed, end, s.blocks, logits)
		s.computed = end
	}
	return b.Step()
}

// greedyRun generates steps tokens for every prompt, all in the same
// batches: each prompt is prefilled in chunks of at most chunk tokens, the
// i-th prompt joining at step i*stagger, so prefill chunks and decodes mix.
func greedyRun(t testing.TB, m *Model, prompts [][]int32, steps, chunk, stagger int) [][]int32 {
	t.Helper()
	a := newAllocator(m)
	seqs := make([]*testSeq, len(prompts))
	for i, p := range prompts {
		seqs[i] = newTestSeq(p)
	}
	out := make([][]int32, len(prompts))
	for step := 0; ; step++ {
		var parts []part
		var owners []int
		for i, s := range seqs {
			if step < i*stagger || len(out[i]) == steps {
				continue
			}
			n := min(chunk, len(s.tokens)-s.computed)
			parts = append(parts, part{seq: s, n: n, logits: s.computed+n == len(s.tokens)})
			owners = append(owners, i)
		}
		if len(parts) == 0 {
			if step > len(prompts)*stagger {
				return out
			}
			continue
		}
		b := a.batch(parts)
		ids, err := m.ForwardArgmax(b)
		require.NoError(t, err)
		require.Len(t, ids, len(b.LogitsRows))
		for k, si := range b.LogitsSeqs {
			i := owners[si]
			out[i] = append(out[i], ids[k])
			seqs[i].tokens = append(seqs[i].tokens, ids[k])
		}
	}
}
