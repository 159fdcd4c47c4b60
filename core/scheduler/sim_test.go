package scheduler

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

const simVocab = 1000

type simRequest struct {
	id        uint64
	prompt    []int32
	maxTokens int
	priority  int
}

// simRequests makes n requests, most of which start with one of a few
// shared prefixes (system prompts), with random lengths throughout.
func simRequests(r *rand.Rand, n int) []simRequest {
	prefixes := make([][]int32, 8)
	for i := range prefixes {
		prefixes[i] = randTokens(r, r.IntN(65))
	}
	reqs := make([]simRequest, n)
	for i := range reqs {
		var prompt []int32
		if r.IntN(10) < 7 {
			prompt = append(prompt, prefixes[r.IntN(len(prefixes))]...)
		}
		prompt = append(prompt, randTokens(r, 1+r.IntN(48))...)
		reqs[i] = simRequest{id: uint64(i + 1), prompt: prompt, maxTokens: 1 + r.IntN(32), priority: r.IntN(3)}
	}
	return reqs
}

func randTokens(r *rand.Rand, n int) []int32 {
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(r.IntN(simVocab))
	}
	return t
}

type simResult struct {
	outputs     map[uint64][]int32
	steps       int
	preemptions int64
	chunked     int
	hitTokens   int64
}

// simulate drives requests through a scheduler and the fake model the way
// an engine does: a few new requests arrive every step, each step is run
// and postprocessed, and a request finishes when it has its tokens.
func simulate(t *testing.T, reqs []simRequest, cfg Config, numBlocks, blockSize, arrivalsPerStep int) simResult {
	m, err := block.NewManager(numBlocks, blockSize, true)
	require.NoError(t, err)
	s, err := New(cfg, m)
	require.NoError(t, err)
	model := newFakeModel(t, numBlocks, blockSize, simVocab)
	want := make(map[uint64]int, len(reqs))
	res := simResult{outputs: make(map[uint64][]int32, len(reqs))}
	next := 0
	for next < len(reqs) || s.HasUnfinished() {
		for range arrivalsPerStep {
			if next == len(reqs) {
				break
			}
			r := reqs[next]
			seq := sequence.New(r.id, r.prompt)
			seq.Arrival = time.Unix(0, int64(r.id))
			seq.Priority = r.priority
			require.NoError(t, s.Add(seq))
			want[r.id] = r.maxTokens
			next++
		}
		b := s.Schedule()
		require.Empty(t, b.Finished, "every request fits the pool on its own")
		sampled := model.step(b)
		require.NoError(t, s.Postprocess(b, sampled))
		for _, row := range b.Step.LogitsSeqs {
			seq := b.Seqs[row]
			if !seq.IsFinished() && seq.NumOutputTokens() >= want[seq.ID] {
				require.NoError(t, s.Finish(seq, sequence.Length))
			}
			if seq.IsFinished() {
				require.Equal(t, sequence.Length, seq.FinishReason())
				res.outputs[seq.ID] = seq.Output()
			}
		}
		res.steps++
		require.Less(t, res.steps, 200_000, "the simulation does not make progress")
	}
	st := m.Stats()
	require.Zero(t, st.Used, "blocks left allocated")
	require.Equal(t, st.Total, st.Free)
	require.NoError(t, m.Check(nil))
	res.preemptions = s.Stats().Preemptions
	res.chunked = model.chunked
	res.hitTokens = st.PrefixHitTokens
	return res
}

// TestSimulation runs 1,000 requests through a pool far too small for them,
// so that prompts are chunked, prefixes are shared and sequences are
// preempted, and checks every output against the plain, unbatched model and
// against a run with room to spare.
func TestSimulation(t *testing.T) {
	reqs := simRequests(rand.New(rand.NewPCG(1, 2)), 1000)
	// The longest request, 64+48+32 = 144 tokens, is 36 blocks: it fits
	// alone in the 48-block pool, but a few together do not.
	tight := Config{MaxSeqs: 16, MaxBatchedTokens: 32, MaxModelLen: 256}
	roomy := Config{MaxSeqs: 64, MaxBatchedTokens: 1024, MaxModelLen: 256}

	ref := simulate(t, reqs, roomy, 8192, 4, 8)
	require.Zero(t, ref.preemptions, "the roomy run never preempts")
	for _, policy := range []Policy{FCFS, Priority} {
		t.Run(policy.String(), func(t *testing.T) {
			cfg := tight
			cfg.Policy = policy
			got := simulate(t, reqs, cfg, 48, 4, 3)
			require.Len(t, got.outputs, len(reqs))
			for _, r := range reqs {
				out := got.outputs[r.id]
				require.Len(t, out, r.maxTokens, "request %d", r.id)
				require.Equal(t, referenceGenerate(r.prompt, r.maxTokens, simVocab), out, "request %d", r.id)
				require.Equal(t, ref.outputs[r.id], out, "request %d", r.id)
			}
			// The run must have exercised what it claims to test.
			require.Positive(t, got.preemptions, "no preemption")
			require.Positive(t, got.chunked, "no chunked prefill")
			require.Positive(t, got.hitTokens, "no prefix-cache hits")
			t.Logf("%s: %d steps (roomy: %d), %d preemptions, %d chunked prefills, %d prefix-cache hit tokens",
				policy, got.steps, ref.steps, got.preemptions, got.chunked, got.hitTokens)
		})
	}
}
