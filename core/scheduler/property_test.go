package scheduler

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// propRun drives a scheduler over a small pool with long random sequences
// of adds, steps, stop conditions, aborts (including between Schedule and
// Postprocess) and dropped steps, and checks every invariant after every
// operation.
type propRun struct {
	t         *testing.T
	r         *rand.Rand
	s         *Scheduler
	m         *block.Manager
	model     *fakeModel
	bs        int
	live      map[uint64]*sequence.Sequence
	maxTokens map[uint64]int
	families  [][]int32
	nextID    uint64
	// What the run exercised.
	aborts, errorFinishes, lengthFinishes, rejected int
	accepted                                        int // proposals accepted
}

const propVocab = 4 // a tiny vocabulary makes equal blocks, and prefix hits, common

func newPropRun(t *testing.T, seed uint64, policy Policy) *propRun {
	r := rand.New(rand.NewPCG(seed, 99))
	bs := 1 + r.IntN(4)
	numBlocks := 40/bs + r.IntN(8)
	m, err := block.NewManager(numBlocks, bs, true)
	require.NoError(t, err)
	s, err := New(Config{MaxSeqs: 4, MaxBatchedTokens: 4 + r.IntN(12), MaxModelLen: 48, Policy: policy}, m)
	require.NoError(t, err)
	p := &propRun{t: t, r: r, s: s, m: m, model: newFakeModel(t, numBlocks, bs, propVocab), bs: bs,
		live: map[uint64]*sequence.Sequence{}, maxTokens: map[uint64]int{}}
	for range 3 {
		f := make([]int32, 2*bs+r.IntN(3*bs))
		for i := range f {
			f[i] = int32(r.IntN(propVocab))
		}
		p.families = append(p.families, f)
	}
	return p
}

func (p *propRun) randomLive() *sequence.Sequence {
	if len(p.live) == 0 {
		return nil
	}
	keys := make([]uint64, 0, len(p.live))
	for id := range p.live {
		keys = append(keys, id)
	}
	slices.Sort(keys)
	return p.live[keys[p.r.IntN(len(keys))]]
}

// ended checks a sequence that left the scheduler, whatever the reason.
func (p *propRun) ended(seq *sequence.Sequence) {
	t := p.t
	require.True(t, seq.IsFinished())
	require.Zero(t, seq.Blocks.Len(), "finished sequence %d still holds blocks", seq.ID)
	require.Equal(t, referenceGenerate(seq.Prompt(), seq.NumOutputTokens(), propVocab), seq.Output(), "sequence %d", seq.ID)
	_, ok := p.s.Lookup(seq.ID)
	require.False(t, ok)
	delete(p.live, seq.ID)
}

func (p *propRun) op() {
	t, r := p.t, p.r
	switch r.IntN(10) {
	case 0, 1, 2: // a request arrives
		if len(p.live) >= 10 {
			return
		}
		prompt := slices.Clone(p.families[r.IntN(len(p.families))])
		prompt = prompt[:r.IntN(len(prompt)+1)]
		for n := 1 + r.IntN(3*p.bs); n > 0; n-- {
			prompt = append(prompt, int32(r.IntN(propVocab)))
		}
		if r.IntN(20) == 0 {
			prompt = append(prompt, make([]int32, 30+r.IntN(20))...) // too long, maybe
		}
		p.nextID++
		seq := sequence.New(p.nextID, prompt)
		seq.Arrival = time.Unix(0, int64(p.nextID))
		seq.Priority = r.IntN(3)
		err := p.s.Add(seq)
		switch {
		case len(prompt) > p.s.Config().MaxModelLen:
			require.ErrorIs(t, err, ErrPromptTooLong)
			p.rejected++
		case block.NumBlocksFor(len(prompt), p.bs) > p.m.NumBlocks():
			require.ErrorIs(t, err, block.ErrOutOfBlocks)
			p.rejected++
		default:
			require.NoError(t, err)
			p.live[seq.ID] = seq
			p.maxTokens[seq.ID] = 1 + r.IntN(16)
		}
	case 3, 4, 5, 6: // a step
		// Some decoding sequences verify proposals (speculative decoding):
		// the true continuation with random corruptions; below, a random
		// number of the right ones is accepted.
		for _, id := range slices.Sorted(maps.Keys(p.live)) {
			seq := p.live[id]
			if seq.Status() == sequence.Running && seq.NumUncomputed() == 1 && r.IntN(3) == 0 {
				k := 1 + r.IntN(6)
				truth := referenceGenerate(seq.Prompt(), seq.NumOutputTokens()+k, propVocab)[seq.NumOutputTokens():]
				for j := range truth {
					if r.IntN(4) == 0 {
						truth[j] = int32(r.IntN(propVocab))
					}
				}
				seq.Proposals = append(seq.Proposals[:0], truth...)
			}
		}
		b := p.s.Schedule()
		for _, seq := range b.Finished {
			require.Equal(t, sequence.Error, seq.FinishReason())
			require.ErrorIs(t, seq.Err(), block.ErrOutOfBlocks)
			p.errorFinishes++
			p.ended(seq)
		}
		require.LessOrEqual(t, b.NumTokens(), p.s.Config().MaxBatchedTokens)
		require.LessOrEqual(t, b.NumSeqs(), p.s.Config().MaxSeqs)
		if b.NumTokens() > 0 {
			require.NoError(t, b.Step.Validate(step.CacheShape{NumBlocks: p.m.NumBlocks(), BlockSize: p.bs}))
		}
		sampled := slices.Clone(p.model.step(b))
		rows := b.Step.LogitsSeqs
		for k := 0; k < len(rows); {
			lo := k
			for k < len(rows) && rows[k] == rows[lo] {
				k++
			}
			if k-lo > 1 {
				// Proposals stand while they are the model's own tokens,
				// and at random fewer; the model's token follows them.
				props := b.Seqs[rows[lo]].Proposals
				m := 0
				for m < k-lo-1 && props[m] == sampled[lo+m] && r.IntN(5) > 0 {
					m++
				}
				p.accepted += m
				for j := lo + m + 1; j < k; j++ {
					sampled[j] = -1
				}
			}
		}
		if r.IntN(16) == 0 {
			return // the step is dropped; the next Schedule repeats it
		}
		if b.NumSeqs() > 0 && r.IntN(8) == 0 {
			victim := b.Seqs[r.IntN(b.NumSeqs())]
			require.NoError(t, p.s.Abort(victim.ID))
			p.aborts++
			p.ended(victim)
		}
		require.NoError(t, p.s.Postprocess(b, sampled))
		for _, row := range b.Step.LogitsSeqs {
			seq := b.Seqs[row]
			if seq.IsFinished() {
				if _, ok := p.live[seq.ID]; ok { // reached MaxModelLen
					require.Equal(t, sequence.Length, seq.FinishReason())
					require.GreaterOrEqual(t, seq.Len(), p.s.Config().MaxModelLen)
					p.lengthFinishes++
					p.ended(seq)
				}
				continue
			}
			switch {
			case seq.NumOutputTokens() >= p.maxTokens[seq.ID]:
				require.NoError(t, p.s.Finish(seq, sequence.Length))
			case r.IntN(10) == 0:
				require.NoError(t, p.s.Finish(seq, sequence.Stop))
			default:
				continue
			}
			p.ended(seq)
		}
	case 7: // a client cancels
		if seq := p.randomLive(); seq != nil {
			require.NoError(t, p.s.Abort(seq.ID))
			require.ErrorIs(t, seq.Err(), ErrAborted)
			p.aborts++
			p.ended(seq)
		}
	case 8: // the engine stops a sequence, whatever its state
		if seq := p.randomLive(); seq != nil {
			require.NoError(t, p.s.Finish(seq, sequence.StopString))
			p.ended(seq)
		}
	case 9:
		require.ErrorIs(t, p.s.Abort(1<<40), ErrUnknownRequest)
	}
}

