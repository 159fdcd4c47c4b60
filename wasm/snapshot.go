package main

import (
	"strconv"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/engine"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
)

// The inside view's data: what snapshot() hands the page, built from
// engine.Snapshot as compact JSON (one character per KV block, block tables
// as arrays of ids) so that polling it ten times a second costs little even
// for a pool of thousands of blocks. docs/browser.md describes each field.

// maxStepRecords is how many per-step records snapshot() returns at most:
// the steps run since the previous call, newest last.
const maxStepRecords = 128

// stepRecord is one engine step as the step loop saw it.
type stepRecord struct {
	// At is when the step ended, in milliseconds since the Unix epoch; Ms
	// is how long it took.
	At, Ms float64
	// Batch is what the step computed.
	Batch scheduler.Batch
	// Tokens is how many tokens the step emitted; Preemptions how many
	// times a request lost its KV cache while planning it.
	Tokens      int
	Preemptions int64
}

// inspector turns engine snapshots into the page's JSON, remembering the
// previous snapshot's block generations (to list the blocks handed out anew
// since) and the steps recorded since. Its buffers are reused.
type inspector struct {
	snap     engine.Snapshot
	prevGens []uint32
	prevSt   []block.State
	steps    []stepRecord // ring of the latest maxStepRecords
	next     int          // steps recorded in all
	sent     int          // steps recorded when the previous snapshot was sent
	evicted  int64
	lastPre  int64
	buf      []byte
}

// record notes one step.
func (in *inspector) record(r stepRecord) {
	r.Preemptions -= in.lastPre
	in.lastPre += r.Preemptions
	if len(in.steps) < maxStepRecords {
		in.steps = append(in.steps, r)
	} else {
		in.steps[in.next%maxStepRecords] = r
	}
	in.next++
}

// counters are the cumulative numbers the page shows beside the picture.
type counters struct {
	Steps, Tokens int64
}

// encode takes a snapshot of eng and returns it as JSON.
func (in *inspector) encode(eng *engine.Engine, c counters) []byte {
	s := &in.snap
	eng.SnapshotInto(s)
	n := len(s.Pool.States)
	b := in.buf[:0]
	b = append(b, `{"time_ms":`...)
	b = strconv.AppendFloat(b, float64(s.Time.UnixNano())/1e6, 'f', 1, 64)
	b = append(b, `,"block_size":`...)
	b = strconv.AppendInt(b, int64(s.BlockSize), 10)
	b = append(b, `,"num_blocks":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	// One character per block: . empty, c cached-free (in the prefix
	// cache, reusable), u used by one request, s shared by several.
	b = append(b, `,"states":"`...)
	for i, st := range s.Pool.States {
		switch {
		case st == block.Used && s.Pool.RefCounts[i] > 1:
			b = append(b, 's')
		case st == block.Used:
			b = append(b, 'u')
		case st == block.Cached:
			b = append(b, 'c')
		default:
			b = append(b, '.')
		}
	}
	b = append(b, '"')
	// Blocks handed out anew since the previous snapshot (their contents
	// replaced); those that were cached-free were evicted from the prefix
	// cache.
	b = append(b, `,"reused":[`...)
	if len(in.prevGens) == n {
		k := 0
		for i, g := range s.Pool.Gens {
			if g == in.prevGens[i] {
				continue
			}
			if in.prevSt[i] == block.Cached {
				in.evicted++
			}
			if k < 4096 {
				if k > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, int64(i), 10)
			}
			k++
		}
	}
	b = append(b, ']')
	in.prevGens = append(in.prevGens[:0], s.Pool.Gens...)
	in.prevSt = append(in.prevSt[:0], s.Pool.States...)
	b = append(b, `,"running":`...)
	b = appendSeqs(b, s.Running)
	b = append(b, `,"waiting":`...)
	b = appendSeqs(b, s.Waiting)
	b = append(b, `,"last_batch":`...)
	b = appendBatch(b, s.LastBatch)
	b = append(b, `,"steps":[`...)
	from := max(in.sent, in.next-len(in.steps))
	for k := from; k < in.next; k++ {
		r := in.steps[k%maxStepRecords]
		if k > from {
			b = append(b, ',')
		}
		b = append(b, `{"at":`...)
		b = strconv.AppendFloat(b, r.At, 'f', 1, 64)
		b = append(b, `,"ms":`...)
		b = strconv.AppendFloat(b, r.Ms, 'f', 2, 64)
		b = append(b, `,"tokens":`...)
		b = strconv.AppendInt(b, int64(r.Tokens), 10)
		b = append(b, `,"preemptions":`...)
		b = strconv.AppendInt(b, r.Preemptions, 10)
		b = append(b, `,"batch":`...)
		b = appendBatch(b, r.Batch)
		b = append(b, '}')
	}
	in.sent = in.next
	b = append(b, `],"counters":{"steps":`...)
	b = strconv.AppendInt(b, c.Steps, 10)
	b = append(b, `,"tokens":`...)
	b = strconv.AppendInt(b, c.Tokens, 10)
	b = append(b, `,"preemptions":`...)
	b = strconv.AppendInt(b, s.Preemptions, 10)
	b = append(b, `,"requests":`...)
	b = strconv.AppendUint(b, s.Requests, 10)
	b = append(b, `,"evicted_blocks":`...)
	b = strconv.AppendInt(b, in.evicted, 10)
	b = append(b, `,"prefix_query_tokens":`...)
	b = strconv.AppendInt(b, s.Pool.Stats.PrefixQueryTokens, 10)
	b = append(b, `,"prefix_hit_tokens":`...)
	b = strconv.AppendInt(b, s.Pool.Stats.PrefixHitTokens, 10)
	b = append(b, `,"used_blocks":`...)
	b = strconv.AppendInt(b, int64(s.Pool.Stats.Used), 10)
	b = append(b, `,"cached_blocks":`...)
	b = strconv.AppendInt(b, int64(s.Pool.Stats.Cached), 10)
	b = append(b, `}}`...)
	in.buf = b
	return b
}

func appendSeqs(b []byte, q []engine.SeqSnapshot) []byte {
	b = append(b, '[')
	for i, s := range q {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendUint(b, s.ID, 10)
		b = append(b, `,"status":"`...)
		b = append(b, s.Status.String()...)
		b = append(b, `","prompt":`...)
		b = strconv.AppendInt(b, int64(s.Prompt), 10)
		b = append(b, `,"len":`...)
		b = strconv.AppendInt(b, int64(s.Len), 10)
		b = append(b, `,"computed":`...)
		b = strconv.AppendInt(b, int64(s.Computed), 10)
		b = append(b, `,"cached":`...)
		b = strconv.AppendInt(b, int64(s.Cached), 10)
		b = append(b, `,"blocks":[`...)
		for j, id := range s.Blocks {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(id), 10)
		}
		b = append(b, "]}"...)
	}
	return append(b, ']')
}

func appendBatch(b []byte, x scheduler.Batch) []byte {
	b = append(b, `{"seqs":`...)
	b = strconv.AppendInt(b, int64(x.Seqs), 10)
	b = append(b, `,"decode_seqs":`...)
	b = strconv.AppendInt(b, int64(x.DecodeSeqs), 10)
	b = append(b, `,"decode_tokens":`...)
	b = strconv.AppendInt(b, int64(x.DecodeTokens), 10)
	b = append(b, `,"prefill_tokens":`...)
	b = strconv.AppendInt(b, int64(x.PrefillTokens), 10)
	b = append(b, `,"preempted":`...)
	b = strconv.AppendBool(b, x.Preempted)
	return append(b, '}')
}
