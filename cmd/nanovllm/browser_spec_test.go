package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBrowserSpeculative runs speculative decoding (prompt lookup, K=4) in
// the browser build on both devices: greedy outputs, all requests batched
// together, equal the fixture's (transformers') greedy tokens, and the
// usage reports proposals and accepted ones. Cases 0 and 4 repeat
// themselves enough for lookups to hit, so verification steps accept
// proposals on the WebGPU device too.
func TestBrowserSpeculative(t *testing.T) {
	ctx, base := browserEnv(t)
	cases := loadGreedyCases(t)
	idx := []int{0, 1, 4}
	prompts := make([][]int32, len(idx))
	for i, c := range idx {
		prompts[i] = cases[c].Prompt
	}
	ps, err := json.Marshal(prompts)
	require.NoError(t, err)
	for _, dev := range []string{"cpu", "webgpu"} {
		t.Run(dev, func(t *testing.T) {
			var got []struct {
				TokenIDs []int32 `json:"token_ids"`
				Usage    struct {
					Proposed int `json:"speculative_proposed_tokens"`
					Accepted int `json:"speculative_accepted_tokens"`
				} `json:"usage"`
			}
			script := fmt.Sprintf(`
				const m = await import('/web/nanovllm.js');
				const engine = await m.createEngine({model: %q, device: %q, cache: false, kvCacheBytes: 16 << 20,
					speculative: {method: 'ngram', numTokens: 4}});
				const rs = await Promise.all(%s.map((p) => engine.generate({prompt_ids: p, max_tokens: 24, temperature: 0, ignore_eos: true})));
				engine.close();
				return rs;
			`, base+"/models/local", dev, ps)
			require.NoError(t, evalJSON(ctx, script, &got))
			require.Len(t, got, len(idx))
			proposed, accepted := 0, 0
			for i, c := range idx {
				require.Equal(t, cases[c].Greedy.Tokens, got[i].TokenIDs, "case %d with speculation on %s", c, dev)
				proposed += got[i].Usage.Proposed
				accepted += got[i].Usage.Accepted
			}
			t.Logf("%s: %d of %d proposed tokens accepted", dev, accepted, proposed)
			require.Positive(t, accepted, "proposals must be accepted on %s", dev)
		})
	}
}
