package engine

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// Draft proposes tokens with a smaller model of the same vocabulary (say
// Qwen3-0.6B drafting for Qwen3-8B): each engine step, it runs the draft
// model k times, batched across the speculating requests, each time
// feeding back the token it just guessed. A greedy request gets the
// draft's arg max; a sampled one a draw from the draft's distribution
// under the request's temperature and filters, which Verify then needs as
// q.
//
// The draft keeps its own paged KV cache with its own block tables, and
// remembers which tokens each request's cache holds: rejected guesses are
// simply recomputed, and a request the draft has not seen yet (or whose
// guesses went wrong) is caught up in its first batch, like a prefill.
// When its pool is full, a request gets no proposals that step.
type Draft struct {
	model  ArgmaxModel
	vocab  int
	maxLen int
	blocks *block.Manager
	seqs   map[uint64]*draftSeq

	builder step.Builder
	sampler *sampler.Sampler
	items   []draftItem
}

// draftSeq is one request's state in the draft's cache.
type draftSeq struct {
	table block.Table
	// tokens are the request's tokens, then the guesses of the current
	// call; the first computed of them have keys and values in the cache.
	tokens   []int32
	computed int
}

// draftItem is a request taking part in the current Propose call.
type draftItem struct {
	p   *Proposal
	ds  *draftSeq
	max int
}

// NewDraft returns a draft proposer running model, with a KV cache of
// numBlocks blocks of blockSize tokens (the same block size as the
// engine's is natural but not required). maxLen is the draft model's
// maximum sequence length (max_position_embeddings).
func NewDraft(model ArgmaxModel, numBlocks, blockSize, maxLen int) (*Draft, error) {
	blocks, err := block.NewManager(numBlocks, blockSize, false)
	if err != nil {
		return nil, fmt.Errorf("engine: draft model: %w", err)
	}
	if err := model.NewKVCache(numBlocks, blockSize); err != nil {
		return nil, fmt.Errorf("engine: draft model's KV cache of %d blocks: %w", numBlocks, err)
	}
	vocab := model.VocabSize()
	return &Draft{model: model, vocab: vocab, maxLen: maxLen, blocks: blocks, seqs: map[uint64]*draftSeq{}, sampler: sampler.New(vocab)}, nil
}

// VocabSize is the draft model's vocabulary size, which must be the
// target's.
func (d *Draft) VocabSize() int { return d.vocab }

// Release implements Proposer.
func (d *Draft) Release(id uint64) {
	if ds := d.seqs[id]; ds != nil {
		d.blocks.Free(&ds.table)
		delete(d.seqs, id)
	}
}

// Propose implements Proposer.
func (d *Draft) Propose(ps []Proposal) error {
	d.items = d.items[:0]
	for i := range ps {
		p := &ps[i]
		p.Tokens, p.Probs = p.Tokens[:0], nil
		n := len(p.Context)
		k := min(p.Max, d.maxLen-n)
		if k <= 0 {
			continue
		}
		ds := d.seqs[p.ID]
		if ds == nil {
			ds = &draftSeq{}
			d.seqs[p.ID] = ds
		}
		// The cache holds what the request's tokens still agree with; the
		// last token is always fed again, for its logits.
		same := 0
		for same < min(ds.computed, n) && ds.tokens[same] == p.Context[same] {
			same++
		}
		ds.computed = min(same, n-1)
		ds.tokens = append(ds.tokens[:0], p.Context...)
		// Guess i goes in at position n-1+i: k guesses need n+k-1 slots.
		if err := d.blocks.AppendSlot(&ds.table, n+k-1); err != nil {
			continue // the draft's pool is full: no proposals this step
		}
		d.items = append(d.items, draftItem{p: p, ds: ds, max: k})
	}
	for round := 0; ; round++ {
		d.builder.Reset(d.blocks.BlockSize(), 0)
		var batch []*draftItem
		greedy := true
		for i := range d.items {
			it := &d.items[i]
			if len(it.p.Tokens) != round || round >= it.max {
				continue // done, or stopped
			}
			ds := it.ds
			d.builder.Add(ds.tokens, ds.computed, len(ds.tokens), ds.table.Blocks(), 1)
			batch = append(batch, it)
			greedy = greedy && it.p.Params.Greedy()
		}
		if len(batch) == 0 {
			return nil
		}
		s := d.builder.Step()
		var ids []int32
		var logits []float32
		var err error
		if greedy {
			ids, err = d.model.ForwardArgmax(s)
		} else {
			logits, err = d.model.Forward(s)
		}
		if err != nil {
			return fmt.Errorf("engine: draft model: %w", err)
		}
		for k, it := range batch {
			ds := it.ds
			ds.computed = len(ds.tokens)
			var tok int32
			switch {
			case it.p.Params.Greedy() && ids != nil:
				tok = ids[k]
			case it.p.Params.Greedy():
				tok = argmaxRow(logits[k*d.vocab : (k+1)*d.vocab])
			default:
				q := make([]float32, d.vocab)
				if err := d.sampler.Probs(q, logits[k*d.vocab:(k+1)*d.vocab], it.p.Params, sampler.History{}); err != nil {
					return fmt.Errorf("engine: draft model: %w", err)
				}
				tok = sampler.DrawFrom(q, it.p.RNG)
				it.p.Probs = append(it.p.Probs, q)
			}
			it.p.Tokens = append(it.p.Tokens, tok)
			ds.tokens = append(ds.tokens, tok)
		}
	}
}

// argmaxRow is the id of the largest logit, the lowest on a tie.
func argmaxRow(row []float32) int32 {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return int32(best)
}
