package cpu

import (
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
	"github.com/nano-vllm-go/nano-vllm-go/core/sysmem"
	"github.com/stretchr/testify/require"
)

// TestMisuseIsAnError checks that wrong buffers, slots and shapes surface as
// errors from the step's read, not panics.
func TestMisuseIsAnError(t *testing.T) {
	d := New(Options{})
	defer d.Close()
	w, err := d.UploadWeight("w", device.BF16, []int{4, 16}, make([]byte, 128))
	require.NoError(t, err)
	_, err = d.UploadWeight("w", device.BF16, []int{4, 16}, make([]byte, 127))
	require.ErrorContains(t, err, "127 bytes")
	out := &buffer{data: make([]float32, 4)}
	d.Linear(out, &buffer{data: make([]float32, 16)}, w, 1)
	require.ErrorContains(t, d.ReadFloats(nil, out), "outside a step")

	require.NoError(t, begin(d, oneSeqBatch(2)))
	d.Linear(out, &buffer{data: make([]float32, 16)}, w, 2)
	require.ErrorContains(t, d.ReadFloats(nil, out), "need 32")

	c, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 1, BlockSize: 16, KVHeads: 1, HeadDim: 4})
	require.NoError(t, err)
	b := oneSeqBatch(20) // needs 2 blocks, the cache has 1
	err = d.BeginStep(b, c)
	require.ErrorIs(t, err, step.ErrInvalid)
	require.ErrorContains(t, err, "block 1, KV cache has 1")
	d.WriteKV(c, 0, &buffer{data: make([]float32, 80)}, &buffer{data: make([]float32, 80)}, 20)
	require.ErrorContains(t, d.ReadFloats(nil, out), "outside a step", "a step that failed BeginStep runs nothing")

	require.NoError(t, d.BeginStep(oneSeqBatch(3), c))
	other, err := d.NewKVCache(device.KVCacheSpec{Layers: 1, NumBlocks: 1, BlockSize: 16, KVHeads: 1, HeadDim: 4})
	require.NoError(t, err)
	d.WriteKV(other, 0, &buffer{data: make([]float32, 12)}, &buffer{data: make([]float32, 12)}, 3)
	require.ErrorContains(t, d.ReadFloats(nil, out), "not the one BeginStep was given")

	bad := oneSeqBatch(3)
	bad.Slots[2] = 9
	require.ErrorIs(t, d.BeginStep(bad, c), step.ErrInvalid)
	require.ErrorContains(t, d.BeginStep(oneSeqBatch(3), nil), "not from the CPU device")
}

// TestHugeAllocationsAreErrors: sizes from a config or a flag that would
// overflow, or not fit in the machine's memory, are errors naming the
// allocation before anything is allocated (Go's out of memory is a fatal
// error no recover catches).
func TestHugeAllocationsAreErrors(t *testing.T) {
	d := New(Options{Threads: 1 << 20})
	defer d.Close()
	require.Equal(t, MaxThreads, d.pool.threads(), "threads are capped")
	_, err := d.NewKVCache(device.KVCacheSpec{Layers: 1 << 20, NumBlocks: 1 << 30, BlockSize: 1 << 10, KVHeads: 8, HeadDim: 128})
	require.ErrorContains(t, err, "too large")
	if _, known := sysmem.Available(); !known {
		t.Skip("available memory unknown here")
	}
	// 28 layers x 2^20 blocks of 16 tokens x 8 KV heads x 128: 3.8 TB.
	_, err = d.NewKVCache(device.KVCacheSpec{Layers: 28, NumBlocks: 1 << 20, BlockSize: 16, KVHeads: 8, HeadDim: 128})
	require.ErrorIs(t, err, sysmem.ErrInsufficient)
	require.ErrorContains(t, err, "the KV cache")
	_, err = d.NewBuffer(1 << 40)
	require.ErrorIs(t, err, sysmem.ErrInsufficient)
	require.ErrorContains(t, err, "a buffer of 1099511627776 floats")
}
