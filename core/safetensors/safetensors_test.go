package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// qwen3Config is the subset of config.json that fixes the tensor shapes.
type qwen3Config struct {
	Vocab   int  `json:"vocab_size"`
	Hidden  int  `json:"hidden_size"`
	Inter   int  `json:"intermediate_size"`
	Layers  int  `json:"num_hidden_layers"`
	Heads   int  `json:"num_attention_heads"`
	KVHeads int  `json:"num_key_value_heads"`
	HeadDim int  `json:"head_dim"`
	Tied    bool `json:"tie_word_embeddings"`
}

// expectedShapes derives the Qwen3 tensor inventory from a config, following
// the naming in testdata/README.md rather than anything the reader reports.
func expectedShapes(c qwen3Config) map[string][]int {
	m := map[string][]int{
		"model.embed_tokens.weight": {c.Vocab, c.Hidden},
		"model.norm.weight":         {c.Hidden},
	}
	if !c.Tied {
		m["lm_head.weight"] = []int{c.Vocab, c.Hidden}
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		m[p+"input_layernorm.weight"] = []int{c.Hidden}
		m[p+"post_attention_layernorm.weight"] = []int{c.Hidden}
		m[p+"self_attn.q_proj.weight"] = []int{q, c.Hidden}
		m[p+"self_attn.k_proj.weight"] = []int{kv, c.Hidden}
		m[p+"self_attn.v_proj.weight"] = []int{kv, c.Hidden}
		m[p+"self_attn.o_proj.weight"] = []int{c.Hidden, q}
		m[p+"self_attn.q_norm.weight"] = []int{c.HeadDim}
		m[p+"self_attn.k_norm.weight"] = []int{c.HeadDim}
		m[p+"mlp.gate_proj.weight"] = []int{c.Inter, c.Hidden}
		m[p+"mlp.up_proj.weight"] = []int{c.Inter, c.Hidden}
		m[p+"mlp.down_proj.weight"] = []int{c.Hidden, c.Inter}
	}
	return m
}

func TestFixtureCheckpoints(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/qwen3-*/model.safetensors")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(dirs), 3, "fixture checkpoints missing")
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
			require.NoError(t, err)
			var cfg qwen3Config
			require.NoError(t, json.Unmarshal(raw, &cfg))
			want := expectedShapes(cfg)

			c, err := OpenDir(dir)
			require.NoError(t, err)
			defer c.Close()
			require.ElementsMatch(t, sortedKeys(want), c.Names())
			require.Equal(t, map[string]string{"format": "pt"}, c.Metadata())

			// The same bytes parsed from memory must give identical tensors:
			// the mmap path and the portable path agree.
			whole, err := os.ReadFile(path)
			require.NoError(t, err)
			mem, err := Parse(whole)
			require.NoError(t, err)

			for name, shape := range want {
				tn, err := c.Tensor(name)
				require.NoError(t, err)
				require.Equal(t, BF16, tn.DType, name)
				require.Equal(t, shape, tn.Shape, name)
				require.Len(t, tn.Data, tn.NumElements()*2, name)
				mt, ok := mem.Tensor(name)
				require.True(t, ok)
				require.Equal(t, mt.Data, tn.Data, name)

				// The generator drew norms from U[0.5, 1.5] and matrices from
				// N(0, 0.2²): reading the wrong bytes would break both.
				vals, err := tn.ToFloat32()
				require.NoError(t, err)
				if strings.Contains(name, "norm") {
					for _, v := range vals {
						require.True(t, v >= 0.5 && v <= 1.5, "%s: %v outside U[0.5,1.5]", name, v)
					}
				} else {
					var sum, sq float64
					for _, v := range vals {
						sum += float64(v)
						sq += float64(v) * float64(v)
					}
					n := float64(len(vals))
					std := math.Sqrt(sq/n - (sum/n)*(sum/n))
					require.InDelta(t, 0.2, std, 0.02, "%s std", name)
				}
			}
		})
	}
}

