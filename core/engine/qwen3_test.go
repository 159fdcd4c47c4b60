package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/block"
	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/scheduler"
	"github.com/nano-vllm-go/nano-vllm-go/core/sequence"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
	"github.com/stretchr/testify/require"
)

// The fixtures hold tiny random-weight Qwen3 checkpoints with the greedy
// continuations Hugging Face transformers produced for them (see
// testdata/README.md).
const testdata = "../../testdata"

var fixtures = []string{"qwen3-tiny", "qwen3-tiny-untied", "qwen3-tiny-vocab"}

type fixtureCase struct {
	Prompt []int32 `json:"prompt"`
	Greedy struct {
		Tokens []int32 `json:"tokens"`
	} `json:"greedy"`
}

func loadCases(t *testing.T, fixture string) []fixtureCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testdata, fixture, "reference.json"))
	require.NoError(t, err)
	var ref struct {
		Cases []fixtureCase `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(data, &ref))
	require.NotEmpty(t, ref.Cases)
	return ref.Cases
}

func loadQwen3(t *testing.T, fixture string) *qwen3.Model {
	t.Helper()
	dev := cpu.New(cpu.Options{})
	t.Cleanup(func() { dev.Close() })
	m, err := qwen3.Load(filepath.Join(testdata, fixture), dev, qwen3.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func qwen3Config(numBlocks int) Config {
	return Config{
		Cache:     block.Config{BlockSize: 16, NumBlocks: numBlocks, PrefixCaching: true},
		Scheduler: scheduler.DefaultConfig(),
	}
}

// fixtureGreedy is the fixtures' decoding: 24 greedy tokens, EOS ignored.
// withLogprobs takes the full-logits path instead of ForwardArgmax.
func fixtureGreedy(withLogprobs bool) sampler.Params {
	p := sampler.Params{MaxTokens: 24, IgnoreEOS: true}
	if withLogprobs {
		p.Logprobs = 2
	}
	return p
}

// TestQwen3FixturesThroughEngine: every fixture prompt, run through the
// engine alone and all together, with the arg-max path and the full
// sampler path, gives transformers' greedy tokens; then a pool too small
// for all of them at once forces preemption and recomputation, and a
// second round finds the prompts in the prefix cache.
func TestQwen3FixturesThroughEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("loads three checkpoints")
	}
	for _, fx := range fixtures {
		t.Run(fx, func(t *testing.T) {
			cases := loadCases(t, fx)
			m := loadQwen3(t, fx)
			ctx := context.Background()
			check := func(t *testing.T, res []Result) {
				t.Helper()
				for i, r := range res {
					require.NoError(t, r.Err, "case %d", i)
					require.Equal(t, cases[i].Greedy.Tokens, r.TokenIDs, "case %d", i)
					require.Equal(t, sequence.Length, r.FinishReason)
				}
			}
			reqs := func(p sampler.Params) []Request {
				var out []Request
				for _, c := range cases {
					out = append(out, Request{PromptIDs: c.Prompt, Params: p})
				}
				return out
			}

			e, err := NewQwen3(m, nil, qwen3Config(64))
			require.NoError(t, err)
			require.Equal(t, m.Config().MaxPositionEmbeddings, e.Config().Scheduler.MaxModelLen)
			for _, lp := range []bool{false, true} {
				res, err := e.Generate(ctx, reqs(fixtureGreedy(lp)))
				require.NoError(t, err)
				check(t, res)
				if lp {
					require.Len(t, res[0].Logprobs, 24)
					// Greedy: the chosen token is the most likely one.
					require.Equal(t, res[0].TokenIDs[0], res[0].Logprobs[0].Top[0].Token)
				}
			}
			// One at a time: the prompts are in the prefix cache by now.
			for i, r := range reqs(fixtureGreedy(false)) {
				res, err := e.Generate(ctx, []Request{r})
				require.NoError(t, err)
				require.Equal(t, cases[i].Greedy.Tokens, res[0].TokenIDs, "case %d", i)
				if len(r.PromptIDs) > 16 {
					require.Positive(t, res[0].Metrics.CachedTokens, "case %d", i)
				}
			}

			// 14 blocks of 16 tokens cannot hold the seven sequences'
			// 371 tokens at once.
			small, err := NewQwen3(m, nil, qwen3Config(14))
			require.NoError(t, err)
			res, err := small.Generate(ctx, reqs(fixtureGreedy(false)))
			require.NoError(t, err)
			check(t, res)
			require.Positive(t, small.Stats().Preemptions)
			require.Zero(t, small.Stats().Blocks.Used)
		})
	}
}

// TestQwen3SharedPrefix: requests whose prompts share the 100-token
// fixture prompt's first 64 tokens reuse its KV blocks, and their outputs
// equal a run with prefix caching off.
func TestQwen3SharedPrefix(t *testing.T) {
	cases := loadCases(t, "qwen3-tiny")
	m := loadQwen3(t, "qwen3-tiny")
	long := cases[len(cases)-1].Prompt
	require.Len(t, long, 100)
	var reqs []Request
	for i := range 5 {
		p := append(slices.Clone(long[:64]), long[64+i:70+i]...)
		reqs = append(reqs, Request{PromptIDs: p, Params: sampler.Params{MaxTokens: 8, IgnoreEOS: true}})
	}
	run := func(prefix bool) []Result {
		cfg := qwen3Config(64)
		cfg.Cache.PrefixCaching = prefix
		e, err := NewQwen3(m, nil, cfg)
		require.NoError(t, err)
		// The first request alone fills the cache; the rest run together.
		first, err := e.Generate(context.Background(), reqs[:1])
		require.NoError(t, err)
		rest, err := e.Generate(context.Background(), reqs[1:])
		require.NoError(t, err)
		return append(first, rest...)
	}
	cached, plain := run(true), run(false)
	for i := range reqs {
		require.Equal(t, plain[i].TokenIDs, cached[i].TokenIDs, "request %d", i)
		require.Zero(t, plain[i].Metrics.CachedTokens)
		if i > 0 {
			require.Equal(t, 64, cached[i].Metrics.CachedTokens, "request %d", i)
		}
	}
}

// TestQwen3TextInTextOut runs the big-vocabulary fixture with the real
// Qwen3 tokenizer: text prompts in, streamed text out. Its weights are
// random, so the text is gibberish, but it must be exactly the decode of
// the generated ids, streamed without broken characters, and cut cleanly
// at a stop string.
func TestQwen3TextInTextOut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the 151936-token vocabulary model")
	}
	dir := filepath.Join(testdata, "qwen3-tiny-vocab")
	m := loadQwen3(t, "qwen3-tiny-vocab")
	tok, err := tokenizer.Load(dir)
	require.NoError(t, err)
	e, err := NewQwen3(m, tok, qwen3Config(64))
	require.NoError(t, err)
	require.Equal(t, []int32{151645, 151643}, e.Config().EOSTokenIDs)
	ctx := context.Background()

	prompts := []string{"Hello, world! The capital of France is", "日本語のテキスト 😀 and code: fmt.Println(x)", "  spaces\n\nand newlines"}
	for _, prompt := range prompts {
		ids := tok.Encode(prompt)
		p := sampler.Params{MaxTokens: 40, IgnoreEOS: true}
		var deltas []string
		res, err := e.Stream(ctx, Request{Prompt: prompt, Params: p}, func(o Output) error {
			deltas = append(deltas, o.Text)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, ids, res.PromptTokenIDs)
		require.Len(t, res.TokenIDs, 40)
		require.Equal(t, tok.Decode(res.TokenIDs, true), res.Text)
		require.Equal(t, res.Text, strings.Join(deltas, ""))

		// The same prompt as ids gives the same tokens.
		byIDs, err := e.Generate(ctx, []Request{{PromptIDs: ids, Params: p}})
		require.NoError(t, err)
		require.Equal(t, res.TokenIDs, byIDs[0].TokenIDs)

		// A stop string made of the end of one token's text and the start
		// of a later one's must cut the text right before it.
		text := res.Text
		if len(text) < 12 {
			continue
		}
		stop := text[len(text)/2 : len(text)/2+6]
		if !strings.HasPrefix(text[len(text)/2:], stop) || !validUTF8Cut(text, len(text)/2, len(text)/2+6) {
			continue
		}
		p.Stop = []string{stop}
		res, err = e.Stream(ctx, Request{Prompt: prompt, Params: p}, func(o Output) error {
			require.NotContains(t, o.Text, stop)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, sequence.StopString, res.FinishReason)
		require.Equal(t, text[:strings.Index(text, stop)], res.Text)
	}
}

func validUTF8Cut(s string, i, j int) bool {
	return strings.ToValidUTF8(s[i:j], "\uFFFD") == s[i:j] && !strings.ContainsRune(s[i:j], '\uFFFD')
}

// TestQwen3DefaultParams reads the fixture's generation_config.json.
func TestQwen3DefaultParams(t *testing.T) {
	m := loadQwen3(t, "qwen3-tiny")
	require.Equal(t, sampler.Params{Temperature: 0.6, TopK: 20, TopP: 0.95}, Qwen3DefaultParams(m))
}

// TestDefaultParams: the defaults every front end derives from a
// generation config, including the one a model without
// generation_config.json gets.
func TestDefaultParams(t *testing.T) {
	for _, tt := range []struct {
		name string
		gen  qwen3.GenerationConfig
		want sampler.Params
	}{
		{"qwen3", qwen3.GenerationConfig{DoSample: true, Temperature: 0.6, TopK: 20, TopP: 0.95}, sampler.Params{Temperature: 0.6, TopK: 20, TopP: 0.95}},
		{"no generation_config.json", qwen3.GenerationConfig{EOSTokenIDs: []int{2}, Temperature: 1, TopP: 1}, sampler.Params{}},
		{"do_sample false is greedy", qwen3.GenerationConfig{Temperature: 0.6, TopK: 20, TopP: 0.95}, sampler.Params{}},
		{"sampling with no temperature", qwen3.GenerationConfig{DoSample: true, TopP: 0.9}, sampler.Params{Temperature: 1, TopP: 0.9}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, DefaultParams(tt.gen))
		})
	}
}

// TestQwen3SeededSamplingIgnoresBatch: a seeded request samples the same
// tokens alone and in a batch with other requests, which needs both
// per-request random sources and logits that do not depend on the batch.
func TestQwen3SeededSamplingIgnoresBatch(t *testing.T) {
	for _, fx := range []string{"qwen3-tiny", "qwen3-tiny-untied"} {
		t.Run(fx, func(t *testing.T) {
			cases := loadCases(t, fx)
			m := loadQwen3(t, fx)
			var reqs []Request
			for i, c := range cases {
				seed := uint64(i)
				reqs = append(reqs, Request{PromptIDs: c.Prompt, Params: sampler.Params{
					Temperature: 1, TopP: 0.9, MaxTokens: 24, IgnoreEOS: true, Seed: &seed}})
			}
			e, err := NewQwen3(m, nil, qwen3Config(64))
			require.NoError(t, err)
			together, err := e.Generate(context.Background(), reqs)
			require.NoError(t, err)
			for i, r := range reqs {
				alone, err := NewQwen3(m, nil, qwen3Config(64))
				require.NoError(t, err)
				res, err := alone.Generate(context.Background(), []Request{r})
				require.NoError(t, err)
				require.Equal(t, res[0].TokenIDs, together[i].TokenIDs, "case %d", i)
			}
		})
	}
}
