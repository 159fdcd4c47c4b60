package qwen3

import (
	"math"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/stretchr/testify/require"
)

// kvDTypeFixtureResult is what TestKVCacheDTypeFixtures measures for one
// fixture, dtype and device.
type kvDTypeFixtureResult struct {
	greedyAgree, greedyTotal int     // reference greedy tokens reproduced, before each case's first divergence
	maxDeltaRef              float64 // max |Δ| of prefill logits against transformers' (reference.json)
	maxDeltaF32              float64 // max |Δ| of teacher-forced logits against the float32 cache
	maxAbsLogit              float64 // the scale of the logits compared
}

// measureKVDType runs fixture fx with a KV cache of dtype dt on a device
// with opts.
func measureKVDType(t *testing.T, fx string, dt device.DType, opts cpu.Options) kvDTypeFixtureResult {
	t.Helper()
	ref := loadReference(t, fx)
	load := func(dt device.DType) *Model {
		dev := cpu.New(opts)
		t.Cleanup(func() { dev.Close() })
		m, err := Load(fixtureDir(fx), dev, Options{KVCacheDType: dt})
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		require.Equal(t, dt, m.KVCacheSpec(1, 16).DType)
		return m
	}
	m, m32 := load(dt), load(device.F32)
	V := m.Config().VocabSize
	var res kvDTypeFixtureResult
	for _, c := range ref.Cases {
		// Greedy continuation, prefilled whole then decoded token by token.
		require.NoError(t, m.NewKVCache(64, 16))
		got := greedyRun(t, m, [][]int32{c.Prompt}, greedySteps, 1<<20, 0)[0]
		for i, tok := range c.Greedy.Tokens {
			if got[i] != tok {
				break
			}
			res.greedyAgree++
		}
		res.greedyTotal += len(c.Greedy.Tokens)

		// Prompt followed by the reference continuation, one prefill step
		// with every position's logits, on both caches: the logits along
		// the greedy path, in the same arithmetic but for the cache's
		// rounding.
		seq := append(append([]int32(nil), c.Prompt...), c.Greedy.Tokens...)
		forward := func(m *Model) []float32 {
			require.NoError(t, m.NewKVCache(64, 16))
			a := newAllocator(m)
			b := a.batch([]part{{seq: newTestSeq(seq), n: len(seq), logits: true, allLogits: true}})
			logits, err := m.Forward(b)
			require.NoError(t, err)
			require.Len(t, logits, len(seq)*V)
			return logits
		}
		lg, lg32 := forward(m), forward(m32)
		for i := range lg {
			res.maxDeltaF32 = math.Max(res.maxDeltaF32, math.Abs(float64(lg[i]-lg32[i])))
			res.maxAbsLogit = math.Max(res.maxAbsLogit, math.Abs(float64(lg32[i])))
		}
		// The prompt's last logits against transformers' float32 ones.
		if ref.LogitsStorage == "full" {
			last := lg[(len(c.Prompt)-1)*V : len(c.Prompt)*V]
			for j, w := range c.LastLogits {
				res.maxDeltaRef = math.Max(res.maxDeltaRef, math.Abs(float64(last[j])-w))
			}
		}
	}
	return res
}

// TestKVCacheDTypeFixtures runs the reference fixtures with a bf16 and an
// f16 KV cache. Rounding every key and value to 16 bits is a real change to
// the computation, so the logits are not the float32 reference's: the test
// measures how far they move and asserts the bounds measured when it was
// written (docs/model.md, "The KV cache dtype"), and that greedy decoding
// still reproduces transformers' tokens.
func TestKVCacheDTypeFixtures(t *testing.T) {
	for _, tc := range []struct {
		fx             string
		dt             device.DType
		minGreedy      int     // of 168 (7 prompts x 24 tokens)
		maxRef, maxF32 float64 // bounds on the max |Δlogit|s, just above the measured values
	}{
		{"qwen3-tiny", device.BF16, 168, 0.03, 0.08},         // measured 168, 0.0265, 0.0701
		{"qwen3-tiny", device.F16, 168, 0.008, 0.009},        // measured 168, 0.00664, 0.00774
		{"qwen3-tiny-untied", device.BF16, 153, 0.05, 0.09},  // measured 153, 0.0421, 0.0817
		{"qwen3-tiny-untied", device.F16, 168, 0.005, 0.009}, // measured 168, 0.00398, 0.00774
	} {
		for _, dv := range devices[:4] {
			t.Run(tc.fx+"/"+tc.dt.String()+"/"+dv.name, func(t *testing.T) {
				r := measureKVDType(t, tc.fx, tc.dt, dv.opts)
				t.Logf("greedy tokens %d/%d, max |Δlogit| vs reference %.3g, vs float32 cache %.3g (logits up to %.3g)",
					r.greedyAgree, r.greedyTotal, r.maxDeltaRef, r.maxDeltaF32, r.maxAbsLogit)
				require.Equal(t, 168, r.greedyTotal)
				require.GreaterOrEqual(t, r.greedyAgree, tc.minGreedy)
				require.LessOrEqual(t, r.maxDeltaRef, tc.maxRef)
				require.LessOrEqual(t, r.maxDeltaF32, tc.maxF32)
				// The cache's rounding must show: a run identical to the
				// float32 cache would mean the dtype was not applied.
				require.Greater(t, r.maxDeltaF32, 1e-4)
			})
		}
	}
}

func TestLoadRejectsKVCacheDType(t *testing.T) {
	dev := cpu.New(cpu.Options{})
	defer dev.Close()
	_, err := Load(fixtureDir("qwen3-tiny"), dev, Options{KVCacheDType: device.Q8_0})
	require.ErrorIs(t, err, device.ErrKVCacheDType)
	require.ErrorContains(t, err, "q8_0")
}
