// Package device defines the contract between the Qwen3 model and the
// hardware that runs it, the way database/sql/driver sits between
// database/sql and a database.
//
// The model (package qwen3) never touches numbers itself: it calls a Device
// for every operation of the forward pass. The CPU device (package cpu) is
// the reference implementation; the WebGPU device (package wasm/webgpu) must
// give the same results within float tolerance.
//
// Operations are asynchronous by contract: a Device may execute them at once
// (CPU) or record them and run the whole step at the next read (GPU). Only
// ReadFloats and ArgmaxRows return data to the caller, and they are the only
// points where a GPU device must wait.
package device

import (
	"errors"
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
)

// DType is the element type of a weight tensor as it is stored on disk.
type DType uint8

// Weight element types. Activations are always float32.
const (
	F32 DType = iota
	BF16
	F16
)

// Weight is a read-only parameter tensor resident on a device.
type Weight interface {
	// Shape is the logical row-major shape, e.g. [out_features, in_features].
	Shape() []int
}

// Buffer is a float32 activation buffer resident on a device.
type Buffer interface {
	// Len is the capacity in float32 elements.
	Len() int
}

// KVCache is the paged key/value store of every layer. Slot s of a layer
// holds the key and value vectors (KVHeads x HeadDim each) of one token.
type KVCache interface {
	Spec() KVCacheSpec
}

// KVCacheSpec is the shape of a paged KV cache.
type KVCacheSpec struct {
	Layers    int
	NumBlocks int
	BlockSize int
	KVHeads   int
	HeadDim   int
}

// Bytes is the memory the cache occupies for keys and values in float32.
func (s KVCacheSpec) Bytes() int64 {
	return 2 * 4 * int64(s.Layers) * int64(s.NumBlocks) * int64(s.BlockSize) * int64(s.KVHeads) * int64(s.HeadDim)
}

// Device runs the operations of a Qwen3 forward pass.
//
// Operations other than the allocators, BeginStep and the two reads return
// no error, because a recording device cannot know yet whether they will
// fail. A device that detects misuse during a step (a buffer too small, a
// slot outside the cache) remembers the first such error, skips the rest of
// the step, and returns the error from the step's next ReadFloats or
// ArgmaxRows; BeginStep clears it.
//
// Row-wise operations take the number of rows to process; the shapes of
// weights give the other dimensions. Operations that depend on the step's
// tokens (Embed, RoPE, WriteKV, Attention, GatherRows) read the metadata of
// the Batch passed to the last BeginStep.
type Device interface {
	// Name describes the device, e.g. "cpu (2 threads)" or "webgpu (swiftshader)".
	Name() string

	// UploadWeight makes a parameter tensor available to the device. data
	// holds the raw little-endian elements; the device may keep a reference
	// to it (the CPU device uses memory-mapped bf16 in place).
	UploadWeight(name string, dtype DType, shape []int, data []byte) (Weight, error)
	// NewBuffer allocates a float32 activation buffer of n elements.
	NewBuffer(n int) (Buffer, error)
	// NewKVCache allocates a paged KV cache.
	NewKVCache(spec KVCacheSpec) (KVCache, error)

	// BeginStep starts a model step over b.
	BeginStep(b *scheduler.Batch) error

	// Embed writes row TokenIDs[i] of table ([vocab, hidden]) to row i of out.
	Embed(out Buffer, table Weight)
	// RMSNorm normalises each of rows rows of x (width len(w)) and scales it
	// by w: out = x / sqrt(mean(x^2) + eps) * w. out may alias x.
	RMSNorm(out, x Buffer, w Weight, rows int, eps float32)
	// Linear computes out = x · wᵀ for rows rows: w is [out_features, in_features].
	Linear(out, x Buffer, w Weight, rows int)
	// RoPE rotates, in place, every head of each of rows rows of x
	// ([rows, heads*headDim]) by the position of that row's token, using the
	// non-interleaved rotate_half form with inv_freq = theta^(-2j/headDim).
	RoPE(x Buffer, rows, heads, headDim int, theta float64)
	// WriteKV stores row i of k and v ([rows, KVHeads*HeadDim]) at cache slot
	// Slots[i] of layer.
	WriteKV(cache KVCache, layer int, k, v Buffer, rows int)
	// Attention computes causal grouped-query attention of q ([rows,
	// heads*HeadDim]) against the cached keys and values of layer, through
	// each sequence's block table, scaled by 1/sqrt(HeadDim). Query head h
	// reads KV head h / (heads / KVHeads). out is [rows, heads*HeadDim].
	Attention(out, q Buffer, cache KVCache, layer, heads, rows int)
	// SwiGLU computes out = silu(gate) * up over n elements.
	SwiGLU(out, gate, up Buffer, n int)
	// Add computes dst += src over n elements.
	Add(dst, src Buffer, n int)
	// GatherRows copies rows LogitsRows[k] of x (width cols) to row k of out.
	GatherRows(out, x Buffer, cols int)

	// ReadFloats copies the first len(dst) elements of src to dst, running
	// whatever the device has recorded first.
	ReadFloats(dst []float32, src Buffer) error
	// ArgmaxRows returns the index of the largest of cols elements in each of
	// rows rows of src (lowest index on ties), running what is recorded first.
	ArgmaxRows(src Buffer, rows, cols int) ([]int32, error)
}

