package engine

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// step is one iteration of continuous batching, in five phases. The model
// runs without the lock, so AddRequest and Abort never wait for it.
func (e *Engine) step() ([]routed, error) {
	e.mu.Lock()
	outs := e.reapLocked()
	if e.cfg.Speculative.Proposer != nil {
		e.proposeLocked()
	}
	plan, outs := e.scheduleLocked(outs)
	if plan == nil {
		e.mu.Unlock()
		return outs, nil
	}
	greedy := e.greedyLocked(plan)
	e.mu.Unlock()

	res, err := e.forward(plan, greedy)

	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		return e.failLocked(plan, outs, err), err
	}
	works := e.sampleLocked(plan, res)
	return e.commitLocked(plan, works, outs)
}

// reapLocked aborts the requests whose context is done, freeing their KV
// blocks before the scheduler plans, and returns the outputs waiting to be
// reported (those of earlier aborts included).
func (e *Engine) reapLocked() []routed {
	outs := e.pending
	e.pending = nil
	for id, r := range e.reqs {
		if r.ctx.Err() != nil {
			_ = e.abortLocked(id, context.Cause(r.ctx))
		}
	}
	outs = append(outs, e.pending...)
	e.pending = nil
	return outs
}

// scheduleLocked asks the scheduler for the next step and records what it
// did to each request: preemptions, prefix-cache hits on admission, and
// requests it had to fail. It returns a nil plan when no token runs.
func (e *Engine) scheduleLocked(outs []routed) (*scheduler.Plan, []routed) {
	plan := e.sched.Schedule()
	for _, r := range e.reqs {
		switch r.seq.Status() {
		case sequence.Preempted:
			if !r.preempted {
				r.preempted = true
				r.metrics.Preemptions++
			}
		case sequence.Running:
			r.preempted = false
		}
	}
	for _, seq := range plan.Finished {
		if r := e.reqs[seq.ID]; r != nil {
			outs = append(outs, e.finishLocked(r, sequence.Error, seq.Err()))
		}
	}
	if plan.NumTokens() == 0 {
		return nil, outs
	}
	for _, seq := range plan.Seqs {
		r := e.reqs[seq.ID]
		if r != nil && !r.scheduled {
			r.scheduled = true
			r.metrics.CachedTokens = seq.NumCached
		}
	}
	return plan, outs
}

// greedyLocked reports whether every request that gets a token this step
// takes the arg max of its logits, so the model need not copy logits out.
func (e *Engine) greedyLocked(plan *scheduler.Plan) bool {
	if e.argmax == nil {
		return false
	}
	for _, si := range plan.Step.LogitsSeqs {
		seq := plan.Seqs[si]
		r := e.reqs[seq.ID]
		if r != nil && (!fastGreedy(&r.params) || r.suppress(seq, 0) != nil) {
			return false
		}
	}
	return true
}

// modelResult is the model's answer for a step: a row of logits per
// LogitsRows entry, or only each row's arg max when the step is greedy.
type modelResult struct {
	logits []float32
	argmax []int32
}

// forward runs the model on the plan's step. An Abort meanwhile frees
// blocks this step writes, which is safe: only the next Schedule hands
// them out again, and Postprocess skips the aborted sequence.
func (e *Engine) forward(plan *scheduler.Plan, greedy bool) (modelResult, error) {
	var res modelResult
	var err error
	rows := len(plan.Step.LogitsRows)
	if greedy {
		res.argmax, err = e.argmax.ForwardArgmax(plan.Step)
		if err == nil && len(res.argmax) != rows {
			err = fmt.Errorf("model returned %d tokens for %d rows", len(res.argmax), rows)
		}
	} else {
		res.logits, err = e.model.Forward(plan.Step)
		if err == nil && len(res.logits) != rows*e.vocab {
			err = fmt.Errorf("model returned %d logits for %d rows of %d", len(res.logits), rows, e.vocab)
		}
	}
	if err != nil {
		return res, fmt.Errorf("engine: model step: %w", err)
	}
	return res, nil
}

