package openai

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
)

// Why a request ended early, as the cause of its context or run's error.
var (
	errShuttingDown = &apiError{status: http.StatusServiceUnavailable, typ: typeUnavailable, message: "the server is shutting down"}
	errSlowClient   = errors.New("the client did not read its stream fast enough")
)

// seqSpec is one engine request of an API request.
type seqSpec struct {
	prompt []int32
	params sampler.Params
	// after is the sequence whose first output this one waits for, so that
	// it finds that one's prompt in the prefix cache; -1 starts at once.
	after int
}

// consumer turns one API request's outputs into its response. run calls
// begin once every sequence that starts at once has been accepted, output
// with each output in order, and flush after each batch of outputs.
type consumer interface {
	begin() error
	output(seq int, o engine.Output) error
	flush() error
}

// event is one output of sequence seq.
type event struct {
	seq int
	out engine.Output
}

// queue carries one API request's outputs from the goroutine running the
// engine's steps to the request's handler. With a limit, it holds at most
// limit unfinished outputs per sequence: a sequence whose client falls
// further behind is aborted (slow), so the engine never waits for a client
// and a stalled one costs bounded memory.
type queue struct {
	mu     sync.Mutex
	events []event
	count  []int  // per sequence, outputs queued and not yet taken
	slow   []bool // per sequence, aborted for falling behind
	ready  chan struct{}
	limit  int // 0: no limit
	abort  func(id uint64)
}

func newQueue(n, limit int, abort func(id uint64)) *queue {
	return &queue{count: make([]int, n), slow: make([]bool, n), ready: make(chan struct{}, 1), limit: limit, abort: abort}
}

// sink is sequence seq's engine.Request.OnOutput. It never blocks.
func (q *queue) sink(seq int, observe func(engine.Output)) func(engine.Output) {
	return func(o engine.Output) {
		observe(o)
		q.mu.Lock()
		if !o.Finished && q.limit > 0 && q.count[seq] >= q.limit {
			first := !q.slow[seq]
			q.slow[seq] = true
			q.mu.Unlock()
			if first {
				q.abort(o.ID) // its final output follows with the next step
			}
			return
		}
		q.events = append(q.events, event{seq, o})
		q.count[seq]++
		q.mu.Unlock()
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
}

// take returns the queued outputs, oldest first.
func (q *queue) take() []event {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs := q.events
	q.events = nil
	for _, ev := range evs {
		q.count[ev.seq]--
	}
	return evs
}

func (q *queue) isSlow(seq int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.slow[seq]
}

// run starts seqs in the engine and feeds their outputs to c, on the
// calling goroutine, until every one has finished. When ctx is done, or c
// fails, the sequences still running are aborted at once, freeing their KV
// blocks, and run returns the reason. An error adding a sequence is
// returned as is, before anything reached c. A sequence more than limit
// outputs behind is aborted and fails run with errSlowClient; limit 0 (for
// a response written only at the end) waits for every output.
func (s *Server) run(ctx context.Context, seqs []seqSpec, limit int, c consumer) error {
	ids := make([]uint64, len(seqs))
	started := make([]bool, len(seqs))
	done := make([]bool, len(seqs))
	seen := make([]bool, len(seqs))
	q := newQueue(len(seqs), limit, func(id uint64) { _ = s.eng.Abort(id) })

	abortAll := func() {
		for i := range seqs {
			if started[i] && !done[i] {
				_ = s.eng.Abort(ids[i]) // it may have finished meanwhile
			}
		}
		s.kick() // to report the aborts (metrics), though nobody reads them here
	}
	start := func(i int) error {
		id, err := s.eng.AddRequest(ctx, engine.Request{
			PromptIDs: seqs[i].prompt,
			Params:    seqs[i].params,
			OnOutput:  q.sink(i, s.metrics.observe),
		})
		if err != nil {
			return err
		}
		ids[i], started[i] = id, true
		return nil
	}
	for i := range seqs {
		if seqs[i].after < 0 {
			if err := start(i); err != nil {
				abortAll()
				return err
			}
		}
	}
	s.kick()
	if err := c.begin(); err != nil {
		abortAll()
		return err
	}

	remaining := len(seqs)
	for remaining > 0 {
		select {
		case <-ctx.Done():
			abortAll()
			return context.Cause(ctx)
		case <-q.ready:
		}
		for _, ev := range q.take() {
			if !seen[ev.seq] {
				seen[ev.seq] = true
				if err := s.startAfter(ev.seq, seqs, started, start); err != nil {
					abortAll()
					return err
				}
			}
			if ev.out.Finished {
				done[ev.seq] = true
				remaining--
				if q.isSlow(ev.seq) {
					abortAll()
					return errSlowClient
				}
			}
			if err := c.output(ev.seq, ev.out); err != nil {
				abortAll()
				return err
			}
		}
		if err := c.flush(); err != nil {
			abortAll()
			return err
		}
	}
	return nil
}

// startAfter starts the sequences waiting for seq's first output.
func (s *Server) startAfter(seq int, seqs []seqSpec, started []bool, start func(int) error) error {
	added := false
	for j := range seqs {
		if seqs[j].after == seq && !started[j] {
			if err := start(j); err != nil {
				return err
			}
			added = true
		}
	}
	if added {
		s.kick()
	}
	return nil
}

// requestContext is r's context, also cancelled when the server closes.
func (s *Server) requestContext(r *http.Request) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(s.base, func() { cancel(errShuttingDown) })
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// choices expands prompts into n sequences each, choice j of prompt i at
// index i*n+j. Choice 0 of each prompt starts at once and the others once
// it is prefilled; with a seed, choice j samples with seed+j, so that the
// choices differ and the response is reproducible.
func choices(prompts [][]int32, maxTokens []int, p sampler.Params, n int) []seqSpec {
	seqs := make([]seqSpec, 0, len(prompts)*n)
	for i, prompt := range prompts {
		for j := range n {
			sp := seqSpec{prompt: prompt, params: p.Clone(), after: -1}
			sp.params.MaxTokens = maxTokens[i]
			if j > 0 {
				sp.after = i * n
				if p.Seed != nil {
					seed := *p.Seed + uint64(j)
					sp.params.Seed = &seed
				}
			}
			seqs = append(seqs, sp)
		}
	}
	return seqs
}
