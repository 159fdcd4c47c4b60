package shaders

import (
	"embed"
	"fmt"
	"strings"
)

// The quantized weight types: GGUF's block formats, stored in GPU memory
// byte for byte as in the file, in array<u32> buffers. Source gives a
// kernel that reads them the byte readers of blocks/bytes.wgsl and the
// format's file in blocks/, which defines load_w(i) (one weight, for
// kernels written against it such as embed) and load_w8(i) (8 consecutive
// weights, for linear_q). Their values leave room for other float types.
const (
	// WeightQ8_0 is ggml's Q8_0: blocks of 32 int8 with an fp16 scale, 34
	// bytes.
	WeightQ8_0 WeightType = iota + 16
	// WeightQ4_0 is ggml's Q4_0: blocks of 32 4-bit values with an fp16
	// scale, 18 bytes.
	WeightQ4_0
	// WeightQ4_K is ggml's Q4_K: super-blocks of 256 4-bit values in 8
	// sub-blocks with 6-bit scales and mins, 144 bytes.
	WeightQ4_K
	// WeightQ6_K is ggml's Q6_K: super-blocks of 256 6-bit values in 16
	// sub-blocks with int8 scales, 210 bytes.
	WeightQ6_K
)

//go:embed blocks/*.wgsl
var blockFiles embed.FS

// blockFile names the format file of each quantized type.
var blockFile = map[WeightType]string{
	WeightQ8_0: "q8_0",
	WeightQ4_0: "q4_0",
	WeightQ4_K: "q4_k",
	WeightQ6_K: "q6_k",
}

// Quantized reports whether t is a block format.
func (t WeightType) Quantized() bool {
	_, ok := blockFile[t]
	return ok
}

// blockUses is the text whose presence marks a kernel written against
// blocks of 8 weights (load_w8), which only the quantized types define.
const blockUses = "load_w8("

// quantSource completes src, the text of kernel name, for weights of type
// wt when either is about quantized blocks: a kernel that calls load_w8
// needs a quantized type, and a quantized type needs a kernel that reads a
// weight.
func quantSource(name, src string, wt WeightType) (string, error) {
	file, ok := blockFile[wt]
	if !ok {
		return "", fmt.Errorf("shaders: kernel %q reads quantized blocks; give a quantized type, got %v", name, wt)
	}
	if !strings.Contains(src, "load_w(") && !strings.Contains(src, blockUses) {
		return "", fmt.Errorf("shaders: kernel %q reads no weight, got type %v", name, wt)
	}
	bytes, err := blockFiles.ReadFile("blocks/bytes.wgsl")
	if err != nil {
		return "", fmt.Errorf("shaders: %w", err)
	}
	format, err := blockFiles.ReadFile("blocks/" + file + ".wgsl")
	if err != nil {
		return "", fmt.Errorf("shaders: %w", err)
	}
	return src + "\n// Declared by shaders.Source for " + wt.String() + " weights.\n" + string(bytes) + string(format), nil
}