// failLocked ends every request of a step the model failed.
func (e *Engine) failLocked(plan *scheduler.Plan, outs []routed, err error) []routed {
	for _, seq := range plan.Seqs {
		if r := e.reqs[seq.ID]; r != nil && !seq.IsFinished() {
			r.err = err
			_ = e.sched.Finish(seq, sequence.Error)
			outs = append(outs, e.finishLocked(r, sequence.Error, nil))
		}
	}
	return outs
}

// sampleLocked picks the tokens each sequence of the step emits, with its
// request's own parameters and random source, so that a request's tokens
// do not depend on its batch: one token from its one logits row, or, for a
// sequence verifying proposals, the proposals its rows accept and one token
// of the model's own (sampler.Verify). Sequences of requests that ended
// while the model ran have a nil r.
func (e *Engine) sampleLocked(plan *scheduler.Plan, res modelResult) []seqWork {
	works := e.works[:0]
	rows := plan.Step.LogitsSeqs
	for k := 0; k < len(rows); {
		lo := k
		for k < len(rows) && rows[k] == rows[lo] {
			k++
		}
		seq := plan.Seqs[rows[lo]]
		w := seqWork{r: e.reqs[seq.ID], seq: seq, lo: lo, props: seq.Proposals[:k-lo-1]}
		if w.r == nil || seq.Status() != sequence.Running {
			w.r = nil // aborted while the model ran
		} else if len(w.props) > 0 && w.r.specProbs != nil {
			w.probs = w.r.specProbs[:len(w.props)]
		}
		works = append(works, w)
	}
	e.works = works
	if res.argmax != nil {
		for i := range works {
			w := &works[i]
			for j := 0; ; j++ {
				tok := res.argmax[w.lo+j]
				w.emit = append(w.emit[:j], sampler.Result{Token: tok})
				if j == len(w.props) || w.props[j] != tok {
					break
				}
			}
		}
	} else {
		e.sampleRows(works, res.logits)
	}
	return works
}

// commitLocked hands the emitted tokens to the scheduler (which appends
// them and commits the step's KV blocks to the prefix cache, rolling back
// the slots of rejected proposals), fails the requests whose sampling
// failed, and applies every request's stop conditions, returning the
// step's outputs. No token past a stop condition is ever emitted.
func (e *Engine) commitLocked(plan *scheduler.Plan, works []seqWork, outs []routed) ([]routed, error) {
	n := len(plan.Step.LogitsRows)
	sampled := slices.Grow(e.sampled[:0], n)[:n]
	e.sampled = sampled
	for i := range works {
		w := &works[i]
		rows := sampled[w.lo : w.lo+len(w.props)+1]
		for j := range rows {
			rows[j] = -1
		}
		rows[0] = 0 // skipped by Postprocess: the sequence is not running
		if w.r == nil {
			continue
		}
		if w.err != nil {
			w.r.err = fmt.Errorf("engine: sampling request %d: %w", w.r.id, w.err)
			_ = e.sched.Finish(w.seq, sequence.Error)
			outs = append(outs, e.finishLocked(w.r, sequence.Error, nil))
			w.r = nil
			continue
		}
		if len(w.props) > 0 {
			w.r.spec.update(len(w.props), len(w.emit)-1)
			e.specStats.steps++
			e.specStats.proposed += int64(len(w.props))
			e.specStats.accepted += int64(len(w.emit) - 1)
		}
		w.emit = w.emit[:w.r.emittable(w.seq, w.emit)]
		for j, res := range w.emit {
			rows[j] = res.Token
		}
	}
	if err := e.sched.Postprocess(plan, sampled); err != nil {
		return outs, fmt.Errorf("engine: %w", err)
	}
	now := e.cfg.Clock()
	for i := range works {
		if w := &works[i]; w.r != nil {
			outs = append(outs, e.emitLocked(w.r, w.emit, now))
		}
	}
	return outs, nil
}

