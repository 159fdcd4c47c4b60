package cpu

import (
	"sync"
	"sync/atomic"
	"time"
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
	left atomic.Int32 // helpers still working
	done sync.WaitGroup
}

// spinFor is how long an idle worker, and a caller waiting for its
// helpers, poll before they block. A decode step calls the pool a few
// hundred times with short serial work in between; a blocked goroutine's
// thread goes to sleep, and waking it (on a virtual machine especially)
// takes tens of microseconds each time: with quantized weights at batch 1
// that was a third of the step's matmul time (22.6 vs 31.4 tokens/s of
// BenchmarkQuantDecodeMatmuls). Polling for a while keeps the cores awake
// between the loops of a step, as llama.cpp's busy-waiting threads do,
// and still lets them sleep once the device is idle.
const spinFor = 200 * time.Microsecond

// receive waits for the next job on ch, polling for spinFor before it
// blocks; ok is false once ch is closed.
func receive(ch chan *job) (j *job, ok bool) {
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case j, ok = <-ch:
			return j, ok
		default:
		}
		if i%64 == 63 && time.Since(start) > spinFor {
			break
		}
	}
	j, ok = <-ch
	return j, ok
}

// await returns once j's helpers are done, polling for spinFor first.
func (j *job) await() {
	start := time.Now()
	for i := 0; j.left.Load() > 0; i++ {
		if i%256 == 255 && time.Since(start) > spinFor {
			break
		}
	}
	j.done.Wait()
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
			for {
				j, ok := receive(ch)
				if !ok {
					return
				}
				j.work()
				// Done before left: await sees left reach 0 only once
				// done is 0 too, so its Wait returns at once. In the
				// other order the caller could call Wait between the
				// two, park, and be made runnable on this worker's P,
				// where it waited behind the polling worker until
				// another thread stole it: about 100 µs, in one loop of
				// ten (a 90th percentile of 100 µs, against 1 µs now).
				j.done.Done()
				j.left.Add(-1)
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
	j.left.Store(int32(helpers))
	for _, w := range p.workers[:helpers] {
		w <- j
	}
	j.work()
	j.await()
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
