package engine

import (
	"context"
	"fmt"
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
	rows := e.sampleLocked(plan, res)
	return e.commitLocked(plan, rows, outs)
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
		if r != nil && (!fastGreedy(&r.params) || r.suppress(seq) != nil) {
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

// sampleLocked picks each row's token with its request's own parameters
// and random source, so that a request's tokens do not depend on its
// batch. Rows of requests that ended while the model ran have a nil r.
func (e *Engine) sampleLocked(plan *scheduler.Plan, res modelResult) []rowWork {
	n := len(plan.Step.LogitsRows)
	rows := slices.Grow(e.rows[:0], n)[:n]
	e.rows = rows
	for k, si := range plan.Step.LogitsSeqs {
		seq := plan.Seqs[si]
		rows[k] = rowWork{r: e.reqs[seq.ID], seq: seq}
		if rows[k].r == nil || seq.Status() != sequence.Running {
			rows[k].r = nil // aborted while the model ran
		}
	}
	if res.argmax != nil {
		for k := range rows {
			rows[k].res.Token = res.argmax[k]
		}
	} else {
		e.sampleRows(rows, res.logits)
	}
	return rows
}

// commitLocked hands the sampled tokens to the scheduler (which appends
// them and commits the step's KV blocks to the prefix cache), fails the
// requests whose sampling failed, and applies every request's stop
// conditions, returning the step's outputs.
func (e *Engine) commitLocked(plan *scheduler.Plan, rows []rowWork, outs []routed) ([]routed, error) {
	n := len(rows)
	sampled := slices.Grow(e.sampled[:0], n)[:n]
	e.sampled = sampled
	var lps []*sampler.Result
	for k := range rows {
		w := &rows[k]
		sampled[k] = w.res.Token
		if w.r == nil {
			continue
		}
		if w.err != nil {
			w.r.err = fmt.Errorf("engine: sampling request %d: %w", w.r.id, w.err)
			_ = e.sched.Finish(w.seq, sequence.Error)
			outs = append(outs, e.finishLocked(w.r, sequence.Error, nil))
			continue
		}
		if w.r.params.Logprobs > 0 {
			if lps == nil {
				lps = make([]*sampler.Result, n)
			}
			lps[k] = &w.res
		}
	}
	if err := e.sched.Postprocess(plan, sampled); err != nil {
		return outs, fmt.Errorf("engine: %w", err)
	}
	now := e.cfg.Clock()
	for k, si := range plan.Step.LogitsSeqs {
		seq := plan.Seqs[si]
		r := e.reqs[seq.ID]
		if r == nil {
			continue
		}
		if seq.NumOutputTokens() == r.metrics.GeneratedTokens {
			continue // nothing appended: aborted or failed above
		}
		var lp *sampler.Result
		if lps != nil {
			lp = lps[k]
		}
		outs = append(outs, e.emitLocked(r, sampled[k], lp, now))
	}
	return outs, nil
}

// rowWork is one logits row to sample: the request it belongs to (nil if
// it ended while the model ran) and the outcome.
type rowWork struct {
	r   *live
	seq *sequence.Sequence
	res sampler.Result
	err error
}

// sampleRows samples every row of logits. Rows are independent (each has its
// request's own random source), so they are spread over up to GOMAXPROCS
// goroutines, each with its own Sampler and scratch buffers: the device's
// workers are idle meanwhile, and with a 151,936-token vocabulary a large
// batch spends milliseconds here. The outcome does not depend on the split.
func (e *Engine) sampleRows(rows []rowWork, logits []float32) {
	workers := min(runtime.GOMAXPROCS(0), len(rows))
	for len(e.samplers) < workers {
		e.samplers = append(e.samplers, sampler.New(e.vocab))
	}
	sample := func(s *sampler.Sampler, k int) {
		w := &rows[k]
		if w.r == nil {
			return
		}
		row := logits[k*e.vocab : (k+1)*e.vocab]
		h := sampler.History{Prompt: w.seq.Prompt(), Output: w.seq.Output(), Suppress: w.r.suppress(w.seq)}
		w.res, w.err = s.Sample(row, &w.r.params, h, w.r.rng)
	}
	if workers <= 1 {
		for k := range rows {
			sample(e.samplers[0], k)
		}
		return
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			// Interleaved rows balance the load when some requests use
			// cheap greedy decoding and others full filtering.
			for k := i; k < len(rows); k += workers {
				sample(e.samplers[i], k)
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

// emitLocked records that r generated token, applies the stop conditions,
// and returns the Output.
func (e *Engine) emitLocked(r *live, token int32, lp *sampler.Result, now time.Time) routed {
	seq := r.seq
	r.metrics.GeneratedTokens = seq.NumOutputTokens()
	if r.metrics.FirstToken.IsZero() {
		r.metrics.FirstToken = now
	}
	r.metrics.LastToken = now
	o := Output{ID: r.id, TokenIDs: []int32{token}}
	if lp != nil {
		o.Logprobs = []sampler.Result{*lp}
	}

	reason := sequence.NotFinished
	switch {
	case slices.Contains(r.stopIDs, token):
		// The stop token's own text is never shown, as in vLLM. (Below
		// MinTokens the sampler never picks one.)
		reason = sequence.Stop
	case r.decoder != nil && seq.NumOutputTokens() < r.params.MinTokens:
		// Too early to stop: the text bypasses the stop-string matcher.
		o.Text = r.decoder.Push(token)
	case r.decoder != nil:
		text, stopped := r.stop.Push(r.decoder.Push(token))
		o.Text = text
		if stopped {
			reason = sequence.StopString
			if r.params.IncludeStopStrInOutput {
				o.Text += r.stop.Matched()
			}
		}
	}
	if reason == sequence.NotFinished {
		switch {
		case seq.IsFinished(): // the scheduler ends sequences at the maximum length
			reason = seq.FinishReason()
		case r.params.MaxTokens > 0 && seq.NumOutputTokens() >= r.params.MaxTokens:
			reason = sequence.Length
		}
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