func TestOpenMapsInPlace(t *testing.T) {
	f, err := Open("../../testdata/qwen3-tiny/model.safetensors")
	require.NoError(t, err)
	tn, ok := f.Tensor("model.embed_tokens.weight")
	require.True(t, ok)
	u, err := tn.Uint16s()
	require.NoError(t, err)
	// Header padding keeps the data section 8-byte aligned, so bf16 weights
	// are viewed where they lie: no copy, no float32 expansion.
	require.Equal(t, &tn.Data[0], (*byte)(unsafePointer(&u[0])))
	require.Equal(t, cap(tn.Data), len(tn.Data), "capacity must stop at the tensor's end")
	require.NoError(t, f.Close())
	require.NoError(t, f.Close(), "Close is idempotent")
	_, ok = f.Tensor("model.embed_tokens.weight")
	require.False(t, ok, "a closed file hands out no tensors")
}

// writeFile builds a safetensors file with Write.
func writeFile(t testing.TB, tensors []Tensor, meta map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, tensors, meta))
	return buf.Bytes()
}

func bf16Tensor(name string, shape []int, start float32) Tensor {
	t := Tensor{Name: name, DType: BF16, Shape: shape}
	n := t.NumElements()
	t.Data = make([]byte, 2*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint16(t.Data[2*i:], F32ToBF16(start+float32(i)))
	}
	return t
}

func TestWriteRoundTrip(t *testing.T) {
	f32 := Tensor{Name: "b", DType: F32, Shape: []int{3}, Data: make([]byte, 12)}
	for i, v := range []float32{1.5, -2, 1e-3} {
		binary.LittleEndian.PutUint32(f32.Data[4*i:], math.Float32bits(v))
	}
	in := []Tensor{
		bf16Tensor("z.weight", []int{2, 3}, 1),
		f32,
		{Name: "scalar", DType: F16, Shape: []int{}, Data: []byte{0x00, 0x3c}},
		{Name: "empty", DType: F32, Shape: []int{0, 5}, Data: []byte{}},
		{Name: "weird \"name\"\n", DType: BF16, Shape: []int{1}, Data: []byte{0x80, 0x3f}},
	}
	data := writeFile(t, in, map[string]string{"format": "pt", "k\"": "v"})
	n := binary.LittleEndian.Uint64(data)
	require.Zero(t, (8+n)%8, "data section must start 8-byte aligned")

	f, err := Parse(data)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"format": "pt", "k\"": "v"}, f.Metadata())
	require.Equal(t, []string{"b", "empty", "scalar", "weird \"name\"\n", "z.weight"}, f.Names())
	for _, want := range in {
		got, ok := f.Tensor(want.Name)
		require.True(t, ok)
		require.Equal(t, want.DType, got.DType)
		require.Equal(t, want.Shape, got.Shape)
		require.Equal(t, want.Data, got.Data)
	}
	b, _ := f.Tensor("b")
	vals, err := b.Float32s()
	require.NoError(t, err)
	require.Equal(t, []float32{1.5, -2, 1e-3}, vals)
	s, _ := f.Tensor("scalar")
	sv, err := s.ToFloat32()
	require.NoError(t, err)
	require.Equal(t, []float32{1}, sv)
}

