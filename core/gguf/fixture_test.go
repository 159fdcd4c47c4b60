package gguf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
)

const fixtureDir = "../../testdata/gguf"

// llamaFiles is the files section of a fixture's llamacpp_reference.json:
// what the fixture generator (checked against llama.cpp) wrote in each file.
type llamaFiles map[string]struct {
	GGUF    string `json:"gguf"`
	Bytes   int64  `json:"bytes"`
	SHA256  string `json:"sha256"`
	Tensors []struct {
		Name       string  `json:"name"`
		HFName     string  `json:"hf_name"`
		Type       string  `json:"type"`
		NE         []int64 `json:"ne"`
		HFShape    []int   `json:"hf_shape"`
		Bytes      int64   `json:"bytes"`
		DataSHA256 string  `json:"data_sha256"`
	} `json:"tensors"`
}

func readLlamaFiles(t *testing.T, ckpt string) llamaFiles {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, ckpt, "llamacpp_reference.json"))
	require.NoError(t, err)
	var r struct {
		Files llamaFiles `json:"files"`
	}
	require.NoError(t, json.Unmarshal(b, &r))
	return r.Files
}

// fixtureFiles lists the GGUF files shipped in testdata.
func fixtureFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*", "*.gguf"))
	require.NoError(t, err)
	require.Len(t, files, 9)
	return files
}

func TestFixtureTensors(t *testing.T) {
	for _, ckpt := range []string{"qwen3-tiny", "qwen3-tiny-untied", "qwen3-tiny-vocab"} {
		for typ, want := range readLlamaFiles(t, ckpt) {
			path := filepath.Join(fixtureDir, ckpt, want.GGUF)
			if _, err := os.Stat(path); os.IsNotExist(err) {
				continue // qwen3-tiny-vocab ships only its Q8_0 file
			}
			t.Run(want.GGUF, func(t *testing.T) {
				f, err := Open(path)
				require.NoError(t, err)
				defer f.Close()
				require.Equal(t, uint32(3), f.Header().Version)
				require.Equal(t, int64(32), f.Header().Alignment)
				require.Len(t, f.Tensors(), len(want.Tensors))
				for i, wt := range want.Tensors {
					info := f.Tensors()[i]
					require.Equal(t, wt.Name, info.Name)
					require.Equal(t, strings.ToLower(wt.Type), strings.ToLower(info.Type.String()))
					require.Equal(t, wt.NE, info.Dims)
					require.Equal(t, wt.HFShape, info.Shape())
					tn, err := f.Tensor(wt.Name)
					require.NoError(t, err)
					require.Equal(t, wt.HFShape, tn.Shape)
					require.Len(t, tn.Data, int(wt.Bytes))
					sum := sha256.Sum256(tn.Data)
					require.Equal(t, wt.DataSHA256, hex.EncodeToString(sum[:]), wt.Name)
					wantDT := map[string]device.DType{"F32": device.F32, "BF16": device.BF16, "Q8_0": device.Q8_0, "Q4_0": device.Q4_0}[wt.Type]
					require.Equal(t, wantDT, tn.DType, "%s in the %s file", wt.Name, typ)
				}
			})
		}
	}
}

