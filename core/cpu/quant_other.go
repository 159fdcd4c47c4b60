//go:build !amd64 || purego

package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// simdIntKernel has no assembly kernels to offer in this build: the
// portable Go ones run.
func simdIntKernel(is isa, t device.DType, nb int) (intKernel, bool) { return intKernel{}, false }

// simdQuantQ8 reports false: no assembly quantizer in this build.
func simdQuantQ8(is isa, x []float32, xq []int8, xd []float32, za []byte, c int, layout zactLayout) bool {
	return false
}

// simdFloatKernel returns nil: no assembly float-path kernel in this build.
func simdFloatKernel(is isa, t device.DType) func(w []byte, ldw int, x []float32, out *[4]float32) {
	return nil
}

// simdQuantQ8K reports false: no assembly quantizer in this build.
func simdQuantQ8K(is isa, x []float32, xq []int8, xd []float32, bs []int16) bool { return false }
