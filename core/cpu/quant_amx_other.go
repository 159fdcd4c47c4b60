//go:build !amd64 || purego

package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// simdDequantBF16 reports false: no assembly dequantizer in this build.
func simdDequantBF16(is isa, t device.DType, dst []uint16, src []byte) bool { return false }

// q80amx8 is never called in this build (Device.amx8 is false).
func q80amx8(cfg *byte, w *byte, ldw, nb int, b *byte, dact *float32, tmp *int32, c *float32, idx *int32) {
	panic("cpu: AMX int8 kernel called without AMX")
}