func TestFixtureMetadata(t *testing.T) {
	f, err := Open(filepath.Join(fixtureDir, "qwen3-tiny-untied", "qwen3-tiny-untied-q4_0.gguf"))
	require.NoError(t, err)
	defer f.Close()
	m := f.Metadata()
	str := func(k string) string { s, err := m.String(k); require.NoError(t, err); return s }
	num := func(k string) uint64 { n, err := m.Uint(k); require.NoError(t, err); return n }
	flt := func(k string) float64 { x, err := m.Float(k); require.NoError(t, err); return x }
	require.Equal(t, "qwen3", str("general.architecture"))
	require.Equal(t, "model", str("general.type"))
	require.Equal(t, "none", str("tokenizer.ggml.model"))
	require.Equal(t, uint64(2), num("general.file_type"))
	require.Equal(t, uint64(2), num("general.quantization_version"))
	// config.json of qwen3-tiny-untied: hidden 96, inter 160, 3 layers, 8 heads, 2 kv heads, head_dim 32.
	for k, v := range map[string]uint64{
		"qwen3.block_count": 3, "qwen3.context_length": 512, "qwen3.embedding_length": 96,
		"qwen3.feed_forward_length": 160, "qwen3.attention.head_count": 8, "qwen3.attention.head_count_kv": 2,
		"qwen3.attention.key_length": 32, "qwen3.attention.value_length": 32, "qwen3.vocab_size": 512,
		"tokenizer.ggml.bos_token_id": 510, "tokenizer.ggml.eos_token_id": 511,
	} {
		require.Equal(t, v, num(k), k)
	}
	require.Equal(t, 1e6, flt("qwen3.rope.freq_base"))
	require.Equal(t, float64(float32(1e-6)), flt("qwen3.attention.layer_norm_rms_epsilon"))

	_, err = m.String("qwen3.block_count")
	require.ErrorIs(t, err, ErrWrongType)
	require.ErrorContains(t, err, "qwen3.block_count")
	_, err = m.Uint("no.such.key")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = f.Tensor("no.such.tensor")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestFixtureTokenizerMetadata(t *testing.T) {
	f, err := Open(filepath.Join(fixtureDir, "qwen3-tiny-vocab", "qwen3-tiny-vocab-q8_0.gguf"))
	require.NoError(t, err)
	defer f.Close()
	m := f.Metadata()
	tokens, err := m.Strings("tokenizer.ggml.tokens")
	require.NoError(t, err)
	require.Len(t, tokens, 151936)
	require.Equal(t, "!", tokens[0])
	require.Equal(t, "<|im_end|>", tokens[151645])
	require.Equal(t, "[PAD151935]", tokens[151935])
	types, err := m.Ints("tokenizer.ggml.token_type")
	require.NoError(t, err)
	require.Len(t, types, 151936)
	require.Equal(t, []int64{1, 3, 5}, []int64{types[0], types[151645], types[151935]})
	merges, err := m.Strings("tokenizer.ggml.merges")
	require.NoError(t, err)
	require.Len(t, merges, 151387)
	require.Equal(t, "Ġ Ġ", merges[0])
	tmpl, err := m.String("tokenizer.chat_template")
	require.NoError(t, err)
	require.Contains(t, tmpl, "<|im_start|>")
	add, err := m.Bool("tokenizer.ggml.add_bos_token")
	require.NoError(t, err)
	require.False(t, add)
}

// TestRewriteFixtures reads every fixture and writes its metadata and
// tensors back with Writer, in the same order: the result must be the
// fixture byte for byte, since the fixtures are what llama.cpp reads.
func TestRewriteFixtures(t *testing.T) {
	for _, path := range fixtureFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			orig, err := os.ReadFile(path)
			require.NoError(t, err)
			f, err := Parse(orig)
			require.NoError(t, err)
			w := NewWriter()
			for _, kv := range f.Metadata().All() {
				require.NoError(t, w.Set(kv.Key, kv.Value))
			}
			for _, info := range f.Tensors() {
				data, err := f.RawData(info.Name)
				require.NoError(t, err)
				require.NoError(t, w.AddTensor(info.Name, info.Type, info.Dims, data))
			}
			var buf bytes.Buffer
			n, err := w.WriteTo(&buf)
			require.NoError(t, err)
			require.Equal(t, int64(buf.Len()), n)
			require.True(t, bytes.Equal(orig, buf.Bytes()), "rewritten file differs (%d vs %d bytes)", buf.Len(), len(orig))
		})
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "missing.gguf"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = Open(t.TempDir())
	require.ErrorIs(t, err, ErrInvalid)
	empty := filepath.Join(t.TempDir(), "empty.gguf")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err = Open(empty)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "empty.gguf")
}

func TestClose(t *testing.T) {
	f, err := Open(fixtureFiles(t)[0])
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, f.Close())
	_, err = f.Tensor(f.Tensors()[0].Name)
	require.ErrorContains(t, err, "closed")
	_, err = f.Metadata().String("general.architecture") // metadata outlives the mapping
	require.NoError(t, err)
}
