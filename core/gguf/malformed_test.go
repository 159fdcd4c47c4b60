package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// raw builds GGUF bytes field by field for the malformed-header tests.
type raw struct{ bytes.Buffer }

func (b *raw) u32(x uint32) *raw { _ = binary.Write(b, binary.LittleEndian, x); return b }
func (b *raw) u64(x uint64) *raw { _ = binary.Write(b, binary.LittleEndian, x); return b }
func (b *raw) str(s string) *raw { b.u64(uint64(len(s))); b.WriteString(s); return b }
func (b *raw) pad(n int) *raw    { b.Write(make([]byte, n)); return b }

// header starts a v3 file with the given counts.
func header(tensors, kvs uint64) *raw {
	b := &raw{}
	b.WriteString("GGUF")
	return b.u32(3).u64(tensors).u64(kvs)
}

// tensorInfo appends one tensor info.
func (b *raw) tensorInfo(name string, typ Type, offset uint64, dims ...uint64) *raw {
	b.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		b.u64(d)
	}
	return b.u32(uint32(typ)).u64(offset)
}

// dataAt pads to the 32-byte data section and appends n bytes.
func (b *raw) dataAt(n int) *raw {
	b.pad((32 - b.Len()%32) % 32)
	return b.pad(n)
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string // part of the error message
	}{
		{"empty", nil, "not a GGUF file"},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), "not a GGUF file"},
		{"truncated version", []byte("GGUF\x03"), "version needs 4 bytes"},
		{"big-endian", append([]byte("GGUF"), 0, 0, 0, 3), "big-endian"},
		{"truncated counts", header(0, 0).Bytes()[:12], "tensor count needs 8 bytes"},
		{"2^60 tensors in 24 bytes", header(1<<60, 0).Bytes(), "tensor count is 1152921504606846976"},
		{"2^64-1 metadata entries", header(0, math.MaxUint64).Bytes(), "metadata count is 18446744073709551615"},
		{"key longer than the file", header(0, 1).u64(1 << 62).pad(8).Bytes(), "metadata key is 4611686018427387904 bytes long"},
		{"empty key", header(0, 1).str("").u32(uint32(Uint8)).pad(1).Bytes(), "want 1 to 65535"},
		{"duplicate key", header(0, 2).str("a").u32(uint32(Uint8)).pad(1).str("a").u32(uint32(Uint8)).pad(1).Bytes(), `"a" appears twice`},
		{"unknown value type", header(0, 1).str("a").u32(13).pad(8).Bytes(), `metadata "a" has unknown value type 13`},
		{"control bytes in a key", header(0, 1).str("k\n\x00" + string(make([]byte, 100))).u32(13).Bytes(), `metadata "k\n\x00\x00`},
		{"truncated bool", header(0, 1).str("a").u32(uint32(Bool)).Bytes(), `metadata "a" needs 1 bytes`},
		{"bool byte 2", append(header(0, 1).str("a").u32(uint32(Bool)).Bytes(), 2), "bool byte is 2"},
		{"string array longer than the file", header(0, 1).str("a").u32(uint32(Array)).u32(uint32(String)).u64(1 << 40).Bytes(), `metadata "a" array length is 1099511627776`},
		{"u32 array longer than the file", header(0, 1).str("a").u32(uint32(Array)).u32(uint32(Uint32)).u64(3).pad(8).Bytes(), "hold at most 2"},
		{"array of unknown type", header(0, 1).str("a").u32(uint32(Array)).u32(99).u64(0).Bytes(), "array of unknown value type 99"},
		{"arrays nested too deep", deepArray(MaxArrayDepth + 1), "nested more than 8 deep"},
		{"alignment not uint32", header(0, 1).str(KeyAlignment).u32(uint32(Uint64)).u64(32).Bytes(), "general.alignment is a uint64"},
		{"alignment not a power of two", header(0, 1).str(KeyAlignment).u32(uint32(Uint32)).u32(24).Bytes(), "24 is not a power of two"},
		{"alignment zero", header(0, 1).str(KeyAlignment).u32(uint32(Uint32)).u32(0).Bytes(), "0 is not a power of two"},
		{"zero dims", header(1, 0).tensorInfo("t", TypeF32, 0).dataAt(4).Bytes(), `"t" has 0 dimensions`},
		{"five dims", header(1, 0).tensorInfo("t", TypeF32, 0, 1, 1, 1, 1, 1).dataAt(4).Bytes(), `"t" has 5 dimensions`},
		{"zero dim", header(1, 0).tensorInfo("t", TypeF32, 0, 4, 0).dataAt(16).Bytes(), "dimension 1 is 0"},
		{"dims overflow", header(1, 0).tensorInfo("t", TypeF32, 0, 1<<32, 1<<32).dataAt(4).Bytes(), "dimension 1 is 4294967296"},
		{"unknown ggml type", header(1, 0).tensorInfo("t", 31, 0, 32).dataAt(32).Bytes(), `"t" has unknown ggml type 31`},
		{"row not a multiple of the block", header(1, 0).tensorInfo("t", TypeQ8_0, 0, 16).dataAt(34).Bytes(), "rows of 16 values, not a multiple of its block of 32"},
		{"name too long", header(1, 0).tensorInfo(string(make([]byte, 64)), TypeF32, 0, 1).dataAt(4).Bytes(), "name is 64 bytes long"},
		{"duplicate tensor", header(2, 0).tensorInfo("t", TypeF32, 0, 8).tensorInfo("t", TypeF32, 32, 8).dataAt(64).Bytes(), `tensor "t" appears twice`},
		{"misaligned offset", header(1, 0).tensorInfo("t", TypeF32, 4, 1).dataAt(32).Bytes(), "offset 4 is not a multiple of the alignment 32"},
		{"data past the end", header(1, 0).tensorInfo("t", TypeF32, 0, 16).dataAt(60).Bytes(), `"t" (f32, dims [16]) runs past the end`},
		{"offset past the end", header(1, 0).tensorInfo("t", TypeF32, 1<<40, 1).dataAt(4).Bytes(), "runs past the end"},
		{"offset above int64", header(1, 0).tensorInfo("t", TypeF32, 1<<63, 1).dataAt(4).Bytes(), "has offset 9223372036854775808"},
		{"no data section", header(1, 0).tensorInfo("t", TypeF32, 0, 1).Bytes(), "data section would start at byte 64"},
		{"overlapping tensors", header(2, 0).tensorInfo("a", TypeF32, 0, 16).tensorInfo("b", TypeF32, 32, 16).dataAt(96).Bytes(), `"a" [96, 160) and "b" [128, 192) overlap`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data)
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// deepArray is a file whose one metadata value nests arrays depth deep.
func deepArray(depth int) []byte {
	b := header(0, 1).str("a").u32(uint32(Array))
	for i := 1; i < depth; i++ {
		b.u32(uint32(Array)).u64(1)
	}
	return b.u32(uint32(Uint8)).u64(0).Bytes()
}

