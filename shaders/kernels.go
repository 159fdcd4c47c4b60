package shaders

import (
	"fmt"
	"strings"
)

// Workgroup sizes and tile shapes, in threads. The device sizes its dispatch
// grids with them and Source declares them in the kernels as WGSL constants
// (see kernels below), so that the two cannot disagree.
const (
	// ElementWG is the workgroup size of the kernels with one thread per
	// element: add, swiglu, embed, gather, kvcache and rope.
	ElementWG = 256
	// RowWG is the workgroup size of the kernels with one workgroup per
	// row, whose threads reduce the row together: rmsnorm's main, argmax
	// and topk.
	RowWG = 256
	// ThreadWG is the workgroup size of the barrier-free "thread" entry
	// points, with one thread per row, output feature or (token, head).
	ThreadWG = 64
	// AttentionWG is the number of threads cooperating on one (token,
	// head) in attention's main; keys are visited in tiles of that many.
	AttentionWG = 64
	// AttentionMaxHeadDim is the largest head_dim attention handles (the
	// size of its per-head arrays).
	AttentionMaxHeadDim = 256
	// GemvWG is the number of threads cooperating on one output feature in
	// the decode matmuls (linear and linear_bf16x8 gemv).
	GemvWG = 64
	// GemvRows is the most rows (tokens) one gemv dispatch computes;
	// linear_bf16x8's gemv_thread takes rows GemvRows at a time.
	GemvRows = 8
	// GemmTile is the side of the square output tile of linear's gemm,
	// computed by a workgroup of (GemmTile/2)² threads, 2x2 outputs each.
	GemmTile = 32
)

// Const is a WGSL constant that Source declares in a kernel.
type Const struct {
	Name  string // as the .wgsl file uses it
	Value uint32
}

// kernel is what the Go side declares about one .wgsl file.
type kernel struct {
	params any     // the zero value of its Params struct
	consts []Const // declared by Source as `const Name: u32 = Value;`
}

// kernels lists every .wgsl file by name.
var kernels = map[string]kernel{
	"add":           {AddParams{}, []Const{{"WG", ElementWG}}},
	"argmax":        {ArgmaxParams{}, []Const{{"WG", RowWG}}},
	"attention":     {AttentionParams{}, []Const{{"WG", AttentionWG}, {"THREAD_WG", ThreadWG}, {"MAX_HEAD_DIM", AttentionMaxHeadDim}}},
	"embed":         {EmbedParams{}, []Const{{"WG", ElementWG}}},
	"gather":        {GatherParams{}, []Const{{"WG", ElementWG}}},
	"kvcache":       {KVCacheParams{}, []Const{{"WG", ElementWG}}},
	"linear":        {LinearParams{}, []Const{{"GV_WG", GemvWG}, {"GV_ROWS", GemvRows}, {"GEMM_TILE", GemmTile}, {"THREAD_WG", ThreadWG}}},
	"linear_bf16x8": {LinearParams{}, []Const{{"GV_WG", GemvWG}, {"GV_ROWS", GemvRows}, {"THREAD_WG", ThreadWG}}},
	"linear_q":      {LinearParams{}, []Const{{"GV_WG", GemvWG}, {"GV_ROWS", GemvRows}, {"GEMM_TILE", GemmTile}, {"THREAD_WG", ThreadWG}}},
	"linear_q_sg":   {LinearParams{}, []Const{{"GV_WG", GemvWG}, {"GV_ROWS", GemvRows}}},
	"rmsnorm":       {RMSNormParams{}, []Const{{"WG", RowWG}, {"THREAD_WG", ThreadWG}}},
	"rope":          {RopeParams{}, []Const{{"WG", ElementWG}}},
	"swiglu":        {SwiGLUParams{}, []Const{{"WG", ElementWG}}},
	"topk":          {TopKParams{}, []Const{{"WG", RowWG}}},
}

// constDecls is the WGSL text declaring consts.
func constDecls(consts []Const) string {
	var b strings.Builder
	b.WriteString("\n// Declared by shaders.Source from the Go constants that size the dispatches.\n")
	for _, c := range consts {
		fmt.Fprintf(&b, "const %s: u32 = %du;\n", c.Name, c.Value)
	}
	return b.String()
}
