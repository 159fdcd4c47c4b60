package quant_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
)

// TestLayout checks block sizes against ggml's (ggml-common.h static
// asserts; ggml.c type_traits) and the row-size errors.
func TestLayout(t *testing.T) {
	cases := []struct {
		t             device.DType
		values, bytes int
	}{
		{device.F32, 1, 4},
		{device.F16, 1, 2},
		{device.BF16, 1, 2},
		{device.Q8_0, 32, 34},
		{device.Q4_0, 32, 18},
		{device.Q4_K, 256, 144},
		{device.Q6_K, 256, 210},
	}
	for _, c := range cases {
		require.Equal(t, c.values, quant.BlockValues(c.t), c.t.String())
		require.Equal(t, c.bytes, quant.BlockBytes(c.t), c.t.String())
		n, err := quant.RowBytes(c.t, 4*c.values)
		require.NoError(t, err)
		require.Equal(t, 4*c.bytes, n)
		n, err = quant.Bytes(c.t, 3, 2*c.values)
		require.NoError(t, err)
		require.Equal(t, 6*c.bytes, n)
		if c.values > 1 {
			_, err = quant.RowBytes(c.t, c.values+1)
			require.ErrorIs(t, err, quant.ErrRowLength)
		}
	}
	require.Equal(t, 292, quant.BlockBytesQ8_K)
	_, err := quant.RowBytes(device.DType(99), 32)
	require.ErrorIs(t, err, quant.ErrDType)
	_, err = quant.Bytes(device.Q8_0, -1, 32)
	require.ErrorIs(t, err, quant.ErrSize)
	_, err = quant.Bytes(device.F32, 1<<62, 1<<4)
	require.ErrorIs(t, err, quant.ErrSize)
	// The sizes of Qwen3-0.6B's matrices.
	n, err := quant.Bytes(device.Q8_0, 3072, 1024)
	require.NoError(t, err)
	require.Equal(t, 3072*1024/32*34, n)
}

// TestDequantizeErrors checks the length errors.
func TestDequantizeErrors(t *testing.T) {
	err := quant.Dequantize(device.Q8_0, make([]float32, 32), make([]byte, 33))
	require.ErrorIs(t, err, quant.ErrSize)
	err = quant.Dequantize(device.Q4_0, make([]float32, 31), make([]byte, 18))
	require.ErrorIs(t, err, quant.ErrRowLength)
	err = quant.Dequantize(device.DType(42), make([]float32, 1), make([]byte, 4))
	require.ErrorIs(t, err, quant.ErrDType)
	err = quant.Quantize(device.Q6_K, make([]byte, 210), make([]float32, 255))
	require.ErrorIs(t, err, quant.ErrRowLength)
	err = quant.Quantize(device.Q4_K, make([]byte, 143), make([]float32, 256))
	require.ErrorIs(t, err, quant.ErrSize)
	err = quant.QuantizeRowQ8_0Activations(make([]byte, 34), make([]float32, 64))
	require.ErrorIs(t, err, quant.ErrSize)
	err = quant.QuantizeRowQ8_K(make([]quant.BlockQ8K, 1), make([]float32, 512))
	require.ErrorIs(t, err, quant.ErrSize)
}

// FuzzDequantize: any bytes dequantize without a panic (inf and NaN
// allowed), and a wrong length is an error.
func FuzzDequantize(f *testing.F) {
	f.Add(uint8(device.Q8_0), []byte{0x00, 0x7c, 1, 2, 3})
	f.Add(uint8(device.Q4_K), make([]byte, 144))
	f.Add(uint8(device.Q6_K), make([]byte, 211))
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		dt := device.DType(typ % 8) // the seven types and one unknown
		bv, bb := quant.BlockValues(dt), quant.BlockBytes(dt)
		if bv == 0 {
			require.ErrorIs(t, quant.Dequantize(dt, make([]float32, 1), data), quant.ErrDType)
			return
		}
		blocks := len(data) / bb
		dst := make([]float32, blocks*bv)
		err := quant.Dequantize(dt, dst, data)
		if len(data)%bb == 0 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, quant.ErrSize)
		}
		if blocks > 0 {
			require.ErrorIs(t, quant.Dequantize(dt, dst[:len(dst)-bv], data[:blocks*bb]), quant.ErrSize)
		}
	})
}
