package cpu

import (
	"sync"
	"sync/atomic"
)

// pool runs loops across a fixed set of long-lived goroutines. Spawning a
// goroutine per operation would cost more than a decode-step matmul slice
// takes to compute; instead each parallel loop is published to the workers,
// the calling goroutine joins in, and items are handed out through an atomic
// counter so a core slowed by other processes simply takes fewer items.
type pool struct {
	workers []chan *job
	wg      sync.WaitGroup // running workers, for close
}

// job is one parallel loop: fn(i) for every i in [0, n).
type job struct {
	fn   func(i int)
	n    int64
	next atomic.Int64
	done sync.WaitGroup
}

// newPool starts threads-1 workers; the caller of run is the last thread.
func newPool(threads int) *pool {
	p := &pool{}
	for range max(threads-1, 0) {
		ch := make(chan *job, 1)
		p.workers = append(p.workers, ch)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range ch {
				j.work()
				j.done.Done()
			}
		}()
	}
	return p
}

// threads is the number of goroutines a loop runs on.
func (p *pool) threads() int { return len(p.workers) + 1 }

func (j *job) work() {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.fn(int(i))
	}
}

// run calls fn(i) for every i in [0, n) and returns when all calls have
// returned. Calls may run concurrently and in any order.
func (p *pool) run(n int, fn func(i int)) {
	if n <= 0 {
		return
	}
	if n == 1 || len(p.workers) == 0 {
		for i := range n {
			fn(i)
		}
		return
	}
	j := &job{fn: fn, n: int64(n)}
	helpers := min(len(p.workers), n-1)
	j.done.Add(helpers)
	for _, w := range p.workers[:helpers] {
		w <- j
	}
	j.work()
	j.done.Wait()
}

// close stops the workers. The pool must not be used afterwards.
func (p *pool) close() {
	for _, w := range p.workers {
		close(w)
	}
	p.wg.Wait()
	p.workers = nil
}

// rowsParallel splits rows into chunks for the pool when there is enough
// work to pay for the hand-off.
func (d *Device) rowsParallel(rows, width int, fn func(r int)) {
	if rows*width < 1<<15 || rows < 2 {
		for r := range rows {
			fn(r)
		}
		return
	}
	chunk := max(1, rows/(4*d.pool.threads()))
	d.pool.run((rows+chunk-1)/chunk, func(c int) {
		for r := c * chunk; r < min(rows, (c+1)*chunk); r++ {
			fn(r)
		}
	})
}
