//go:build js && wasm

package webgpu

import (
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/shaders"
)

// quantTypes maps the GGUF block formats the device runs in place to their
// shader weight types. Their blocks are uploaded byte for byte, as the file
// or core/quant lays them out, and dequantized by the kernels.
var quantTypes = map[device.DType]shaders.WeightType{
	device.Q8_0: shaders.WeightQ8_0,
	device.Q4_0: shaders.WeightQ4_0,
	device.Q4_K: shaders.WeightQ4_K,
	device.Q6_K: shaders.WeightQ6_K,
}