// seqWork is one sequence's share of a step's logits rows: the request (nil
// if it ended while the model ran), its first row lo, the proposals its
// rows verify (row lo+j verifies props[j]; the last row follows them all)
// with the proposer's distributions, and the tokens it emits.
type seqWork struct {
	r     *live
	seq   *sequence.Sequence
	lo    int
	props []int32
	probs [][]float32
	emit  []sampler.Result
	err   error
}

// sampleRows samples every sequence's rows of logits. Sequences are
// independent (each has its request's own random source), so they are
// spread over up to GOMAXPROCS goroutines, each with its own Sampler and
// scratch buffers: the device's workers are idle meanwhile, and with a
// 151,936-token vocabulary a large batch spends milliseconds here. The
// outcome does not depend on the split.
func (e *Engine) sampleRows(works []seqWork, logits []float32) {
	workers := min(runtime.GOMAXPROCS(0), len(works))
	for len(e.samplers) < workers {
		e.samplers = append(e.samplers, sampler.New(e.vocab))
	}
	sample := func(s *sampler.Sampler, i int) {
		w := &works[i]
		if w.r == nil {
			return
		}
		w.emit, w.err = w.r.sample(s, w.seq, w.props, w.probs, logits[w.lo*e.vocab:], e.vocab, w.emit[:0])
	}
	if workers <= 1 {
		for i := range works {
			sample(e.samplers[0], i)
		}
		return
	}
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			// Interleaved sequences balance the load when some requests
			// use cheap greedy decoding and others full filtering.
			for i := g; i < len(works); i += workers {
				sample(e.samplers[g], i)
			}
		})
	}
	wg.Wait()
}

// fastGreedy reports whether p's token is simply the arg max of the logits.
func fastGreedy(p *sampler.Params) bool {
	return p.Greedy() && p.Logprobs == 0 && p.PresencePenalty == 0 && p.FrequencyPenalty == 0 &&
		(p.RepetitionPenalty == 0 || p.RepetitionPenalty == 1)
}

// emitLocked records that r generated tokens in this step (one, or
// several when proposals were accepted), applies the stop conditions token
// by token, and returns the Output. Tokens after one that stops the request
// are not reported.
func (e *Engine) emitLocked(r *live, emit []sampler.Result, now time.Time) routed {
	seq := r.seq
	if r.metrics.FirstToken.IsZero() {
		r.metrics.FirstToken = now
	}
	r.metrics.LastToken = now
	r.metrics.SpecSteps, r.metrics.SpecProposed, r.metrics.SpecAccepted = r.spec.steps, r.spec.proposedTotal, r.spec.acceptedTotal
	o := Output{ID: r.id, TokenIDs: make([]int32, 0, len(emit))}
	reason := sequence.NotFinished
	for _, res := range emit {
		token := res.Token
		r.metrics.GeneratedTokens++
		o.TokenIDs = append(o.TokenIDs, token)
		if r.params.Logprobs > 0 {
			o.Logprobs = append(o.Logprobs, res)
		}
		switch {
		case slices.Contains(r.stopIDs, token):
			// The stop token's own text is never shown, as in vLLM. (Below
			// MinTokens the sampler never picks one.)
			reason = sequence.Stop
		case r.decoder != nil && r.metrics.GeneratedTokens < r.params.MinTokens:
			// Too early to stop: the text bypasses the stop-string matcher.
			o.Text += r.decoder.Push(token)
		case r.decoder != nil:
			text, stopped := r.stop.Push(r.decoder.Push(token))
			o.Text += text
			if stopped {
				reason = sequence.StopString
				if r.params.IncludeStopStrInOutput {
					o.Text += r.stop.Matched()
				}
			}
		}
		if reason == sequence.NotFinished && r.params.MaxTokens > 0 && r.metrics.GeneratedTokens >= r.params.MaxTokens {
			reason = sequence.Length
		}
		if reason != sequence.NotFinished {
			break
		}
	}
	if reason == sequence.NotFinished && seq.IsFinished() {
		reason = seq.FinishReason() // the scheduler ends sequences at the maximum length
	}
	if reason == sequence.NotFinished {
		o.Metrics = r.metrics
		return routed{o, r.sink}
	}
	if !seq.IsFinished() {
		_ = e.sched.Finish(seq, reason)
	}
	fin := e.finishLocked(r, reason, nil)
	fin.TokenIDs, fin.Logprobs = o.TokenIDs, o.Logprobs
	fin.Text = o.Text + fin.Text
	return fin
}