func TestWriteRejects(t *testing.T) {
	tests := []struct {
		name    string
		tensors []Tensor
		want    string
	}{
		{"short data", []Tensor{{Name: "a", DType: BF16, Shape: []int{2}, Data: []byte{1}}}, `tensor "a": 1 bytes of data, shape [2] of BF16 needs 4`},
		{"unknown dtype", []Tensor{{Name: "a", DType: "Q4", Shape: []int{1}, Data: []byte{1}}}, `unknown dtype "Q4"`},
		{"duplicate", []Tensor{bf16Tensor("a", []int{1}, 0), bf16Tensor("a", []int{1}, 0)}, `tensor "a" given twice`},
		{"reserved", []Tensor{bf16Tensor("__metadata__", []int{1}, 0)}, `reserved`},
		{"negative", []Tensor{{Name: "a", DType: BF16, Shape: []int{-1}}}, `negative dimension`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(&bytes.Buffer{}, tc.tensors, nil)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// rawFile assembles a file from a literal header and n data bytes, so tests
// can say exactly what a malformed header contains.
func rawFile(header string, n int) []byte {
	b := make([]byte, 8, 8+len(header)+n)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, n)...)
}

func TestMalformedHeaders(t *testing.T) {
	tensor := func(body string) string { return `{"w":` + body + `}` }
	tests := []struct {
		name, tensor, want string
		data               []byte
	}{
		{name: "shorter than length", data: []byte{1, 2, 3}, want: "file is 3 bytes, shorter than the 8-byte header length"},
		{name: "length past end", data: append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), want: "header length 100 exceeds the 2 bytes after the length prefix"},
		{name: "length over limit", data: binary.LittleEndian.AppendUint64(nil, 1<<40), want: "header length 1099511627776 exceeds the 100000000-byte limit"},
		{name: "length wraps negative", data: binary.LittleEndian.AppendUint64(nil, math.MaxUint64), want: "exceeds the 100000000-byte limit"},
		{name: "not json", data: rawFile("{nope", 0), want: "header JSON"},
		{name: "not an object", data: rawFile("[1,2]   ", 0), want: "does not start with a JSON object"},
		{name: "empty header", data: rawFile("", 0), want: "does not start with a JSON object"},
		{name: "truncated object", data: rawFile(`{"w":{"dtype":"F32"`, 0), tensor: "w", want: "header JSON"},
		{name: "trailing garbage", data: rawFile(`{} x`, 0), want: "unexpected data after the header object"},
		{name: "invalid utf8", data: rawFile("{\"\xff\":1}", 0), want: "not valid UTF-8"},
		{name: "entry not object", data: rawFile(tensor(`[1]`), 0), tensor: "w", want: "bad entry [1]"},
		{name: "missing dtype", data: rawFile(tensor(`{"shape":[1],"data_offsets":[0,4]}`), 4), tensor: "w", want: "missing dtype"},
		{name: "missing shape", data: rawFile(tensor(`{"dtype":"F32","data_offsets":[0,4]}`), 4), tensor: "w", want: "missing shape"},
		{name: "missing offsets", data: rawFile(tensor(`{"dtype":"F32","shape":[1]}`), 4), tensor: "w", want: "missing data_offsets"},
		{name: "unknown dtype", data: rawFile(tensor(`{"dtype":"F7","shape":[1],"data_offsets":[0,1]}`), 1), tensor: "w", want: `unknown dtype "F7"`},
		{name: "negative dim", data: rawFile(tensor(`{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}`), 0), tensor: "w", want: "negative dimension -1"},
		{name: "fractional dim", data: rawFile(tensor(`{"dtype":"F32","shape":[1.5],"data_offsets":[0,6]}`), 6), tensor: "w", want: "cannot unmarshal number 1.5"},
		{name: "shape overflow", data: rawFile(tensor(`{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}`), 0), tensor: "w", want: "overflows the byte length"},
		{name: "byte overflow", data: rawFile(tensor(`{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}`), 0), tensor: "w", want: "overflows the byte length"},
		{name: "three offsets", data: rawFile(tensor(`{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}`), 8), tensor: "w", want: "data_offsets has 3 values, want 2"},
		{name: "negative offset", data: rawFile(tensor(`{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}`), 8), tensor: "w", want: "negative data_offsets [-4, 0]"},
		{name: "begin after end", data: rawFile(tensor(`{"dtype":"F32","shape":[1],"data_offsets":[8,4]}`), 8), tensor: "w", want: "data_offsets [8, 4] end before they begin"},
		{name: "past data", data: rawFile(tensor(`{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`), 7), tensor: "w", want: "data_offsets [0, 8] extend past the 7-byte data section"},
		{name: "wrong length", data: rawFile(tensor(`{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}`), 16), tensor: "w", want: "hold 8 bytes but shape [2 3] of BF16 needs 12"},
		{name: "overlap", data: rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), tensor: "b", want: `bytes [`},
		{name: "duplicate name", data: rawFile(`{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, 8), tensor: "w", want: "appears twice"},
		{name: "metadata not strings", data: rawFile(`{"__metadata__":{"n":1}}`, 0), want: "__metadata__ must be an object of strings"},
		{name: "metadata null", data: rawFile(`{"__metadata__":null}`, 0), want: "__metadata__ must be an object of strings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data)
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, tc.want)
			var fe *FormatError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tc.tensor, fe.Tensor)
			if tc.tensor != "" {
				require.ErrorContains(t, err, fmt.Sprintf("tensor %q", tc.tensor))
			}

			// Through Open the message also names the file.
			path := filepath.Join(t.TempDir(), "bad.safetensors")
			require.NoError(t, os.WriteFile(path, tc.data, 0o644))
			_, err = Open(path)
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, path)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestOverlapNamesBothTensors(t *testing.T) {
	_, err := Parse(rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12))
	require.ErrorContains(t, err, `tensor "b": bytes [`)
	require.ErrorContains(t, err, `overlap tensor "a"`)
}

func TestAcceptedEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"no tensors", rawFile(`{}`, 0)},
		{"padding", rawFile(`{}      `, 0)},
		{"empty tensors share an offset", rawFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"c":{"dtype":"I8","shape":[0,3],"data_offsets":[4,4]}}`, 4)},
		{"other dtypes validate", rawFile(`{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}`, 16)},
		{"unknown entry fields ignored", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":true}}`, 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data)
			require.NoError(t, err)
		})
	}
}

