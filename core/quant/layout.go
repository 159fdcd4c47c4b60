package quant

import (
	"errors"
	"fmt"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// Block sizes, in values per block, of ggml's formats.
const (
	// QK8_0 is the number of values in a Q8_0 block.
	QK8_0 = 32
	// QK4_0 is the number of values in a Q4_0 block.
	QK4_0 = 32
	// QKK is the number of values in a K-quant super-block (Q4_K, Q6_K, Q8_K).
	QKK = 256
)

// Bytes per block.
const (
	// BlockBytesQ8_0 is sizeof(block_q8_0): fp16 d, int8 qs[32].
	BlockBytesQ8_0 = 2 + QK8_0
	// BlockBytesQ4_0 is sizeof(block_q4_0): fp16 d, uint8 qs[16].
	BlockBytesQ4_0 = 2 + QK4_0/2
	// BlockBytesQ4_K is sizeof(block_q4_K): fp16 d, fp16 dmin,
	// uint8 scales[12], uint8 qs[128].
	BlockBytesQ4_K = 2 + 2 + 12 + QKK/2
	// BlockBytesQ6_K is sizeof(block_q6_K): uint8 ql[128], uint8 qh[64],
	// int8 scales[16], fp16 d.
	BlockBytesQ6_K = QKK/2 + QKK/4 + QKK/16 + 2
	// BlockBytesQ8_K is sizeof(block_q8_K), the activation format of
	// llama.cpp's K-quant dot products: float32 d, int8 qs[256],
	// int16 bsums[16].
	BlockBytesQ8_K = 4 + QKK + 2*QKK/16
)

// Errors callers can test with errors.Is.
var (
	// ErrDType is returned for a DType this package does not know.
	ErrDType = errors.New("quant: unknown dtype")
	// ErrRowLength is returned when a row length is not a multiple of the
	// type's block.
	ErrRowLength = errors.New("quant: row length not a multiple of the block")
	// ErrSize is returned when a buffer's length does not match the number
	// of values.
	ErrSize = errors.New("quant: buffer size mismatch")
)

// BlockValues is the number of values one block of t holds: 1 for the float
// types, 32 for Q8_0 and Q4_0, 256 for the K-quants. It is 0 for an unknown
// type.
func BlockValues(t device.DType) int {
	switch t {
	case device.F32, device.BF16, device.F16:
		return 1
	case device.Q8_0:
		return QK8_0
	case device.Q4_0:
		return QK4_0
	case device.Q4_K, device.Q6_K:
		return QKK
	}
	return 0
}

// BlockBytes is the size in bytes of one block of t (of one element for the
// float types). It is 0 for an unknown type.
func BlockBytes(t device.DType) int {
	switch t {
	case device.F32:
		return 4
	case device.BF16, device.F16:
		return 2
	case device.Q8_0:
		return BlockBytesQ8_0
	case device.Q4_0:
		return BlockBytesQ4_0
	case device.Q4_K:
		return BlockBytesQ4_K
	case device.Q6_K:
		return BlockBytesQ6_K
	}
	return 0
}

// RowBytes is the size in bytes of a row of cols values of type t. It fails
// with ErrRowLength when cols is not a multiple of the block (or negative)
// and ErrDType for an unknown type.
func RowBytes(t device.DType, cols int) (int, error) {
	bv := BlockValues(t)
	if bv == 0 {
		return 0, fmt.Errorf("%w: %v", ErrDType, t)
	}
	if cols < 0 || cols%bv != 0 {
		return 0, fmt.Errorf("%w: %d values in a row of %v (blocks of %d)", ErrRowLength, cols, t, bv)
	}
	return cols / bv * BlockBytes(t), nil
}

// Bytes is the size in bytes of a [rows, cols] tensor of type t, with the
// errors of RowBytes, and ErrSize when rows is negative or the size
// overflows an int.
func Bytes(t device.DType, rows, cols int) (int, error) {
	rb, err := RowBytes(t, cols)
	if err != nil {
		return 0, err
	}
	if rows < 0 {
		return 0, fmt.Errorf("%w: %d rows", ErrSize, rows)
	}
	if rb != 0 && rows > maxInt/rb {
		return 0, fmt.Errorf("%w: %d rows of %d bytes overflow", ErrSize, rows, rb)
	}
	return rows * rb, nil
}

const maxInt = int(^uint(0) >> 1)
