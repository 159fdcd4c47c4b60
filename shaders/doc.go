// Package shaders holds the WGSL compute kernels of the WebGPU device.
//
// Each kernel is a .wgsl file embedded in the binary. A kernel that reads a
// weight tensor is written once against a `load_w(i)` function; Source
// prepends the definition of load_w for the weight's storage type, so the same
// text serves bfloat16 checkpoints (two values packed in each u32 and widened
// in the shader, which needs no shader-f16 support) and float32 weights.
// GGUF's quantized block formats (WeightQ8_0, WeightQ4_0, WeightQ4_K,
// WeightQ6_K) are injected the same way, from the files of blocks/: byte
// readers over the u32 words and, per format, load_w and the group loaders
// load_w8 and load_w32 that linear_q.wgsl is written against (quant.go).
//
// Go and WGSL are not kept in sync by hand:
//
//   - each kernel's `struct Params` has a Go twin (RopeParams, ...) with the
//     same fields in the same order, which Pack turns into the words of the
//     parameter block; a test parses the .wgsl files and checks the pairs;
//   - workgroup sizes and tile shapes are Go constants (ElementWG, GemvRows,
//     ...) that Source declares in each kernel as WGSL constants, so the
//     .wgsl files name them and never write their values.
//
// All kernels share two conventions, described in docs/webgpu.md:
//
//   - binding 0 is a small uniform block of parameters (sizes, offsets) that
//     the device writes once per step for all dispatches and selects with a
//     dynamic offset;
//   - a kernel that needs the step's token metadata (positions, slots, block
//     tables, ...) reads it from one array<i32> written once per step, at
//     element offsets passed in the parameters.
package shaders

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed *.wgsl
var files embed.FS

// WeightType is how a weight tensor's elements are stored in a GPU buffer.
type WeightType int

// Weight storage types.
const (
	// NoWeight is for kernels that read no weight.
	NoWeight WeightType = iota
	// WeightBF16 packs two bfloat16 values in each u32, low half first
	// (little-endian order of the checkpoint bytes).
	WeightBF16
	// WeightF32 stores one float32 per element.
	WeightF32
	// WeightF16 packs two IEEE half-precision values in each u32, low half
	// first. Weights are widened to float32 on upload; a KV cache of F16
	// is stored this way (see kv.go).
	WeightF16
)

// String names the type as it appears in pipeline labels.
func (t WeightType) String() string {
	if f, ok := blockFile[t]; ok {
		return f // a quantized type (quant.go)
	}
	switch t {
	case NoWeight:
		return "none"
	case WeightBF16:
		return "bf16"
	case WeightF32:
		return "f32"
	case WeightF16:
		return "f16"
	}
	return fmt.Sprintf("WeightType(%d)", int(t))
}

// bf16 widening is exact: a bfloat16 is the top 16 bits of a float32, so
// shifting it into the high half of a u32 and bitcasting gives the same number.
const loadBF16 = `
// load_w returns element i of the weight tensor w (bfloat16, two per u32).
fn load_w(i: u32) -> f32 {
    let word = w[i >> 1u];
    // Element 2k sits in the low half of word k, element 2k+1 in the high half.
    let bits = select(word << 16u, word & 0xffff0000u, (i & 1u) == 1u);
    return bitcast<f32>(bits);
}
`

const loadF32 = `
// load_w returns element i of the weight tensor w (float32).
fn load_w(i: u32) -> f32 {
    return bitcast<f32>(w[i]);
}
`

// Names lists the kernels, one per .wgsl file, without the extension.
func Names() []string {
	entries, err := files.ReadDir(".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".wgsl"))
	}
	return names
}

// Source returns the WGSL text of kernel name for weights stored as wt:
// the .wgsl file, then the declarations of its constants (workgroup sizes
// and the like, from the Go constants of this package) and, for a kernel
// that reads a weight, of load_w. For the two kernels that touch the KV
// cache, wt is the cache's element type and selects its loaders (kv.go).
// Appending keeps the line numbers of compiler messages those of the file;
// WGSL lets module-scope declarations come in any order. Kernels that read
// no weight must be asked for with NoWeight.
func Source(name string, wt WeightType) (string, error) {
	b, err := files.ReadFile(name + ".wgsl")
	if err != nil {
		return "", fmt.Errorf("shaders: unknown kernel %q: %w", name, err)
	}
	k, ok := kernels[name]
	if !ok {
		return "", fmt.Errorf("shaders: kernel %q is not declared in kernels.go", name)
	}
	src := string(b) + constDecls(k.consts)
	if strings.Contains(src, kvUses) {
		// A KV kernel: wt is the cache's element type.
		decls, err := kvDecls(name, wt)
		if err != nil {
			return "", err
		}
		return src + decls, nil
	}
	if wt.Quantized() || strings.Contains(src, blockUses) {
		return quantSource(name, src, wt)
	}
	uses := strings.Contains(src, "load_w(")
	switch {
	case wt == NoWeight && uses:
		return "", fmt.Errorf("shaders: kernel %q reads a weight; give its type", name)
	case wt != NoWeight && !uses:
		return "", fmt.Errorf("shaders: kernel %q reads no weight, got type %v", name, wt)
	case wt == WeightBF16:
		return src + loadBF16, nil
	case wt == WeightF32:
		return src + loadF32, nil
	}
	return src, nil
}
