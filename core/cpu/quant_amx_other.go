//go:build !amd64 || purego

package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// simdDequantBF16 reports false: no assembly dequantizer in this build.
func simdDequantBF16(is isa, t device.DType, dst []uint16, src []byte) bool { return false }
