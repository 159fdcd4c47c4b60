//go:build js && wasm

package main

import (
	"fmt"
	"math/rand/v2"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// genOutput is what one step produced for one request.
type genOutput struct {
	id       uint64
	tokens   []int32
	text     string
	finished bool
	reason   string
	err      error
}

// generator is the engine loop the JavaScript bridge drives.
type generator interface {
	add(prompt []int32, p sampler.Params) (uint64, error)
	step() ([]genOutput, error)
	abort(id uint64)
	busy() bool
}

// stepGen is a small engine loop over the scheduler, the model and the
// sampler. TODO(integration): replace with core/engine's LLMEngine once it
// lands; this exists so the browser path can be exercised end to end.
type stepGen struct {
	model  *qwen3.Model
	tok    *tokenizer.Tokenizer
	sched  *scheduler.Scheduler
	samp   *sampler.Sampler
	eos    map[int32]bool
	nextID uint64
	reqs   map[uint64]*genReq
}

type genReq struct {
	seq     *sequence.Sequence
	params  sampler.Params
	rng     *rand.Rand
	dec     *tokenizer.StreamDecoder
	stop    map[int32]bool
	aborted bool
}

func newGenerator(m *qwen3.Model, tok *tokenizer.Tokenizer, blocks int, opts loadOptions, eos []int) (generator, error) {
	bm, err := block.NewManager(blocks, opts.BlockSize, true)
	if err != nil {
		return nil, err
	}
	maxLen := min(m.Config().MaxPositionEmbeddings, blocks*opts.BlockSize)
	s, err := scheduler.New(scheduler.Config{
		MaxSeqs: opts.MaxNumSeqs, MaxBatchedTokens: max(512, opts.MaxNumSeqs), MaxModelLen: maxLen,
	}, bm)
	if err != nil {
		return nil, err
	}
	g := &stepGen{model: m, tok: tok, sched: s, samp: sampler.New(m.Config().VocabSize), eos: map[int32]bool{}, reqs: map[uint64]*genReq{}}
	for _, id := range eos {
		g.eos[int32(id)] = true
	}
	return g, nil
}

func (g *stepGen) add(prompt []int32, p sampler.Params) (uint64, error) {
	g.nextID++
	id := g.nextID
	seq := sequence.New(id, prompt)
	if err := g.sched.Add(seq); err != nil {
		return 0, err
	}
	r := &genReq{seq: seq, params: p, dec: g.tok.NewDecoder(true), stop: map[int32]bool{}}
	if !p.Greedy() {
		seed := rand.Uint64()
		if p.Seed != nil {
			seed = *p.Seed
		}
		r.rng = sampler.NewRNG(seed)
	}
	for _, t := range p.StopTokenIDs {
		r.stop[t] = true
	}
	g.reqs[id] = r
	return id, nil
}

func (g *stepGen) abort(id uint64) {
	if r, ok := g.reqs[id]; ok {
		r.aborted = true
	}
}

func (g *stepGen) busy() bool { return len(g.reqs) > 0 }

func (g *stepGen) step() ([]genOutput, error) {
	var outs []genOutput
	for id, r := range g.reqs {
		if r.aborted {
			if !r.seq.IsFinished() {
				_ = g.sched.Abort(id)
			}
			delete(g.reqs, id)
			outs = append(outs, genOutput{id: id, finished: true, reason: "abort", err: withCode(codeAborted, fmt.Errorf("request %d was aborted", id))})
		}
	}
	b := g.sched.Schedule()
	for _, seq := range b.Finished {
		if r, ok := g.reqs[seq.ID]; ok {
			delete(g.reqs, seq.ID)
			outs = append(outs, genOutput{id: seq.ID, finished: true, reason: "error", err: withCode(codeOutOfMemory, seq.Err())})
			_ = r
		}
	}
	if b.NumTokens() == 0 {
		return outs, nil
	}
	sampled := make([]int32, len(b.LogitsRows))
	greedy := true
	for _, row := range b.LogitsSeqs {
		if r := g.reqs[b.Seqs[row].ID]; r != nil && !r.params.Greedy() {
			greedy = false
		}
	}
	if greedy {
		ids, err := g.model.ForwardArgmax(b)
		if err != nil {
			return outs, err
		}
		copy(sampled, ids)
	} else {
		logits, err := g.model.Forward(b)
		if err != nil {
			return outs, err
		}
		V := g.model.Config().VocabSize
		for k, row := range b.LogitsSeqs {
			seq := b.Seqs[row]
			r := g.reqs[seq.ID]
			res, err := g.samp.Sample(logits[k*V:(k+1)*V], &r.params, sampler.History{Prompt: seq.Prompt(), Output: seq.Output()}, r.rng)
			if err != nil {
				return outs, err
			}
			sampled[k] = res.Token
		}
	}
	if err := g.sched.Postprocess(b, sampled); err != nil {
		return outs, err
	}
	for k, row := range b.LogitsSeqs {
		seq := b.Seqs[row]
		r, ok := g.reqs[seq.ID]
		if !ok {
			continue
		}
		tok := sampled[k]
		o := genOutput{id: seq.ID, tokens: []int32{tok}, text: r.dec.Push(tok)}
		switch {
		case seq.IsFinished():
			o.finished, o.reason = true, "length"
		case !r.params.IgnoreEOS && g.eos[tok], r.stop[tok]:
			o.finished, o.reason = true, "stop"
		case r.params.MaxTokens > 0 && seq.NumOutputTokens() >= r.params.MaxTokens:
			o.finished, o.reason = true, "length"
		}
		if o.finished {
			o.text += r.dec.Flush()
			if !seq.IsFinished() {
				reason := sequence.Length
				if o.reason == "stop" {
					reason = sequence.Stop
				}
				_ = g.sched.Finish(seq, reason)
			}
			delete(g.reqs, seq.ID)
		}
		outs = append(outs, o)
	}
	return outs, nil
}