// finishLocked removes r from the engine and returns its final Output,
// carrying any text still held back by the decoder or the stop matcher.
// err, or else r.err, explains reasons Aborted and Error.
func (e *Engine) finishLocked(r *live, reason sequence.FinishReason, err error) routed {
	delete(e.reqs, r.id)
	if e.cfg.Speculative.Proposer != nil {
		e.released = append(e.released, r.id)
	}
	if err == nil {
		err = r.err
	}
	r.metrics.Finished = e.cfg.Clock()
	o := Output{ID: r.id, Finished: true, FinishReason: reason, Err: err, Metrics: r.metrics}
	if r.decoder != nil && reason != sequence.StopString {
		text, _ := r.stop.Push(r.decoder.Flush())
		if !r.stop.Stopped() {
			// What was held back as a possible stop string's start, which
			// now never will be completed.
			text += r.stop.Flush()
		}
		o.Text = text
	}
	return routed{o, r.sink}
}

// proposeLocked asks the proposer for guesses for every decoding request
// that may speculate, and hands them to the scheduler as seq.Proposals.
// The proposer runs without the lock, like the model.
func (e *Engine) proposeLocked() {
	prop := e.cfg.Speculative.Proposer
	for _, id := range e.released {
		prop.Release(id)
	}
	e.released = e.released[:0]
	ps := e.proposals[:0]
	for _, id := range slices.Sorted(maps.Keys(e.reqs)) {
		r := e.reqs[id]
		seq := r.seq
		seq.Proposals = seq.Proposals[:0]
		r.specProbs = nil
		if r.noSpec || seq.Status() != sequence.Running || seq.NumUncomputed() != 1 {
			continue
		}
		k := e.cfg.Speculative.NumTokens
		if r.params.MaxTokens > 0 {
			k = min(k, r.params.MaxTokens-seq.NumOutputTokens()-1)
		}
		k = min(k, e.cfg.Scheduler.MaxModelLen-seq.Len()-1)
		if k <= 0 {
			continue
		}
		if k = r.spec.next(k); k == 0 {
			continue
		}
		ps = append(ps, Proposal{ID: id, Context: seq.TokenIDs, Max: k, Params: &r.params, RNG: r.rng, Tokens: r.specTokens[:0]})
	}
	e.proposals = ps
	if len(ps) == 0 {
		return
	}
	e.mu.Unlock()
	err := prop.Propose(ps)
	e.mu.Lock()
	if err != nil {
		// Proposals only ever save time: a failing proposer costs the
		// step its speculation, never a request.
		e.specStats.errors++
		return
	}
	for i := range ps {
		p := &ps[i]
		r := e.reqs[p.ID]
		if r == nil || r.seq.Status() != sequence.Running || r.seq.NumUncomputed() != 1 {
			continue
		}
		n := min(len(p.Tokens), p.Max)
		if p.Probs != nil && len(p.Probs) < n {
			n = 0 // a sampled guess without its distribution cannot be verified
		}
		for _, t := range p.Tokens[:n] {
			if t < 0 || int(t) >= e.vocab {
				n = 0
			}
		}
		r.specTokens = p.Tokens
		r.seq.Proposals = append(r.seq.Proposals[:0], p.Tokens[:n]...)
		if p.Probs != nil && n > 0 {
			r.specProbs = p.Probs[:n]
		}
	}
}
