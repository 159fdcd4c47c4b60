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

	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// DType is the element type of a weight tensor as it is stored on disk.
type DType uint8

// Weight element types. Activations are always float32.
//
// The quantized types hold ggml's blocks exactly as a GGUF file stores them,
// row after row: a [rows, cols] weight is rows*cols/BlockValues blocks, and
// every row starts on a block boundary (cols is a multiple of the block).
// core/quant describes each block layout and dequantizes it.
const (
	F32  DType = iota
	BF16       // bfloat16
	F16        // IEEE half precision
	Q8_0       // blocks of 32: fp16 scale, 32 int8
	Q4_0       // blocks of 32: fp16 scale, 16 bytes of 4-bit values (offset 8)
	Q4_K       // super-blocks of 256: 8 sub-blocks with 6-bit scales and mins, 4-bit values
	Q6_K       // super-blocks of 256: 16 sub-blocks with int8 scales, 6-bit values
)

// String returns the type's usual name: "f32", "bf16", "q8_0", ...
func (t DType) String() string {
	switch t {
	case F32:
		return "f32"
	case BF16:
		return "bf16"
	case F16:
		return "f16"
	case Q8_0:
		return "q8_0"
	case Q4_0:
		return "q4_0"
	case Q4_K:
		return "q4_k"
	case Q6_K:
		return "q6_k"
	}
	return fmt.Sprintf("dtype(%d)", uint8(t))
}

// Quantized reports whether t is one of ggml's block-quantized types.
func (t DType) Quantized() bool { return t >= Q8_0 && t <= Q6_K }

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

// ErrKVCacheDType is returned by NewKVCache for a KVCacheSpec.DType the
// device cannot store keys and values in.
var ErrKVCacheDType = errors.New("KV cache dtype not supported")

// KVCacheSpec is the shape of a paged KV cache.
type KVCacheSpec struct {
	Layers    int
	NumBlocks int
	BlockSize int
	KVHeads   int
	HeadDim   int
	// DType is the element type keys and values are stored in: F32 (the
	// zero value), or BF16 or F16, which halve the cache's memory and the
	// bytes attention reads. Attention still computes in float32.
	DType DType
}

// ElementBytes is the size of one stored key or value element: 4 for F32,
// 2 for BF16 and F16, 0 for a type a KV cache cannot hold.
func (s KVCacheSpec) ElementBytes() int64 {
	switch s.DType {
	case F32:
		return 4
	case BF16, F16:
		return 2
	}
	return 0
}

// Bytes is the memory the cache occupies for keys and values.
func (s KVCacheSpec) Bytes() int64 {
	return 2 * s.ElementBytes() * int64(s.Layers) * s.LayerFloats()
}

// SlotFloats is the size of one token's keys (or values) in one layer:
// KVHeads x HeadDim float32s.
func (s KVCacheSpec) SlotFloats() int { return s.KVHeads * s.HeadDim }

// LayerFloats is the size of one layer's keys (or values): every slot of
// every block. Each device lays a layer out in its own order (see its
// kvcache.go) but always in this many elements of DType.
func (s KVCacheSpec) LayerFloats() int64 {
	return int64(s.NumBlocks) * int64(s.BlockSize) * int64(s.SlotFloats())
}

// Shape is what step.Validate checks a step's block tables against.
func (s KVCacheSpec) Shape() step.CacheShape {
	return step.CacheShape{NumBlocks: s.NumBlocks, BlockSize: s.BlockSize}
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
// the step passed to the last BeginStep.
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

	// BeginStep starts a model step over s, whose keys and values live in
	// cache. It validates s against the cache (step.Validate), the one check
	// of the step's metadata: later operations trust it. WriteKV and
	// Attention must then be given this same cache.
	BeginStep(s *step.Step, cache KVCache) error

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
