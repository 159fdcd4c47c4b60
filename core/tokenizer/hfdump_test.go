package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAgainstHFDump compares Encode with Hugging Face's Rust tokenizer on
// the 2 MiB benchmark text, whole and in 4 KiB chunks, when
// NANOVLLM_HF_DUMP names a folder written by testdata/hf_reference.js. It
// also times both encodes here, so the speed of the two can be compared on
// the same machine at about the same time.
func TestAgainstHFDump(t *testing.T) {
	dir := os.Getenv("NANOVLLM_HF_DUMP")
	if dir == "" {
		t.Skip("set NANOVLLM_HF_DUMP to the output folder of testdata/hf_reference.js")
	}
	tok := qwen3(t)
	read := func(name string, v any) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(data, v))
	}
	text, err := os.ReadFile(filepath.Join(dir, "text.txt"))
	require.NoError(t, err)
	require.Equal(t, benchText(t), string(text), "the dump was made from another text")
	var want []int32
	read("ids.json", &want)
	var chunks []string
	read("chunks.json", &chunks)
	var wantChunks [][]int32
	read("chunk_ids.json", &wantChunks)
	require.Len(t, wantChunks, len(chunks))

	best := func(f func()) time.Duration {
		b := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			f()
			b = min(b, time.Since(start))
		}
		return b
	}
	var got []int32
	whole := best(func() { got = tok.Encode(string(text)) })
	require.Equal(t, want, got)
	gotChunks := make([][]int32, len(chunks))
	chunked := best(func() {
		for i, c := range chunks {
			gotChunks[i] = tok.Encode(c)
		}
	})
	require.Equal(t, wantChunks, gotChunks)
	mbps := func(d time.Duration) float64 { return float64(len(text)) / 1e6 / d.Seconds() }
	t.Logf("%d ids identical; Go encode: whole %v (%.1f MB/s), 4 KiB chunks %v (%.1f MB/s)",
		len(got), whole, mbps(whole), chunked, mbps(chunked))
	if timing, err := os.ReadFile(filepath.Join(dir, "timing.json")); err == nil {
		t.Logf("Hugging Face tokenizers (from the dump): %s", timing)
	}
}