// ErrBadBatch reports a scheduler.Batch whose fields contradict each other.
var ErrBadBatch = errors.New("inconsistent batch")

// ValidateBatch checks the invariants every Device relies on, so that a
// malformed batch is rejected with a clear error before any kernel indexes
// memory with it: matching lengths, query ranges that partition the tokens,
// positions inside each sequence's context, block tables that cover the
// context, slots that agree with the block tables, and logits rows that name
// tokens of the step. It does not know the cache size; devices check block
// ids against their cache.
func ValidateBatch(b *scheduler.Batch) error {
	if b == nil {
		return fmt.Errorf("%w: nil batch", ErrBadBatch)
	}
	n := len(b.TokenIDs)
	if n == 0 {
		return fmt.Errorf("%w: no tokens", ErrBadBatch)
	}
	if len(b.Positions) != n || len(b.Slots) != n {
		return fmt.Errorf("%w: %d tokens but %d positions and %d slots", ErrBadBatch, n, len(b.Positions), len(b.Slots))
	}
	seqs := len(b.QueryStarts) - 1
	if seqs < 1 {
		return fmt.Errorf("%w: QueryStarts has %d entries, want at least 2", ErrBadBatch, len(b.QueryStarts))
	}
	if b.Seqs != nil && len(b.Seqs) != seqs {
		return fmt.Errorf("%w: %d sequences but %d query ranges", ErrBadBatch, len(b.Seqs), seqs)
	}
	if len(b.ContextLens) != seqs {
		return fmt.Errorf("%w: %d query ranges but %d context lengths", ErrBadBatch, seqs, len(b.ContextLens))
	}
	if b.BlockSize <= 0 || b.BlockTableStride <= 0 {
		return fmt.Errorf("%w: block size %d, block table stride %d", ErrBadBatch, b.BlockSize, b.BlockTableStride)
	}
	if len(b.BlockTables) != seqs*b.BlockTableStride {
		return fmt.Errorf("%w: block tables hold %d entries, want %d sequences x stride %d",
			ErrBadBatch, len(b.BlockTables), seqs, b.BlockTableStride)
	}
	if b.QueryStarts[0] != 0 || int(b.QueryStarts[seqs]) != n {
		return fmt.Errorf("%w: QueryStarts run from %d to %d, want 0 to %d", ErrBadBatch, b.QueryStarts[0], b.QueryStarts[seqs], n)
	}
	bs := int64(b.BlockSize)
	for i := range seqs {
		lo, hi := b.QueryStarts[i], b.QueryStarts[i+1]
		if hi <= lo {
			return fmt.Errorf("%w: sequence %d has query range [%d, %d)", ErrBadBatch, i, lo, hi)
		}
		ctx := int64(b.ContextLens[i])
		if ctx <= 0 || ctx > int64(b.BlockTableStride)*bs {
			return fmt.Errorf("%w: sequence %d has context length %d, block tables hold at most %d",
				ErrBadBatch, i, ctx, int64(b.BlockTableStride)*bs)
		}
		table := b.BlockTables[i*b.BlockTableStride : (i+1)*b.BlockTableStride]
		for k := range (ctx + bs - 1) / bs {
			if table[k] < 0 {
				return fmt.Errorf("%w: sequence %d has no block %d for context length %d", ErrBadBatch, i, k, ctx)
			}
		}
		for j := lo; j < hi; j++ {
			p := int64(b.Positions[j])
			if p < 0 || p >= ctx {
				return fmt.Errorf("%w: token %d of sequence %d at position %d, context length %d", ErrBadBatch, j, i, p, ctx)
			}
			if want := int64(table[p/bs])*bs + p%bs; int64(b.Slots[j]) != want {
				return fmt.Errorf("%w: token %d (sequence %d, position %d) has slot %d, block table says %d",
					ErrBadBatch, j, i, p, b.Slots[j], want)
			}
		}
	}
	if len(b.LogitsSeqs) != len(b.LogitsRows) {
		return fmt.Errorf("%w: %d logits rows but %d logits sequences", ErrBadBatch, len(b.LogitsRows), len(b.LogitsSeqs))
	}
	for k, r := range b.LogitsRows {
		if r < 0 || int(r) >= n {
			return fmt.Errorf("%w: logits row %d names token %d of %d", ErrBadBatch, k, r, n)
		}
		if s := b.LogitsSeqs[k]; s < 0 || int(s) >= seqs || r < b.QueryStarts[s] || r >= b.QueryStarts[s+1] {
			return fmt.Errorf("%w: logits row %d (token %d) is not in sequence %d", ErrBadBatch, k, r, s)
		}
	}
	return nil
}