func TestUnsupportedDTypeConversion(t *testing.T) {
	f, err := Parse(rawFile(`{"position_ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}`, 16))
	require.NoError(t, err)
	tn, ok := f.Tensor("position_ids")
	require.True(t, ok)
	_, err = tn.ToFloat32()
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, `unsupported dtype I64 for tensor "position_ids"`)
	_, err = tn.Uint16s()
	require.ErrorContains(t, err, `tensor "position_ids" is I64, not BF16 or F16`)
	_, err = tn.Float32s()
	require.ErrorContains(t, err, `is I64, not F32`)
}

func TestMisalignedViewCopies(t *testing.T) {
	buf := make([]byte, 9)
	binary.LittleEndian.PutUint16(buf[1:], 0x3f80)
	binary.LittleEndian.PutUint16(buf[3:], 0xc000)
	u, err := Tensor{Name: "x", DType: BF16, Shape: []int{2}, Data: buf[1:5]}.Uint16s()
	require.NoError(t, err)
	require.Equal(t, []uint16{0x3f80, 0xc000}, u)
	binary.LittleEndian.PutUint32(buf[1:], math.Float32bits(-3.25))
	binary.LittleEndian.PutUint32(buf[5:], math.Float32bits(7))
	f, err := Tensor{Name: "x", DType: F32, Shape: []int{2}, Data: buf[1:9]}.Float32s()
	require.NoError(t, err)
	require.Equal(t, []float32{-3.25, 7}, f)
}

// countingReaderAt records the furthest byte read.
type countingReaderAt struct {
	r   *bytes.Reader
	max int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.max = max(c.max, off+int64(len(p)))
	return c.r.ReadAt(p, off)
}

func TestReadHeaderReadsOnlyTheHeader(t *testing.T) {
	data := writeFile(t, []Tensor{bf16Tensor("a", []int{4, 4}, 0), bf16Tensor("b", []int{3}, 100)}, nil)
	r := &countingReaderAt{r: bytes.NewReader(data)}
	h, err := ReadHeader(r, int64(len(data)))
	require.NoError(t, err)
	require.Equal(t, h.DataOffset, r.max, "ReadHeader must not touch the data section")
	b, ok := h.Lookup("b")
	require.True(t, ok)
	// Begin/End are absolute: slicing the file with them gives the tensor.
	want := bf16Tensor("b", []int{3}, 100).Data
	require.Equal(t, want, data[b.Begin:b.End])
	require.Equal(t, []string{"a", "b"}, h.Names())
	require.Equal(t, 3, b.NumElements())
}

func TestReadHeaderLimitWithLargeFile(t *testing.T) {
	// A file big enough to hold the claimed header must still be refused
	// before 100 MB are allocated for it.
	prefix := binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1)
	r := &countingReaderAt{r: bytes.NewReader(prefix)}
	_, err := ReadHeader(r, 1<<30)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "exceeds the 100000000-byte limit")
	require.EqualValues(t, 8, r.max)
}
