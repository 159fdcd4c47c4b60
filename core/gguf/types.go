package gguf

import (
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Type is a ggml tensor type, the number a GGUF tensor info stores.
type Type uint32

// The ggml types (ggml.h). The numbers are fixed by the file format; the
// gaps are types ggml has removed.
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39
	TypeNVFP4   Type = 40
	TypeQ1_0    Type = 41
	TypeQ2_0    Type = 42
)

// typeInfo is a ggml type's name and block layout: blockValues values are
// stored in blockBytes bytes (1 and the element size for plain types).
type typeInfo struct {
	name        string
	blockValues int64
	blockBytes  int64
}

// types lists every type ggml can store in a GGUF file, with the sizes of
// ggml-common.h, so that a tensor of any of them can be validated (and
// named in an error) even when this package cannot hand it out.
var types = map[Type]typeInfo{
	TypeF32: {"f32", 1, 4}, TypeF16: {"f16", 1, 2}, TypeBF16: {"bf16", 1, 2}, TypeF64: {"f64", 1, 8},
	TypeI8: {"i8", 1, 1}, TypeI16: {"i16", 1, 2}, TypeI32: {"i32", 1, 4}, TypeI64: {"i64", 1, 8},
	TypeQ4_0: {"q4_0", 32, 18}, TypeQ4_1: {"q4_1", 32, 20}, TypeQ5_0: {"q5_0", 32, 22}, TypeQ5_1: {"q5_1", 32, 24},
	TypeQ8_0: {"q8_0", 32, 34}, TypeQ8_1: {"q8_1", 32, 36},
	TypeQ2_K: {"q2_K", 256, 84}, TypeQ3_K: {"q3_K", 256, 110}, TypeQ4_K: {"q4_K", 256, 144},
	TypeQ5_K: {"q5_K", 256, 176}, TypeQ6_K: {"q6_K", 256, 210}, TypeQ8_K: {"q8_K", 256, 292},
	TypeIQ2_XXS: {"iq2_xxs", 256, 66}, TypeIQ2_XS: {"iq2_xs", 256, 74}, TypeIQ2_S: {"iq2_s", 256, 82},
	TypeIQ3_XXS: {"iq3_xxs", 256, 98}, TypeIQ3_S: {"iq3_s", 256, 110},
	TypeIQ1_S: {"iq1_s", 256, 50}, TypeIQ1_M: {"iq1_m", 256, 56},
	TypeIQ4_NL: {"iq4_nl", 32, 18}, TypeIQ4_XS: {"iq4_xs", 256, 136},
	TypeTQ1_0: {"tq1_0", 256, 54}, TypeTQ2_0: {"tq2_0", 256, 66},
	TypeMXFP4: {"mxfp4", 32, 17}, TypeNVFP4: {"nvfp4", 64, 36},
	TypeQ1_0: {"q1_0", 128, 18}, TypeQ2_0: {"q2_0", 64, 18},
}

// String returns ggml's name for the type ("f32", "q8_0", "q4_K", ...).
func (t Type) String() string {
	if info, ok := types[t]; ok {
		return info.name
	}
	return fmt.Sprintf("ggml_type(%d)", uint32(t))
}

// Known reports whether t is a ggml type this package knows the layout of.
func (t Type) Known() bool { _, ok := types[t]; return ok }

// BlockValues is the number of values in one block of t (1 for plain
// types), or 0 for an unknown type.
func (t Type) BlockValues() int64 { return types[t].blockValues }

// BlockBytes is the size in bytes of one block of t, or 0 for an unknown
// type.
func (t Type) BlockBytes() int64 { return types[t].blockBytes }

// DType maps t to the device weight type it is handed out as, and reports
// false for the types devices do not take.
func (t Type) DType() (device.DType, bool) {
	switch t {
	case TypeF32:
		return device.F32, true
	case TypeF16:
		return device.F16, true
	case TypeBF16:
		return device.BF16, true
	case TypeQ8_0:
		return device.Q8_0, true
	case TypeQ4_0:
		return device.Q4_0, true
	case TypeQ4_K:
		return device.Q4_K, true
	case TypeQ6_K:
		return device.Q6_K, true
	}
	return 0, false
}

// TypeOf maps a device weight type to its ggml type.
func TypeOf(dt device.DType) (Type, error) {
	switch dt {
	case device.F32:
		return TypeF32, nil
	case device.F16:
		return TypeF16, nil
	case device.BF16:
		return TypeBF16, nil
	case device.Q8_0:
		return TypeQ8_0, nil
	case device.Q4_0:
		return TypeQ4_0, nil
	case device.Q4_K:
		return TypeQ4_K, nil
	case device.Q6_K:
		return TypeQ6_K, nil
	}
	return 0, fmt.Errorf("gguf: device type %s has no ggml type: %w", dt, ErrUnsupported)
}
