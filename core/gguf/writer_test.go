package gguf

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
)

// TestWriterRoundTrip writes every kind of metadata value and a few
// tensors and reads them back.
func TestWriterRoundTrip(t *testing.T) {
	w := NewWriter()
	nested := ArraysValue([]Value{StringsValue([]string{"x", ""}), Int32sValue([]int32{-1, 7}), ArraysValue(nil)})
	kvs := []KV{
		{"general.architecture", StringValue("qwen3")},
		{"u32", Uint32Value(math.MaxUint32)},
		{"i32", Int32Value(-5)},
		{"u64", Uint64Value(1 << 60)},
		{"f32", Float32Value(1e-6)},
		{"yes", BoolValue(true)},
		{"no", BoolValue(false)},
		{"strs", StringsValue([]string{"Ġ Ġ", "<|im_end|>", ""})},
		{"ints", Int32sValue([]int32{1, 3, -4})},
		{"nested", nested},
		{"empty", StringValue("")},
	}
	for _, kv := range kvs {
		require.NoError(t, w.Set(kv.Key, kv.Value))
	}
	require.Error(t, w.Set("u32", Uint32Value(1)), "a key twice")
	f32 := make([]byte, 4*3*2)
	for i := range f32 {
		f32[i] = byte(i)
	}
	q8 := bytes.Repeat([]byte{1}, 34*2)
	require.NoError(t, w.AddTensor("a.weight", TypeF32, []int64{3, 2}, f32))
	require.NoError(t, w.AddTensor("b.weight", TypeQ8_0, []int64{32, 2}, q8))
	require.Error(t, w.AddTensor("c", TypeQ8_0, []int64{16}, q8[:17]), "row not a multiple of the block")
	require.Error(t, w.AddTensor("c", TypeF32, []int64{3}, f32), "wrong byte count")
	require.Error(t, w.AddTensor("a.weight", TypeF32, []int64{3, 2}, f32), "a name twice")

	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	require.NoError(t, err)
	require.Zero(t, buf.Len()%32)
	f, err := Parse(buf.Bytes())
	require.NoError(t, err)
	m := f.Metadata()
	keys := make([]string, len(kvs))
	for i, kv := range kvs {
		keys[i] = kv.Key
	}
	require.Equal(t, keys, m.Keys())

	s, err := m.String("general.architecture")
	require.NoError(t, err)
	require.Equal(t, "qwen3", s)
	u, err := m.Uint("u32")
	require.NoError(t, err)
	require.Equal(t, uint64(math.MaxUint32), u)
	i, err := m.Int("i32")
	require.NoError(t, err)
	require.Equal(t, int64(-5), i)
	_, err = m.Uint("i32")
	require.ErrorIs(t, err, ErrWrongType, "negative as unsigned")
	u, err = m.Uint("u64")
	require.NoError(t, err)
	require.Equal(t, uint64(1<<60), u)
	x, err := m.Float("f32")
	require.NoError(t, err)
	require.Equal(t, float64(float32(1e-6)), x)
	b, err := m.Bool("yes")
	require.NoError(t, err)
	require.True(t, b)
	b, err = m.Bool("no")
	require.NoError(t, err)
	require.False(t, b)
	strs, err := m.Strings("strs")
	require.NoError(t, err)
	require.Equal(t, []string{"Ġ Ġ", "<|im_end|>", ""}, strs)
	ints, err := m.Ints("ints")
	require.NoError(t, err)
	require.Equal(t, []int64{1, 3, -4}, ints)
	v, ok := m.Lookup("nested")
	require.True(t, ok)
	arrs, err := v.AsArrays()
	require.NoError(t, err)
	require.Len(t, arrs, 3)
	inner, err := arrs[0].AsStrings()
	require.NoError(t, err)
	require.Equal(t, []string{"x", ""}, inner)
	innerInts, err := arrs[1].AsInts()
	require.NoError(t, err)
	require.Equal(t, []int64{-1, 7}, innerInts)
	require.Equal(t, 0, arrs[2].Len())

	a, err := f.Tensor("a.weight")
	require.NoError(t, err)
	require.Equal(t, device.F32, a.DType)
	require.Equal(t, []int{2, 3}, a.Shape)
	require.Equal(t, f32, a.Data)
	q, err := f.Tensor("b.weight")
	require.NoError(t, err)
	require.Equal(t, device.Q8_0, q.DType)
	require.Equal(t, q8, q.Data)
	require.Zero(t, q.Info.Begin%32)
}

func TestWriterAlignment(t *testing.T) {
	w := NewWriter()
	require.Error(t, w.Set(KeyAlignment, Uint32Value(48)))
	require.NoError(t, w.Set(KeyAlignment, Uint32Value(64)))
	require.NoError(t, w.AddTensor("a", TypeF32, []int64{1}, make([]byte, 4)))
	require.NoError(t, w.AddTensor("b", TypeF32, []int64{1}, make([]byte, 4)))
	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	require.NoError(t, err)
	f, err := Parse(buf.Bytes())
	require.NoError(t, err)
	require.Equal(t, int64(64), f.Header().Alignment)
	require.Equal(t, int64(64), f.Tensors()[1].Offset)
	require.Zero(t, f.Header().DataOffset%64)
}

func TestWriterTensorFunc(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	w := NewWriter()
	calls := 0
	require.NoError(t, w.AddTensorFunc("lazy", TypeF32, []int64{2}, func() ([]byte, error) { calls++; return data, nil }))
	require.NoError(t, w.AddTensor("eager", TypeF32, []int64{2}, data))
	require.Zero(t, calls, "nothing loaded before WriteTo")
	var buf bytes.Buffer
	_, err := w.WriteTo(&buf)
	require.NoError(t, err)
	require.Equal(t, 1, calls)
	f, err := Parse(buf.Bytes())
	require.NoError(t, err)
	got, err := f.RawData("lazy")
	require.NoError(t, err)
	require.Equal(t, data, got)

	w = NewWriter()
	require.NoError(t, w.AddTensorFunc("short", TypeF32, []int64{2}, func() ([]byte, error) { return data[:4], nil }))
	_, err = w.WriteTo(&bytes.Buffer{})
	require.ErrorContains(t, err, `tensor "short": produced 4 bytes, want 8`)
	w = NewWriter()
	require.NoError(t, w.AddTensorFunc("failing", TypeF32, []int64{2}, func() ([]byte, error) { return nil, ErrNotFound }))
	_, err = w.WriteTo(&bytes.Buffer{})
	require.ErrorIs(t, err, ErrNotFound)
}

// TestTypesMatchQuant: the block layouts this package validates sizes
// with are core/quant's (which is checked bit-exact against ggml) for
// every type handed to devices.
func TestTypesMatchQuant(t *testing.T) {
	for _, typ := range []Type{TypeF32, TypeF16, TypeBF16, TypeQ8_0, TypeQ4_0, TypeQ4_K, TypeQ6_K} {
		dt, ok := typ.DType()
		require.True(t, ok, typ)
		require.Equal(t, int64(quant.BlockValues(dt)), typ.BlockValues(), typ)
		require.Equal(t, int64(quant.BlockBytes(dt)), typ.BlockBytes(), typ)
		back, err := TypeOf(dt)
		require.NoError(t, err)
		require.Equal(t, typ, back)
	}
	_, ok := TypeQ5_K.DType()
	require.False(t, ok)
	require.Equal(t, "ggml_type(99)", Type(99).String())
	require.False(t, Type(31).Known(), "removed Q4_0_4_4")
}
