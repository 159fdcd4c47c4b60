package engine

import (
	"context"
	"errors"
	"sync"

	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// mailbox receives one request's Outputs from whichever goroutine runs the
// step, for the goroutine waiting on the request to take.
type mailbox struct {
	mu   sync.Mutex
	outs []Output
}

func (m *mailbox) put(o Output) {
	m.mu.Lock()
	m.outs = append(m.outs, o)
	m.mu.Unlock()
}

func (m *mailbox) take() []Output {
	m.mu.Lock()
	defer m.mu.Unlock()
	outs := m.outs
	m.outs = nil
	return outs
}

// watch wraps req's OnOutput so that its outputs also reach box.
func watch(req Request, box *mailbox) Request {
	user := req.OnOutput
	req.OnOutput = func(o Output) {
		box.put(o)
		if user != nil {
			user(o)
		}
	}
	return req
}

// Generate runs reqs to completion with continuous batching and returns
// their results in the order of reqs. A request the engine rejects gets
// FinishReason Error and the reason in its Result's Err; the others still
// run. Generate drives the engine itself, so it needs no other goroutine
// calling Step, and it returns once all of reqs have finished, whatever
// other requests the engine is running.
//
// When ctx is done, the unfinished requests are aborted and Generate
// returns the results so far with ctx's error. An error of the model fails
// the requests of that step only; Generate goes on with the others and
// returns the first such error with the results.
func (e *Engine) Generate(ctx context.Context, reqs []Request) ([]Result, error) {
	cols := make([]collector, len(reqs))
	boxes := make([]mailbox, len(reqs))
	ids := make([]uint64, len(reqs))
	remaining := 0
	for i, req := range reqs {
		id, prompt, err := e.add(ctx, watch(req, &boxes[i]))
		if err != nil {
			cols[i].res = Result{FinishReason: sequence.Error, Err: err}
			cols[i].done = true
			continue
		}
		ids[i] = id
		cols[i].res.PromptTokenIDs = prompt
		remaining++
	}
	collect := func() {
		for i := range boxes {
			for _, o := range boxes[i].take() {
				cols[i].add(o)
				if o.Finished {
					remaining--
				}
			}
		}
	}
	var firstErr error
	for remaining > 0 {
		if ctx.Err() != nil {
			for i, c := range cols {
				if !c.done {
					_ = e.Abort(ids[i])
				}
			}
			e.deliverPending()
			collect()
			return results(cols), ctx.Err()
		}
		_, err := e.Step(ctx)
		if err != nil && firstErr == nil && !errors.Is(err, ctx.Err()) {
			firstErr = err
		}
		collect()
	}
	return results(cols), firstErr
}

func results(cols []collector) []Result {
	out := make([]Result, len(cols))
	for i := range cols {
		out[i] = cols[i].res
	}
	return out
}

// Stream runs one request to completion, calling fn with each of its
// Outputs as it is produced, on the calling goroutine: print Output.Text as
// it comes for a typing effect. If fn returns an error the request is
// aborted and Stream returns that error. Otherwise Stream returns the
// request's Result once it finishes, with the same rules as Generate for
// ctx and errors; a request the engine rejects returns its error.
func (e *Engine) Stream(ctx context.Context, req Request, fn func(Output) error) (Result, error) {
	var box mailbox
	id, prompt, err := e.add(ctx, watch(req, &box))
	if err != nil {
		return Result{FinishReason: sequence.Error, Err: err}, err
	}
	col := collector{res: Result{ID: id, PromptTokenIDs: prompt}}
	var stepErr error
	deliver := func() error {
		for _, o := range box.take() {
			col.add(o)
			if fn != nil {
				if err := fn(o); err != nil {
					if !o.Finished {
						_ = e.Abort(id)
						e.deliverPending()
						for _, o := range box.take() {
							col.add(o)
						}
					}
					return err
				}
			}
		}
		return nil
	}
	for !col.done {
		if ctx.Err() != nil {
			_ = e.Abort(id)
			e.deliverPending()
			_ = deliver()
			return col.res, ctx.Err()
		}
		if _, err := e.Step(ctx); err != nil && stepErr == nil && !errors.Is(err, ctx.Err()) {
			stepErr = err
		}
		if err := deliver(); err != nil {
			return col.res, err
		}
	}
	return col.res, stepErr
}

// deliverPending hands the Outputs of requests finished outside a step
// (aborts) to their callbacks without running a step.
func (e *Engine) deliverPending() {
	e.stepMu.Lock()
	defer e.stepMu.Unlock()
	e.mu.Lock()
	outs := e.pending
	e.pending = nil
	e.mu.Unlock()
	for _, o := range outs {
		if o.sink != nil {
			o.sink(o.Output)
		}
	}
}
