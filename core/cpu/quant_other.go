//go:build !amd64 || purego

package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// simdIntKernel has no assembly kernels to offer in this build: the
// portable Go ones run.
func simdIntKernel(is isa, t device.DType) (intKernel, bool) { return intKernel{}, false }