func TestUnsupportedVersions(t *testing.T) {
	for _, v := range []uint32{0, 1, 4} {
		b := &raw{}
		b.WriteString("GGUF")
		_, err := Parse(b.u32(v).u64(0).u64(0).Bytes())
		require.ErrorIs(t, err, ErrUnsupported, "version %d", v)
	}
	b := &raw{}
	b.WriteString("GGUF")
	f, err := Parse(b.u32(2).u64(0).u64(0).Bytes())
	require.NoError(t, err, "version 2 has the same layout as 3")
	require.Equal(t, uint32(2), f.Header().Version)
}

// TestUnsupportedTensorType: a file with a tensor of a type devices do not
// take opens fine; only asking for that tensor fails, naming the type.
func TestUnsupportedTensorType(t *testing.T) {
	w := NewWriter()
	require.NoError(t, w.AddTensor("a", TypeQ5_K, []int64{256, 2}, make([]byte, 2*176)))
	require.NoError(t, w.AddTensor("b", TypeF32, []int64{3}, make([]byte, 12)))
	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	require.NoError(t, err)
	f, err := Parse(buf.Bytes())
	require.NoError(t, err)
	_, err = f.Tensor("a")
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, `tensor "a" has type q5_K`)
	_, err = f.Tensor("b")
	require.NoError(t, err)
	raw, err := f.RawData("a")
	require.NoError(t, err)
	require.Len(t, raw, 352)
}
