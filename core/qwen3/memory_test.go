package qwen3

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/stretchr/testify/require"
)

func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestCheckpointNotCopied loads the big-vocabulary fixture (9.8 MB of bf16,
// almost all of it the embedding matrix) and checks that the Go heap grows
// by far less than the checkpoint: the CPU device uses the memory-mapped
// bf16 weights in place.
func TestCheckpointNotCopied(t *testing.T) {
	dir := fixtureDir("qwen3-tiny-vocab")
	st, err := os.Stat(filepath.Join(dir, "model.safetensors"))
	require.NoError(t, err)
	dev := cpu.New(cpu.Options{})
	defer dev.Close()
	before := heapInUse()
	m, err := Load(dir, dev, Options{MaxTokens: 16})
	require.NoError(t, err)
	defer m.Close()
	grown := heapInUse() - before
	t.Logf("checkpoint %d bytes, heap grew by %d bytes", st.Size(), grown)
	// What may be on the heap: float32 norm vectors, activations for 16
	// tokens and one row of logits (151936 floats, 0.6 MB).
	require.Less(t, grown, st.Size()/4, "weights seem to be copied to the heap")
}

// TestMemoryQwen3_0_6B builds the random Qwen3-0.6B preset with a KV cache,
// runs a prefill and a decode step, and checks that the heap holds no more
// than 10% beyond weights + KV cache.
func TestMemoryQwen3_0_6B(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 1.2 GB of weights")
	}
	dev := cpu.New(cpu.Options{})
	defer dev.Close()
	before := heapInUse()
	m, err := Load("random:qwen3-0.6b", dev, Options{MaxTokens: 64})
	require.NoError(t, err)
	defer m.Close()
	const blocks, bs = 64, 16
	require.NoError(t, m.NewKVCache(blocks, bs))
	a := newAllocator(m)
	prompt := make([]int32, 40)
	for i := range prompt {
		prompt[i] = int32(1000 + 37*i)
	}
	s := newTestSeq(prompt)
	ids, err := m.ForwardArgmax(a.batch([]part{{seq: s, n: len(prompt), logits: true}}))
	require.NoError(t, err)
	s.tokens = append(s.tokens, ids[0])
	_, err = m.ForwardArgmax(a.batch([]part{{seq: s, n: 1, logits: true}}))
	require.NoError(t, err)

	cfg := m.Config()
	// bf16 parameter bytes, counted from the architecture.
	H, I, hd := int64(cfg.HiddenSize), int64(cfg.IntermediateSize), int64(cfg.HeadDim)
	q, kvw := int64(cfg.NumAttentionHeads)*hd, int64(cfg.NumKeyValueHeads)*hd
	perLayer := q*H + 2*kvw*H + H*q + 3*I*H + 2*H + 2*hd
	weights := 2 * (int64(cfg.NumHiddenLayers)*perLayer + int64(cfg.VocabSize)*H + H)
	kv := m.KVCacheSpec(blocks, bs).Bytes()
	used := heapInUse() - before
	ratio := float64(used) / float64(weights+kv)
	t.Logf("heap %d bytes for weights %d + KV cache %d: ratio %.3f", used, weights, kv, ratio)
	require.Less(t, ratio, 1.10)
	require.Greater(t, ratio, 0.99, "the heap should hold the generated weights")
	runtime.KeepAlive(m)
}
