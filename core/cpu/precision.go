package cpu

import "fmt"

// Precision selects how matmuls on the AMX tile units, which multiply only
// bf16, treat float32 activations.
type Precision uint8

const (
	// PrecisionFloat32 splits each activation into three bf16 parts whose
	// sum is exact: three tile products per product, float32 accuracy.
	PrecisionFloat32 Precision = iota
	// PrecisionBF16 rounds each activation to the nearest bf16, as
	// PyTorch's bf16 inference does: one tile product, about three times
	// the matmul speed, each activation off by up to 2^-9 relative.
	// It applies where the tile units are used: matmuls of 12 or more rows,
	// and the attention of sequences with 32 or more query rows in a step
	// (bf16 queries, keys, values and softmax numerators; float32 scores
	// and sums). Smaller steps and processors without AMX stay
	// float32-accurate.
	PrecisionBF16
)

// String returns "float32" or "bf16".
func (p Precision) String() string {
	switch p {
	case PrecisionFloat32:
		return "float32"
	case PrecisionBF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", uint8(p))
}

// MarshalText implements encoding.TextMarshaler (so a Precision can be a
// flag.TextVar).
func (p Precision) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: "float32" (or "fp32",
// "f32") and "bf16" (or "bfloat16").
func (p *Precision) UnmarshalText(text []byte) error {
	switch string(text) {
	case "float32", "fp32", "f32":
		*p = PrecisionFloat32
	case "bf16", "bfloat16":
		*p = PrecisionBF16
	default:
		return fmt.Errorf("unknown precision %q (want float32 or bf16)", text)
	}
	return nil
}
