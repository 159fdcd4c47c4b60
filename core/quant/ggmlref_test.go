package quant_test

import (
	"encoding/binary"
	"math"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
)

// testdata/ggml_reference.bin holds deterministic inputs and what ggml
// itself (llama.cpp's libraries of node-llama-cpp 3.21.1) makes of them:
// ggml_quantize_chunk and to_float for Q4_K, Q6_K, Q8_0 and Q4_0, and the
// CPU backend's activation quantizers. testdata/ggmlref/gen.sh rebuilds it.
func loadGGMLRef(t *testing.T) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/ggml_reference.bin")
	require.NoError(t, err)
	recs := map[string][]byte{}
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 4)
		n := int(binary.LittleEndian.Uint32(b))
		require.GreaterOrEqual(t, len(b), 12+n)
		name := string(b[4 : 4+n])
		size := binary.LittleEndian.Uint64(b[4+n:])
		b = b[12+n:]
		require.LessOrEqual(t, size, uint64(len(b)), name)
		recs[name] = b[:size]
		b = b[size:]
	}
	return recs
}

func floats(b []byte) []float32 {
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

func refCases(recs map[string][]byte) []string {
	var cases []string
	for k := range recs {
		if c, ok := strings.CutPrefix(k, "input/"); ok {
			cases = append(cases, c)
		}
	}
	sort.Strings(cases)
	return cases
}

var refTypes = map[string]device.DType{"q4_k": device.Q4_K, "q6_k": device.Q6_K, "q8_0": device.Q8_0, "q4_0": device.Q4_0}

// TestQuantizeGGMLReference: every quantizer byte-exact with
// ggml_quantize_chunk (no importance matrix), and Dequantize bit-exact with
// to_float, on normal values, 16 binades (fp16 scales subnormal, zero and
// inf), zero, constant, one-signed, sparse, outlier and tie-heavy blocks.
func TestQuantizeGGMLReference(t *testing.T) {
	recs := loadGGMLRef(t)
	cases := refCases(recs)
	require.Len(t, cases, 13)
	for _, c := range cases {
		x := floats(recs["input/"+c])
		for name, dt := range refTypes {
			t.Run(name+"/"+c, func(t *testing.T) {
				want := recs[name+"/"+c]
				require.NotNil(t, want)
				got := make([]byte, len(want))
				require.NoError(t, quant.Quantize(dt, got, x))
				bb := quant.BlockBytes(dt)
				for b := 0; b < len(want); b += bb {
					require.Equal(t, want[b:b+bb], got[b:b+bb], "block %d", b/bb)
				}
				y := make([]float32, len(x))
				require.NoError(t, quant.Dequantize(dt, y, want))
				requireBitsEqual(t, floats(recs[name+"_to_float/"+c]), y, name+"_to_float/"+c)
			})
		}
	}
}

// TestDequantizeGGMLRandomBlocks: Dequantize bit-exact with to_float on
// random blocks (any quants and 6-bit scales, random finite fp16 d).
func TestDequantizeGGMLRandomBlocks(t *testing.T) {
	recs := loadGGMLRef(t)
	for name, dt := range refTypes {
		t.Run(name, func(t *testing.T) {
			src := recs["random/"+name]
			want := floats(recs["random_to_float/"+name])
			require.NotEmpty(t, want)
			y := make([]float32, len(want))
			require.NoError(t, quant.Dequantize(dt, y, src))
			requireBitsEqual(t, want, y, name)
		})
	}
}

// TestActivationsGGMLReference: QuantizeRowQ8_0Activations and
// QuantizeRowQ8_K byte-exact with ggml-cpu's quantize_row_q8_0 (x86) and
// quantize_row_q8_K.
func TestActivationsGGMLReference(t *testing.T) {
	recs := loadGGMLRef(t)
	for _, c := range refCases(recs) {
		t.Run(c, func(t *testing.T) {
			x := floats(recs["input/"+c])
			want := recs["q8_0_act/"+c]
			got := make([]byte, len(want))
			require.NoError(t, quant.QuantizeRowQ8_0Activations(got, x))
			require.Equal(t, want, got)

			blocks := make([]quant.BlockQ8K, len(x)/quant.QKK)
			require.NoError(t, quant.QuantizeRowQ8_K(blocks, x))
			var gotK []byte
			for i := range blocks {
				gotK = blocks[i].AppendBytes(gotK)
			}
			require.Equal(t, recs["q8_k/"+c], gotK)
		})
	}
}
