package quant_test

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
)

// block32 returns a block of 32 zeros with the given leading values.
func block32(lead ...float32) []float32 {
	x := make([]float32, 32)
	copy(x, lead)
	return x
}

// TestQ8_0HandChecked pins quantize_row_q8_0_ref on hand-computed blocks.
func TestQ8_0HandChecked(t *testing.T) {
	cases := []struct {
		name  string
		x     []float32
		d     uint16 // fp16 bits of the scale
		qs    []int8 // leading quants (the rest 0)
		deq   []float32
		nanAt []int // dequantized values that are NaN (0 * inf)
	}{
		{name: "zero block", x: block32(), d: 0, qs: nil, deq: block32()},
		// amax 127: d = 1, id = 1; roundf takes halfway cases away from zero.
		{name: "ties away from zero", x: block32(127, 2.5, -2.5, 0.5, -0.5, 1.49),
			d: 0x3c00, qs: []int8{127, 3, -3, 1, -1, 1}, deq: block32(127, 3, -3, 1, -1, 1)},
		// amax 127*2^-20: d = 2^-20 is a binary16 subnormal (16 units of 2^-24).
		{name: "subnormal scale", x: block32(127*0x1p-20, -3*0x1p-20),
			d: 0x0010, qs: []int8{127, -3}, deq: block32(127*0x1p-20, -3*0x1p-20)},
		// d = 2^-25 (amax 127*2^-25) rounds to binary16 0 (a tie, to even):
		// the quants are still computed with id = 2^25, the stored scale is 0.
		{name: "scale underflows to zero", x: block32(127*0x1p-25, 0x1p-25),
			d: 0x0000, qs: []int8{127, 1}, deq: block32()},
		// amax 127*70000: d = 70000 overflows binary16 to inf.
		{name: "scale overflows to inf", x: block32(127*70000, -70000),
			d: 0x7c00, qs: []int8{127, -1}, deq: block32(float32(math.Inf(1)), float32(math.Inf(-1))), nanAt: seq(2, 32)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := make([]byte, 34)
			require.NoError(t, quant.QuantizeQ8_0(got, c.x))
			want := make([]byte, 34)
			binary.LittleEndian.PutUint16(want, c.d)
			for i, q := range c.qs {
				want[2+i] = byte(q)
			}
			require.Equal(t, want, got)
			y := make([]float32, 32)
			require.NoError(t, quant.Dequantize(device.Q8_0, y, got))
			checkDeq(t, c.deq, c.nanAt, y)
		})
	}
}

// TestQ4_0HandChecked pins quantize_row_q4_0_ref on hand-computed blocks.
func TestQ4_0HandChecked(t *testing.T) {
	cases := []struct {
		name string
		x    []float32
		d    uint16
		q    []uint8 // the 32 4-bit levels, value order
		deq  []float32
	}{
		// Zero block: d = 0 / -8 = -0 (fp16 0x8000), id = 0, every level
		// trunc(8.5) = 8, values 0.
		{name: "zero block", x: block32(), d: 0x8000, q: fill(8), deq: block32()},
		// max = -8 (sign kept): d = 1, q = trunc(x + 8.5) capped at 15.
		{name: "negative max", x: block32(-8, 4, 7, 7.6, -0.5, 0.4),
			d: 0x3c00, q: lead(fill(8), 0, 12, 15, 15, 8, 8), deq: block32(-8, 4, 7, 7, 0, 0)},
		// Equal magnitudes: the first one sets the sign. max = 3, d = -0.375:
		// 3 -> level 0 (value 3), -3 -> trunc(16.5) = 16, capped at 15 (-2.625).
		{name: "tie keeps the first", x: block32(3, -3),
			d: 0xb600, q: lead(fill(8), 0, 15), deq: block32(3, -2.625)},
		// The halfway point between levels: x/d + 8.5 truncates, so
		// x/d = 0.5 (x = -0.5 with d = -1) goes up to level 9.
		{name: "half level", x: block32(8, -0.5, 0.5),
			d: 0xbc00, q: lead(fill(8), 0, 9, 8), deq: block32(8, -1, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := make([]byte, 18)
			require.NoError(t, quant.QuantizeQ4_0(got, c.x))
			want := make([]byte, 18)
			binary.LittleEndian.PutUint16(want, c.d)
			for j := range 16 {
				want[2+j] = c.q[j] | c.q[16+j]<<4
			}
			require.Equal(t, want, got)
			y := make([]float32, 32)
			require.NoError(t, quant.Dequantize(device.Q4_0, y, got))
			checkDeq(t, c.deq, nil, y)
		})
	}
}

// TestQ8_0ActivationsHandChecked: the activation quantizer of ggml-cpu's
// x86 backend rounds halfway cases to even and multiplies by 127/amax.
func TestQ8_0ActivationsHandChecked(t *testing.T) {
	x := block32(127, 2.5, -2.5, 0.5, -0.5, 1.5, 3.5)
	got := make([]byte, 34)
	require.NoError(t, quant.QuantizeRowQ8_0Activations(got, x))
	want := make([]byte, 34)
	binary.LittleEndian.PutUint16(want, 0x3c00)
	for i, q := range []int8{127, 2, -2, 0, 0, 2, 4} {
		want[2+i] = byte(q)
	}
	require.Equal(t, want, got)

	require.NoError(t, quant.QuantizeRowQ8_0Activations(got, block32()))
	require.Equal(t, make([]byte, 34), got)
}

// TestQ8KHandChecked pins quantize_row_q8_K_ref: max of largest magnitude
// (its sign kept), iscale = -127/max, round half to even, int16 sums.
func TestQ8KHandChecked(t *testing.T) {
	x := make([]float32, 256)
	x[0], x[1], x[2], x[3], x[17] = 127, 2.5, 3.5, -127, -0.5
	var b [1]quant.BlockQ8K
	require.NoError(t, quant.QuantizeRowQ8_K(b[:], x))
	// max = 127 (the first of the two largest), iscale = -127/max = -1,
	// d = -1: the quants are the values negated, halfway cases to even.
	require.Equal(t, float32(-1), b[0].D)
	require.Equal(t, []int8{-127, -2, -4, 127}, b[0].QS[:4])
	require.Equal(t, int8(0), b[0].QS[17]) // -(-0.5) = 0.5 -> 0
	require.Equal(t, int16(-127-2-4+127), b[0].BSums[0])
	require.Equal(t, int16(0), b[0].BSums[1])
	require.NoError(t, quant.QuantizeRowQ8_K(b[:], make([]float32, 256)))
	require.Equal(t, quant.BlockQ8K{}, b[0])
	require.Len(t, b[0].AppendBytes(nil), quant.BlockBytesQ8_K)
}

func checkDeq(t *testing.T, want []float32, nanAt []int, got []float32) {
	t.Helper()
	isNaN := map[int]bool{}
	for _, i := range nanAt {
		isNaN[i] = true
	}
	for i := range want {
		if isNaN[i] {
			require.True(t, got[i] != got[i], "value %d: %v, want NaN", i, got[i])
			continue
		}
		require.Equal(t, want[i], got[i], "value %d", i)
	}
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

func fill(v uint8) []uint8 {
	s := make([]uint8, 32)
	for i := range s {
		s[i] = v
	}
	return s
}

func lead(s []uint8, v ...uint8) []uint8 { copy(s, v); return s }
