package main

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// kvDTypeHelp documents --kv-cache-dtype.
const kvDTypeHelp = "the `DTYPE` the KV cache stores keys and values in: f32, bf16 or f16 (half the memory, so twice the tokens in --kv-cache-mib, and half the bytes attention reads; keys and values are rounded to 16 bits)"

// kvCacheDType is the value of --kv-cache-dtype: f32, bf16 or f16.
type kvCacheDType device.DType

// DType is the device dtype.
func (t kvCacheDType) DType() device.DType { return device.DType(t) }

// MarshalText implements encoding.TextMarshaler (the flag's default).
func (t kvCacheDType) MarshalText() ([]byte, error) { return []byte(device.DType(t).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (t *kvCacheDType) UnmarshalText(b []byte) error {
	switch string(b) {
	case "f32", "float32":
		*t = kvCacheDType(device.F32)
	case "bf16", "bfloat16":
		*t = kvCacheDType(device.BF16)
	case "f16", "float16", "fp16":
		*t = kvCacheDType(device.F16)
	default:
		return fmt.Errorf("%q: want f32, bf16 or f16", b)
	}
	return nil
}
