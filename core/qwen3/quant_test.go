package qwen3

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

// uploadLog wraps dequantDevice and records each weight's dtype and the
// sha256 of its bytes as the loader hands them over.
type uploadLog struct {
	dequantDevice
	mu     sync.Mutex
	dtypes map[string]device.DType
	sums   map[string]string
}

func newUploadLog() *uploadLog {
	return &uploadLog{dequantDevice: dequantDevice{cpu.New(cpuDefault)}, dtypes: map[string]device.DType{}, sums: map[string]string{}}
}

func (d *uploadLog) UploadWeight(name string, dt device.DType, shape []int, data []byte) (device.Weight, error) {
	s := sha256.Sum256(data)
	d.mu.Lock()
	d.dtypes[name], d.sums[name] = dt, hex.EncodeToString(s[:])
	d.mu.Unlock()
	return d.dequantDevice.UploadWeight(name, dt, shape, data)
}

// TestQuantizeOnLoad loads the bf16 safetensors checkpoints with
// Options.Quantize and checks (1) every 2-D weight reaches the device
// quantized, byte for byte what llama.cpp's quantizer wrote into the GGUF
// fixture of that type, norms untouched; (2) WeightBytes; (3) a float
// forward on the dequantized weights gives llama.cpp's logits for the same
// dequantized weights (runs.<type>_dequant_f32) within 1e-4 + 1e-4·|x|.
func TestQuantizeOnLoad(t *testing.T) {
	for _, ckpt := range []string{"qwen3-tiny", "qwen3-tiny-untied"} {
		lref := loadLlamaReference(t, ckpt)
		for _, q := range []device.DType{device.Q8_0, device.Q4_0} {
			t.Run(ckpt+"/"+q.String(), func(t *testing.T) {
				dev := newUploadLog()
				t.Cleanup(func() { dev.Close() })
				m, err := Load(fixtureDir(ckpt), dev, Options{Quantize: q})
				require.NoError(t, err)
				t.Cleanup(func() { m.Close() })

				var wantBytes int64
				quantized := 0
				for _, rt := range lref.Files[q.String()].Tensors {
					got, ok := dev.dtypes[rt.HFName]
					require.True(t, ok, rt.HFName)
					if len(rt.HFShape) == 2 {
						require.Equal(t, q, got, rt.HFName)
						require.Equal(t, rt.DataSHA256, dev.sums[rt.HFName], "%s: quantized on load differs from llama.cpp's", rt.HFName)
						quantized++
						wantBytes += int64(rt.HFShape[0]*rt.HFShape[1]/32) * map[device.DType]int64{device.Q8_0: 34, device.Q4_0: 18}[q]
					} else {
						require.Equal(t, device.BF16, got, "%s: norms keep their type", rt.HFName)
						wantBytes += 2 * int64(rt.HFShape[0])
					}
				}
				require.Len(t, dev.dtypes, len(lref.Files[q.String()].Tensors))
				require.Equal(t, 2+7*m.Config().NumHiddenLayers-map[bool]int{true: 1, false: 0}[m.Config().TieWordEmbeddings], quantized)
				require.Equal(t, wantBytes, m.WeightBytes())

				require.NoError(t, m.NewKVCache(128, 16))
				checkLlamaRun(t, m, lref, q.String()+"_dequant_f32")
			})
		}
	}
}

// TestQuantizeOnLoadKeepsQuantized: a GGUF file's quantized tensors are
// passed through unchanged whatever Options.Quantize asks for.
func TestQuantizeOnLoadKeepsQuantized(t *testing.T) {
	lref := loadLlamaReference(t, "qwen3-tiny")
	dev := newUploadLog()
	t.Cleanup(func() { dev.Close() })
	m, err := LoadGGUF(ggufPath("qwen3-tiny", "q4_0"), dev, Options{Quantize: device.Q8_0})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	for _, rt := range lref.Files["q4_0"].Tensors {
		want := device.F32
		if len(rt.HFShape) == 2 {
			want = device.Q4_0
		}
		require.Equal(t, want, dev.dtypes[rt.HFName], rt.HFName)
		require.Equal(t, rt.DataSHA256, dev.sums[rt.HFName], rt.HFName)
	}
}

func TestQuantizeOptionErrors(t *testing.T) {
	for _, q := range []device.DType{device.BF16, device.F16, device.Q4_K, device.Q6_K, device.DType(77)} {
		dev := cpu.New(cpuDefault)
		_, err := Load(fixtureDir("qwen3-tiny"), dev, Options{Quantize: q})
		require.ErrorIs(t, err, ErrQuantize, q.String())
		require.ErrorContains(t, err, q.String())
		require.NoError(t, dev.Close())
	}
}

// TestWeightBytesFor checks the formula against the checkpoints: for bf16
// the safetensors checkpoint's tensor bytes, for q8_0 the sizes of the
// tensors of the Q8_0 GGUF fixture (norms in F32); and a row length that is
// not a multiple of the block is an error.
func TestWeightBytesFor(t *testing.T) {
	for _, ckpt := range []string{"qwen3-tiny", "qwen3-tiny-untied"} {
		lref := loadLlamaReference(t, ckpt)
		dev := cpu.New(cpuDefault)
		m, err := Load(fixtureDir(ckpt), dev, Options{})
		require.NoError(t, err)
		got, err := WeightBytesFor(m.Config(), device.BF16)
		require.NoError(t, err)
		require.Equal(t, m.WeightBytes(), got, ckpt)
		var ggufBytes int64
		for _, rt := range lref.Files["q8_0"].Tensors {
			n := int64(1)
			for _, d := range rt.HFShape {
				n *= int64(d)
			}
			if len(rt.HFShape) == 2 {
				ggufBytes += n / 32 * 34
			} else {
				ggufBytes += 4 * n
			}
		}
		got, err = WeightBytesFor(m.Config(), device.Q8_0)
		require.NoError(t, err)
		require.Equal(t, ggufBytes, got, ckpt)
		require.NoError(t, m.Close())
		require.NoError(t, dev.Close())
	}
	_, err := WeightBytesFor(Config{HiddenSize: 48, IntermediateSize: 64, VocabSize: 8, NumAttentionHeads: 1, NumKeyValueHeads: 1, HeadDim: 48, NumHiddenLayers: 1}, device.Q4_0)
	require.Error(t, err)
}