func (p *propRun) check() {
	t := p.t
	var tables []*block.Table
	waiting, running := 0, 0
	for _, seq := range p.live {
		tables = append(tables, &seq.Blocks)
		got, ok := p.s.Lookup(seq.ID)
		require.True(t, ok)
		require.Same(t, seq, got)
		switch seq.Status() {
		case sequence.Waiting, sequence.Preempted:
			waiting++
			require.Zero(t, seq.Blocks.Len(), "%v holds blocks while waiting", seq)
			require.Zero(t, seq.NumComputed)
		case sequence.Running:
			running++
			require.LessOrEqual(t, seq.NumComputed, seq.Len())
			require.LessOrEqual(t, seq.NumComputed, seq.Blocks.Capacity(p.bs))
			// (Proposals of a dropped step keep their slots until the next.)
			require.LessOrEqual(t, seq.Blocks.Len(), block.NumBlocksFor(seq.Len()+len(seq.Proposals), p.bs), "%v holds more blocks than it needs", seq)
			for i, id := range seq.Blocks.Blocks() {
				if toks := p.m.CachedTokens(id); toks != nil {
					require.Equal(t, seq.TokenIDs[i*p.bs:(i+1)*p.bs], toks, "%v block %d is filed under other tokens", seq, i)
				}
			}
		default:
			t.Fatalf("%v is live", seq)
		}
	}
	require.NoError(t, p.m.Check(tables))
	st := p.s.Stats()
	require.Equal(t, waiting, st.Waiting)
	require.Equal(t, running, st.Running)
	require.LessOrEqual(t, running, p.s.Config().MaxSeqs)
	bst := p.m.Stats()
	require.Equal(t, bst.Total, bst.Free+bst.Used)
	require.Equal(t, len(p.live) > 0, p.s.HasUnfinished())
}

func TestSchedulerRandomized(t *testing.T) {
	var preemptions int64
	var aborts, errorFinishes, lengthFinishes, rejected, accepted int
	var hits int64
	for _, policy := range []Policy{FCFS, Priority} {
		for seed := range uint64(6) {
			p := newPropRun(t, seed, policy)
			for range 2000 {
				p.op()
				p.check()
				if t.Failed() {
					return
				}
			}
			// Everything still live is cancelled: the pool must be whole.
			for _, seq := range p.live {
				require.NoError(t, p.s.Abort(seq.ID))
				p.ended(seq)
			}
			p.check()
			st := p.m.Stats()
			require.Zero(t, st.Used)
			require.Equal(t, st.Total, st.Free, "every block is free or evictable")
			require.False(t, p.s.HasUnfinished())
			require.Zero(t, p.s.Schedule().NumTokens())

			preemptions += p.s.Stats().Preemptions
			aborts += p.aborts
			errorFinishes += p.errorFinishes
			lengthFinishes += p.lengthFinishes
			rejected += p.rejected
			accepted += p.accepted
			hits += st.PrefixHitTokens
		}
	}
	t.Logf("%d preemptions, %d aborts, %d out-of-blocks finishes, %d max-length finishes, %d rejected adds, %d prefix-hit tokens, %d proposals accepted",
		preemptions, aborts, errorFinishes, lengthFinishes, rejected, hits, accepted)
	for name, n := range map[string]int64{"preemptions": preemptions, "aborts": int64(aborts), "accepted proposals": int64(accepted),
		"out-of-blocks finishes": int64(errorFinishes), "rejected adds": int64(rejected), "prefix hits": hits} {
		require.Positive(t, n, "the run exercised no %s", name)
	}
}
