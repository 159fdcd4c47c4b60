package safetensors

import "fmt"

// DType is a safetensors element type, spelled as in the file header.
type DType string

// The element types this package can convert to float32. Other standard
// safetensors dtypes are recognised (their byte size is known, so files
// holding them validate) but the conversion helpers reject them.
const (
	BF16 DType = "BF16"
	F16  DType = "F16"
	F32  DType = "F32"
)

// dtypeSizes lists every dtype the safetensors format defines. Recognising
// the ones we cannot compute with lets a file with, say, an I64 buffer
// validate, and lets errors say "unsupported" rather than "unknown".
var dtypeSizes = map[DType]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, F16: 2, BF16: 2,
	"I32": 4, "U32": 4, F32: 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// Size returns the size of one element in bytes, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// Supported reports whether the float conversion helpers accept d.
func (d DType) Supported() bool { return d == BF16 || d == F16 || d == F32 }

func (d DType) String() string { return string(d) }

// unsupported is the error the conversion helpers return for a known but
// unsupported dtype.
func unsupported(d DType, tensor string) error {
	return fmt.Errorf("%w: unsupported dtype %s for tensor %q (want BF16, F16 or F32)", ErrUnsupported, d, tensor)
}
