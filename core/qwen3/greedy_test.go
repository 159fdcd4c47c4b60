package qwen3

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const greedySteps = 24

func prompts(ref *reference) [][]int32 {
	out := make([][]int32, len(ref.Cases))
	for i, c := range ref.Cases {
		out[i] = c.Prompt
	}
	return out
}

// TestGreedy checks the 24-token greedy continuation of every prompt against
// transformers' generate, however the work is split into steps: whole
// prompts, odd-sized prefill chunks, and all prompts of a fixture sharing
// batches with staggered starts (prefill chunks mixed with decodes).
func TestGreedy(t *testing.T) {
	schedules := []struct {
		name           string
		chunk, stagger int
		together       bool
	}{
		{"whole-prompt", 1 << 20, 0, false},
		{"chunks-of-3", 3, 0, false},
		{"chunks-of-7", 7, 0, false},
		{"one-batch", 1 << 20, 0, true},
		{"one-batch-chunks-of-5-staggered", 5, 2, true},
		{"one-batch-chunks-of-13-staggered", 13, 1, true},
	}
	for _, fx := range fixtures {
		ref := loadReference(t, fx)
		for _, dv := range devices[:2] {
			m := loadModel(t, fx, dv.opts)
			for _, sc := range schedules {
				t.Run(fx+"/"+dv.name+"/"+sc.name, func(t *testing.T) {
					require.NoError(t, m.NewKVCache(128, 16))
					var got [][]int32
					if sc.together {
						got = greedyRun(t, m, prompts(ref), greedySteps, sc.chunk, sc.stagger)
					} else {
						for _, p := range prompts(ref) {
							got = append(got, greedyRun(t, m, [][]int32{p}, greedySteps, sc.chunk, 0)[0])
						}
					}
					for i, c := range ref.Cases {
						require.Equal(t, c.Greedy.Tokens, got[i], "case %d", i)
					}
				})
			}
		}
	}
}

// TestPrefixFromCache runs a prompt, then a second sequence with the same
// prompt whose leading full blocks are the first sequence's blocks (as the
// prefix cache would hand them out): only the remaining tokens are computed,
// and the continuation must still match the reference.
func TestPrefixFromCache(t *testing.T) {
	for _, fx := range fixtures {
		ref := loadReference(t, fx)
		m := loadModel(t, fx, cpuDefault)
		for ci, c := range ref.Cases {
			if len(c.Prompt) <= 16 {
				continue
			}
			require.NoError(t, m.NewKVCache(64, 16))
			a := newAllocator(m)
			first := newTestSeq(c.Prompt)
			ids, err := m.ForwardArgmax(a.batch([]part{{seq: first, n: len(c.Prompt), logits: true}}))
			require.NoError(t, err)
			require.Equal(t, c.Greedy.Tokens[0], ids[0])

			second := newTestSeq(c.Prompt)
			shared := (len(c.Prompt) - 1) / 16
			second.blocks = append([]int32(nil), first.blocks[:shared]...)
			second.computed = shared * 16
			var out []int32
			for len(out) < greedySteps {
				n := len(second.tokens) - second.computed
				ids, err := m.ForwardArgmax(a.batch([]part{{seq: second, n: n, logits: true}}))
				require.NoError(t, err)
				out = append(out, ids[0])
				second.tokens = append(second.tokens, ids[0])
			}
			require.Equal(t, c.Greedy.Tokens, out, "%s case %d (prefix of %d tokens from cache)", fx, ci, shared*16)
		}
	}
}

// TestPreemptRecompute generates part of a continuation, drops the
// sequence's KV blocks (as preemption does), recomputes prompt and generated
// tokens into fresh blocks, and continues: the result must equal the
// uninterrupted reference. Other sequences keep decoding in the same batches.
func TestPreemptRecompute(t *testing.T) {
	for _, fx := range fixtures {
		ref := loadReference(t, fx)
		m := loadModel(t, fx, cpuDefault)
		require.NoError(t, m.NewKVCache(256, 16))
		a := newAllocator(m)
		seqs := make([]*testSeq, len(ref.Cases))
		out := make([][]int32, len(ref.Cases))
		for i, c := range ref.Cases {
			seqs[i] = newTestSeq(c.Prompt)
		}
		for step := 0; ; step++ {
			if step == 9 {
				// Preempt the odd sequences: forget their cache entirely;
				// they recompute into fresh blocks.
				for i := 1; i < len(seqs); i += 2 {
					seqs[i].blocks, seqs[i].computed = nil, 0
				}
			}
			var parts []part
			var owners []int
			for i, s := range seqs {
				if len(out[i]) == greedySteps {
					continue
				}
				// Recompute in chunks of 11 after preemption.
				n := min(11, len(s.tokens)-s.computed)
				parts = append(parts, part{seq: s, n: n, logits: s.computed+n == len(s.tokens)})
				owners = append(owners, i)
			}
			if len(parts) == 0 {
				break
			}
			b := a.batch(parts)
			ids, err := m.ForwardArgmax(b)
			require.NoError(t, err)
			for k, si := range b.LogitsSeqs {
				i := owners[si]
				out[i] = append(out[i], ids[k])
				seqs[i].tokens = append(seqs[i].tokens, ids[k])
			}
		}
		for i, c := range ref.Cases {
			require.Equal(t, c.Greedy.Tokens, out[i], "%s case %d", fx, i)
		}
	}
}
