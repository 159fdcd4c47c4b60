package shaders

import "unsafe"

// The parameters of each kernel, as Go structs. Each mirrors the kernel's
// WGSL `struct Params` field by field, in the same order: Go's Rows is WGSL's
// rows, KVHeads is kv_heads; uint32 is u32, float32 is f32, int32 is i32.
// TestParamsMatchWGSL parses every .wgsl file and holds the two to that.
//
// Fields are 4 bytes each, so a struct's memory is the sequence of words
// the uniform block holds; Pack copies it into a parameter slot.

// AddParams are add.wgsl's parameters.
type AddParams struct {
	N uint32
}

// ArgmaxParams are argmax.wgsl's parameters.
type ArgmaxParams struct {
	Rows, Cols uint32
}

// AttentionParams are attention.wgsl's parameters.
type AttentionParams struct {
	Rows      uint32 // tokens in the step
	Heads     uint32 // query heads
	KVHeads   uint32
	HeadDim   uint32
	BlockSize uint32
	PosOff    uint32 // element offsets in the step metadata: Positions,
	SeqOff    uint32 //   the sequence index of each token,
	BtOff     uint32 //   and the block tables
	BtStride  uint32
	Scale     float32 // 1 / sqrt(head_dim)
}

// EmbedParams are embed.wgsl's parameters.
type EmbedParams struct {
	Rows   uint32 // tokens in the step
	Hidden uint32 // embedding width
	Row0   uint32 // first vocabulary row held by this buffer
	Row1   uint32 // one past the last
	TokOff uint32 // element offset of TokenIDs in the step metadata
}

// GatherParams are gather.wgsl's parameters.
type GatherParams struct {
	NRows   uint32 // number of rows to gather
	Cols    uint32 // row width
	RowsOff uint32 // element offset of the row list in the step metadata
}

// KVCacheParams are kvcache.wgsl's parameters.
type KVCacheParams struct {
	Rows    uint32 // tokens in the step
	KVDim   uint32 // KVHeads * HeadDim
	SlotOff uint32 // element offset of Slots in the step metadata
}

// LinearParams are the parameters of linear.wgsl and of its variant
// linear_bf16x8.wgsl.
type LinearParams struct {
	Rows  uint32 // rows of x (tokens)
	InF   uint32 // in_features
	OutF  uint32 // output features held by this weight buffer
	OutLd uint32 // row stride of out (all output features)
	Col0  uint32 // first output feature of this buffer
}

// RMSNormParams are rmsnorm.wgsl's parameters.
type RMSNormParams struct {
	Rows, Width uint32
	Eps         float32
}

// RopeParams are rope.wgsl's parameters.
type RopeParams struct {
	Rows    uint32 // tokens in the step
	Heads   uint32 // heads per row
	HeadDim uint32
	PosOff  uint32 // element offset of Positions in the step metadata
}

// SwiGLUParams are swiglu.wgsl's parameters.
type SwiGLUParams struct {
	N uint32
}

// TopKParams are topk.wgsl's parameters.
type TopKParams struct {
	Rows, Cols, K uint32
}

// ParamWords is the size of one dispatch's parameter block in 4-byte words
// (64 bytes): the most fields a Params struct may have.
const ParamWords = 16

// Params is the set of the kernels' parameter structs.
type Params interface {
	AddParams | ArgmaxParams | AttentionParams | EmbedParams | GatherParams |
		KVCacheParams | LinearParams | RMSNormParams | RopeParams | SwiGLUParams | TopKParams
}

// Pack returns p as the words of a parameter block: field i in word i
// (a float32 as its bits, as WGSL's bitcast would give them), zeros after.
// The recorder calls it for every dispatch, so it is a plain store of p
// over the first words of the block: no reflection, no allocation, no call.
// (Every Params struct is at most ParamWords 4-byte fields, without
// padding; TestParamsMatchWGSL checks it.)
func Pack[P Params](p P) (w [ParamWords]uint32) {
	*(*P)(unsafe.Pointer(&w)) = p
	return w
}
