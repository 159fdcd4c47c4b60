package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBrowserKVCacheDType loads the fixture through createEngine with
// kvCacheDType 'bf16' on both devices: the engine reports the dtype and
// holds twice the blocks of an f32 cache in the same kvCacheBytes, and
// greedy generation of two batched prompts gives the same tokens on WebGPU
// as on the CPU device, whose 16-bit caches hold the same values. A dtype
// the engine does not have is a bad-request before anything is downloaded.
func TestBrowserKVCacheDType(t *testing.T) {
	ctx, base := browserEnv(t)
	cases := loadGreedyCases(t)
	prompts, err := json.Marshal([][]int32{cases[0].Prompt, cases[1].Prompt})
	require.NoError(t, err)
	type info struct {
		DType  string `json:"kv_cache_dtype"`
		Blocks int    `json:"kv_cache_blocks"`
		Bytes  int64  `json:"kv_cache_bytes"`
	}
	var got struct {
		F32    info                 `json:"f32"`
		Info   map[string]info      `json:"info"`
		Tokens map[string][][]int32 `json:"tokens"`
		Bad    string               `json:"bad"`
	}
	script := fmt.Sprintf(`
		const m = await import('/web/nanovllm.js');
		const pick = (i) => ({kv_cache_dtype: i.kv_cache_dtype, kv_cache_blocks: i.kv_cache_blocks, kv_cache_bytes: i.kv_cache_bytes});
		const out = {info: {}, tokens: {}};
		const f32 = await m.createEngine({model: %[1]q, device: 'cpu', cache: false, kvCacheBytes: 1 << 20});
		out.f32 = pick(f32.info);
		f32.close();
		for (const device of ['cpu', 'webgpu']) {
			const e = await m.createEngine({model: %[1]q, device, cache: false, kvCacheBytes: 1 << 20, kvCacheDType: 'bf16'});
			out.info[device] = pick(e.info);
			const rs = await Promise.all(%[2]s.map((p) => e.generate({prompt_ids: p, max_tokens: 12, temperature: 0, ignore_eos: true})));
			out.tokens[device] = rs.map((r) => r.token_ids);
			e.close();
		}
		try {
			await m.createEngine({model: %[1]q, device: 'cpu', cache: false, kvCacheDType: 'fp8'});
			out.bad = 'no error';
		} catch (e) { out.bad = e.code + ': ' + e.message; }
		return out;
	`, base+"/models/local", prompts)
	require.NoError(t, evalJSON(ctx, script, &got))

	// qwen3-tiny-vocab: 2 layers x 1 KV head x 16 dims x (K and V) = 64
	// elements a token, 16 tokens a block.
	require.Equal(t, info{"f32", (1 << 20) / (64 * 4 * 16), 1 << 20}, got.F32)
	for _, dev := range []string{"cpu", "webgpu"} {
		require.Equal(t, info{"bf16", (1 << 20) / (64 * 2 * 16), 1 << 20}, got.Info[dev], dev)
		require.Len(t, got.Tokens[dev], 2, dev)
	}
	require.Equal(t, got.Tokens["cpu"], got.Tokens["webgpu"], "greedy tokens with a bf16 cache, webgpu vs cpu")
	for i, toks := range got.Tokens["cpu"] {
		t.Logf("case %d with a bf16 cache: %v (float32 fixture: %v)", i, toks, cases[i].Greedy.Tokens[:len(toks)])
	}
	require.True(t, strings.HasPrefix(got.Bad, "bad-request: "), got.Bad)
	require.Contains(t, got.Bad, "kvCacheDType")
}
