package quant_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
)

// The GGUF fixtures of ../../testdata/gguf (see its README): llama.cpp's
// converter output in F32, BF16, Q8_0 and Q4_0, the exact to_float of every
// tensor, and per-tensor sha256s.
const ggufDir = "../../testdata/gguf"

var quantBlockValues = quant.BlockValues
var quantBlockBytes = quant.BlockBytes

type refTensor struct {
	Name          string   `json:"name"`
	HFName        string   `json:"hf_name"`
	Type          string   `json:"type"`
	HFShape       []int    `json:"hf_shape"`
	Bytes         int      `json:"bytes"`
	DataSHA256    string   `json:"data_sha256"`
	DequantSHA256 string   `json:"dequant_sha256"`
	Ne            []uint64 `json:"ne"`
}

type refFile struct {
	GGUF               string      `json:"gguf"`
	DequantSafetensors *string     `json:"dequant_safetensors"`
	Tensors            []refTensor `json:"tensors"`
}

func loadRefFiles(t *testing.T, ckpt string) map[string]refFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(ggufDir, ckpt, "llamacpp_reference.json"))
	require.NoError(t, err)
	var ref struct {
		Files map[string]refFile `json:"files"`
	}
	require.NoError(t, json.Unmarshal(raw, &ref))
	return ref.Files
}

var fixtureTypes = map[string]device.DType{"f32": device.F32, "bf16": device.BF16, "q8_0": device.Q8_0, "q4_0": device.Q4_0}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func floatBytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// dequantFloats reads one tensor of a dequant.safetensors file.
func dequantFloats(t *testing.T, f *safetensors.File, name string) []float32 {
	t.Helper()
	tn, ok := f.Tensor(name)
	require.True(t, ok, name)
	x, err := tn.ToFloat32()
	require.NoError(t, err, name)
	return x
}

// TestDequantizeFixtures checks Dequantize of every tensor of every fixture
// GGUF bit for bit against ggml's to_float (the dequant.safetensors files,
// or the dequant_sha256 of the vocab model).
func TestDequantizeFixtures(t *testing.T) {
	cases := []struct {
		ckpt  string
		types []string
	}{
		{"qwen3-tiny", []string{"f32", "bf16", "q8_0", "q4_0"}},
		{"qwen3-tiny-untied", []string{"f32", "bf16", "q8_0", "q4_0"}},
		{"qwen3-tiny-vocab", []string{"q8_0"}},
	}
	for _, c := range cases {
		files := loadRefFiles(t, c.ckpt)
		for _, typ := range c.types {
			t.Run(c.ckpt+"/"+typ, func(t *testing.T) {
				rf := files[typ]
				tensors, err := readGGUF(filepath.Join(ggufDir, c.ckpt, rf.GGUF))
				require.NoError(t, err)
				require.Len(t, tensors, len(rf.Tensors))
				var st *safetensors.File
				if rf.DequantSafetensors != nil {
					st, err = safetensors.Open(filepath.Join(ggufDir, c.ckpt, *rf.DequantSafetensors))
					require.NoError(t, err)
					defer st.Close()
				}
				quantized := 0
				for _, rt := range rf.Tensors {
					gt, ok := tensors[rt.Name]
					require.True(t, ok, rt.Name)
					require.Equal(t, rt.DataSHA256, sha(gt.data), "%s: the test reader found other bytes", rt.Name)
					dt := ggmlDTypes[gt.ggmlType]
					if dt.Quantized() {
						quantized++
						require.Equal(t, fixtureTypes[typ], dt, rt.Name)
					}
					n := 1
					for _, d := range rt.HFShape {
						n *= d
					}
					got := make([]float32, n)
					require.NoError(t, quant.Dequantize(dt, got, gt.data), rt.Name)
					require.Equal(t, rt.DequantSHA256, sha(floatBytes(got)), "%s (%v): dequantized values differ from ggml's", rt.Name, dt)
					if st != nil {
						want := dequantFloats(t, st, rt.HFName)
						requireBitsEqual(t, want, got, rt.Name)
					}
				}
				if typ == "q8_0" || typ == "q4_0" {
					require.Positive(t, quantized)
				}
			})
		}
	}
}

// TestQuantizeFixtures checks that quantizing the float values (the F32
// dequant file: the checkpoint's bf16 weights widened) gives exactly the
// bytes llama.cpp's quantizer stored in each Q8_0, Q4_0 and BF16 file.
func TestQuantizeFixtures(t *testing.T) {
	for _, ckpt := range []string{"qwen3-tiny", "qwen3-tiny-untied"} {
		files := loadRefFiles(t, ckpt)
		st, err := safetensors.Open(filepath.Join(ggufDir, ckpt, *files["f32"].DequantSafetensors))
		require.NoError(t, err)
		for _, typ := range []string{"bf16", "q8_0", "q4_0"} {
			t.Run(ckpt+"/"+typ, func(t *testing.T) {
				rf := files[typ]
				checked := 0
				for _, rt := range rf.Tensors {
					dt := fixtureTypes[typ]
					if len(rt.HFShape) != 2 {
						continue // norms stay F32
					}
					require.Equal(t, dt.String(), map[string]string{"BF16": "bf16", "Q8_0": "q8_0", "Q4_0": "q4_0"}[rt.Type], rt.Name)
					x := dequantFloats(t, st, rt.HFName)
					n, err := quant.Bytes(dt, rt.HFShape[0], rt.HFShape[1])
					require.NoError(t, err)
					require.Equal(t, rt.Bytes, n, rt.Name)
					got := make([]byte, n)
					require.NoError(t, quant.Quantize(dt, got, x), rt.Name)
					require.Equal(t, rt.DataSHA256, sha(got), "%s: quantized bytes differ from llama.cpp's", rt.Name)
					checked++
				}
				require.Positive(t, checked)
			})
		}
		require.NoError(t, st.Close())
	}
}

// requireBitsEqual compares float32 slices bit for bit (NaN payloads
// included), reporting the first difference.
func requireBitsEqual(t *testing.T, want, got []float32, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			require.Failf(t, "values differ", "%s[%d]: got %v (%#08x), want %v (%#08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}
