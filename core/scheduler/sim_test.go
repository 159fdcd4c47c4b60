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
	speculated  int // sequence-steps that verified proposals
	accepted    int // proposals accepted
}

// verifyGreedy turns the model's tokens for the rows of sequences that
// verified proposals into what they emit, as the engine does for greedy
// requests: accepted proposals, then the model's token at the first miss
// (or after the last proposal), then -1 for the rest; never more than the
// request still wants. It returns the number of proposals accepted.
func verifyGreedy(b *Plan, sampled []int32, want map[uint64]int) int {
	accepted := 0
	rows := b.Step.LogitsSeqs
	for r := 0; r < len(rows); {
		i := rows[r]
		lo := r
		for r < len(rows) && rows[r] == i {
			r++
		}
		if r-lo == 1 {
			continue
		}
		seq := b.Seqs[i]
		out := sampled[lo:r]
		room := want[seq.ID] - seq.NumOutputTokens()
		m := 0
		for m < len(out)-1 && seq.Proposals[m] == out[m] && m+1 < room {
			m++ // out[m] is the model's own token: the proposal stands
		}
		accepted += m
		for j := m + 1; j < len(out); j++ {
			out[j] = -1
		}
	}
	return accepted
}

// simulate drives requests through a scheduler and the fake model the way
// an engine does: a few new requests arrive every step, each step is run
// and postprocessed, and a request finishes when it has its tokens.
//
// With propose, decoding sequences verify proposed tokens as speculative
// decoding does: propose returns up to k guesses for a sequence, and the
// outcome is greedy verification (a proposal is kept while it equals the
// model's own next token; the first miss, or the token after the last
// proposal, is the model's).
func simulate(t *testing.T, reqs []simRequest, cfg Config, numBlocks, blockSize, arrivalsPerStep int, propose func(seq *sequence.Sequence, want int) []int32) simResult {
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
		if propose != nil {
			for _, seq := range s.running {
				if seq.Status() == sequence.Running && seq.NumUncomputed() == 1 {
					seq.Proposals = append(seq.Proposals[:0], propose(seq, want[seq.ID])...)
				}
			}
		}
		b := s.Schedule()
		require.Empty(t, b.Finished, "every request fits the pool on its own")
		sampled := model.step(b)
		res.accepted += verifyGreedy(b, sampled, want)
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
	res.speculated = model.speculated
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

	ref := simulate(t, reqs, roomy, 8192, 4, 8, nil)
	require.Zero(t, ref.preemptions, "the roomy run never preempts")
	for _, policy := range []Policy{FCFS, Priority} {
		t.Run(policy.String(), func(t *testing.T) {
			cfg := tight
			cfg.Policy = policy
			got := simulate(t, reqs, cfg, 48, 4, 3, nil)
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

// TestSimulationSpeculative runs the tight simulation again with every
// decode verifying up to 5 proposed tokens, most of them right (taken from
// the plain model's own continuation) and some wrong, so that steps accept
// all, some or none of their proposals while chunked prefill, prefix
// caching and preemption go on. Outputs must equal the plain model's token
// for token: a rejected proposal's keys and values must never be read, and
// every block must come back.
func TestSimulationSpeculative(t *testing.T) {
	reqs := simRequests(rand.New(rand.NewPCG(1, 2)), 400)
	prompts := map[uint64][]int32{}
	for _, r := range reqs {
		prompts[r.id] = r.prompt
	}
	r := rand.New(rand.NewPCG(7, 8))
	propose := func(seq *sequence.Sequence, want int) []int32 {
		truth := referenceGenerate(prompts[seq.ID], want+8, simVocab)[seq.NumOutputTokens():]
		k := r.IntN(6)
		props := make([]int32, k)
		for j := range props {
			props[j] = truth[j]
			if r.IntN(4) == 0 {
				props[j] = int32(r.IntN(simVocab)) // a wrong guess (rarely right)
			}
		}
		return props
	}
	for _, policy := range []Policy{FCFS, Priority} {
		t.Run(policy.String(), func(t *testing.T) {
			cfg := Config{MaxSeqs: 16, MaxBatchedTokens: 32, MaxModelLen: 256, Policy: policy}
			got := simulate(t, reqs, cfg, 48, 4, 3, propose)
			for _, r := range reqs {
				require.Equal(t, referenceGenerate(r.prompt, r.maxTokens, simVocab), got.outputs[r.id], "request %d", r.id)
			}
			require.Positive(t, got.preemptions, "no preemption")
			require.Positive(t, got.chunked, "no chunked prefill")
			require.Positive(t, got.hitTokens, "no prefix-cache hits")
			require.Positive(t, got.speculated, "no step verified proposals")
			require.Positive(t, got.accepted, "no proposal accepted")
			t.Logf("%s: %d steps, %d speculative sequence-steps, %d proposals accepted, %d preemptions",
				policy, got.steps, got.speculated, got.accepted, got.preemptions)
		})
	}
}
