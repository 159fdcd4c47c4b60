package engine

import (
	"time"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
)

// Snapshot is a picture of the engine at one moment, read from the real
// scheduler and block manager: the KV block pool block by block, who owns
// each block, the scheduler's queues and the last step's batch. It is what
// the browser demo draws (docs/browser.md, "The inside view").
//
// Take one with Engine.SnapshotInto, which reuses the slices of the
// Snapshot it fills, so taking one every step allocates nothing once they
// have grown.
type Snapshot struct {
	// Time is when the snapshot was taken (Config.Clock).
	Time time.Time
	// BlockSize is the number of tokens per block.
	BlockSize int
	// Pool is the state of every block: Pool.States[i] is block i's.
	Pool block.PoolView
	// Owners holds, per block, the id of the first request (in the
	// snapshot's Running order) whose block table holds it; 0 when none
	// does. A block with Pool.RefCounts above 1 is shared: the same prompt
	// prefix, computed once, read by several requests.
	Owners []uint64
	// Running are the admitted requests in service order, Waiting the
	// queued ones (new, or preempted and waiting to be recomputed).
	Running, Waiting []SeqSnapshot
	// LastBatch is what the step running (or last run) computed.
	LastBatch scheduler.Batch
	// Preemptions counts every time a request lost its KV cache.
	Preemptions int64
	// Requests counts the requests ever accepted; ids run 1 to Requests.
	Requests uint64

	// tables backs the Blocks of Running and Waiting.
	tables []int32
}

// SeqSnapshot is one request as the scheduler sees it.
type SeqSnapshot struct {
	// ID is the request's id, as AddRequest returned it.
	ID uint64
	// Status is waiting, running or preempted.
	Status sequence.Status
	// Prompt is the prompt length in tokens, Len the length so far
	// (prompt and output), Computed how many leading tokens have their keys
	// and values in the KV cache, and Cached how many of those the prefix
	// cache supplied when it was last admitted.
	Prompt, Len, Computed, Cached int
	// Blocks is its block table: the physical blocks holding its tokens in
	// logical order. It points into the Snapshot's own storage.
	Blocks []int32
}

// Snapshot returns a new Snapshot of the engine.
func (e *Engine) Snapshot() *Snapshot {
	s := &Snapshot{}
	e.SnapshotInto(s)
	return s
}

// SnapshotInto fills s with the engine's state, reusing s's slices. It
// holds the engine's lock for O(blocks + requests) work, never while the
// model runs, so it may be called between steps or during one (it then
// shows the step in flight).
func (e *Engine) SnapshotInto(s *Snapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	blocks := e.sched.Blocks()
	s.Time = e.cfg.Clock()
	s.BlockSize = blocks.BlockSize()
	blocks.View(&s.Pool)
	n := len(s.Pool.States)
	if cap(s.Owners) >= n {
		s.Owners = s.Owners[:n]
		clear(s.Owners)
	} else {
		s.Owners = make([]uint64, n)
	}
	s.tables = s.tables[:0]
	s.Running = appendSeqs(s.Running[:0], e.sched.Running(), &s.tables)
	s.Waiting = appendSeqs(s.Waiting[:0], e.sched.Waiting(), &s.tables)
	// The tables slices point into s.tables, which may have moved as it
	// grew: point them again now that it is complete.
	off := 0
	for _, q := range [][]SeqSnapshot{s.Running, s.Waiting} {
		for i := range q {
			k := len(q[i].Blocks)
			q[i].Blocks = s.tables[off : off+k : off+k]
			off += k
			for _, id := range q[i].Blocks {
				if s.Owners[id] == 0 {
					s.Owners[id] = q[i].ID
				}
			}
		}
	}
	s.LastBatch = e.sched.LastBatch()
	s.Preemptions = e.sched.Stats().Preemptions
	s.Requests = e.nextID
}

// appendSeqs appends a SeqSnapshot per sequence, copying block tables into
// *tables (each Blocks is re-pointed by the caller once all are copied).
func appendSeqs(dst []SeqSnapshot, seqs func(func(*sequence.Sequence) bool), tables *[]int32) []SeqSnapshot {
	for seq := range seqs {
		ids := seq.Blocks.Blocks()
		*tables = append(*tables, ids...)
		dst = append(dst, SeqSnapshot{
			ID: seq.ID, Status: seq.Status(),
			Prompt: seq.NumPromptTokens, Len: seq.Len(), Computed: seq.NumComputed, Cached: seq.NumCached,
			Blocks: ids[:len(ids):len(ids)], // replaced by the caller
		})
	}
	return dst
}

// LastBatch describes the step running, or the last one run, as
// Snapshot.LastBatch does, without the rest of the picture: O(requests in
// the step), for recording every step.
func (e *Engine) LastBatch() scheduler.Batch {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sched.LastBatch()
}
