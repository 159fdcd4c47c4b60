//go:build !amd64 || purego

package cpu

import "github.com/nano-vllm-go/nano-vllm-go/core/device"

// simdDequantBF16 reports false: no assembly dequantizer in this build.
func simdDequantBF16(is isa, t device.DType, dst []uint16, src []byte) bool { return false }

// q80amx8 is never called in this build (Device.amx8 is false).
func q80amx8(cfg *byte, w *byte, ldw, nb, nt int, b *byte, dact *float32, mts int, tmp *int32, c *float32, idx *int32, pf *byte, pfstep int) {
	panic("cpu: AMX int8 kernel called without AMX")
}

// q6kint8 is never called in this build (Device.amx8 is false).
func q6kint8(dst *byte, dsc *float32, src *byte, nsb, ldw int) {
	panic("cpu: AMX int8 kernel called without AMX")
}

// qgamx8 is never called in this build (Device.amx8 is false).
func qgamx8(cfg *byte, w *byte, ldw, ng, gbytes int, b *byte, dact *float32, ws *float32, mts int, tmp *int32, c *float32, pf *byte, pfstep int) {
	panic("cpu: AMX int8 kernel called without AMX")
}

// q40int8 is never called in this build (Device.amx8 is false).
func q40int8(dst *byte, dsc *float32, src *byte, nb int) {
	panic("cpu: AMX int8 kernel called without AMX")
}

// q40int8v is never called in this build (Device.amx8 is false).
func q40int8v(dst *byte, dsc *float32, src *byte, nb int, tab *q40Tables) {
	panic("cpu: AMX int8 kernel called without AMX")
}

// q4kint8 is never called in this build (Device.amx8 is false).
func q4kint8(dst *byte, dsc, dmn *float32, src *byte, nsb, ldw int) {
	panic("cpu: AMX int8 kernel called without AMX")
}

// q4kminZ is never called in this build (Device.amx8 is false).
func q4kminZ(c, mins, s *float32, ng, mts int) {
	panic("cpu: AMX int8 kernel called without AMX")
}
