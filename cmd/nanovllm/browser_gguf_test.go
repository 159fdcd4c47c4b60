package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/hub"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// ggufPrelude is the JavaScript every GGUF subtest starts with: the
// library, the fake Hub (this page's origin), and helpers. greedy loads a
// model, runs the prompts batched (24 greedy tokens each) and closes the
// engine.
const ggufPrelude = `
	const m = await import('/web/nanovllm.js');
	const hub = location.origin;
	const code = async (f) => { try { await f(); return 'no error'; } catch (e) { return e.code + ': ' + e.message; } };
	const greedy = async (model, device, prompts, extra = {}) => {
		const engine = await m.createEngine({model, hub, device, cache: false, kvCacheBytes: 1 << 20, ...extra});
		try {
			const req = (p) => ({prompt_ids: p, max_tokens: 24, temperature: 0, ignore_eos: true});
			const out = await Promise.all(prompts.map((p) => engine.generate(req(p))));
			return {device: engine.device, tokens: out.map((r) => r.token_ids), tokenizer: engine.info.has_tokenizer};
		} finally { await engine.close(); }
	};
`

// ggufRun is what greedy returns.
type ggufRun struct {
	Device    string    `json:"device"`
	Tokens    [][]int32 `json:"tokens"`
	Tokenizer bool      `json:"tokenizer"`
}

// llamaRuns is the runs section of a GGUF fixture's llamacpp_reference.json.
type llamaRuns map[string]struct {
	Cases []struct {
		Prompt     []int32   `json:"prompt"`
		LastArgmax int32     `json:"last_argmax"`
		LastLogits []float64 `json:"last_logits"`
		Greedy     struct {
			Tokens  []int32   `json:"tokens"`
			Margins []float64 `json:"top1_top2_margins"`
		} `json:"greedy"`
	} `json:"cases"`
}

func readLlamaRuns(t *testing.T, ckpt string) llamaRuns {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "gguf", ckpt, "llamacpp_reference.json"))
	require.NoError(t, err)
	var ref struct {
		Runs llamaRuns `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(data, &ref))
	return ref.Runs
}

// readHFCases is the Hugging Face reference of a checkpoint (the GGUF
// fixtures hold the same weights).
func readHFCases(t *testing.T, ckpt string) []greedyCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "testdata", ckpt, "reference.json"))
	require.NoError(t, err)
	var ref struct {
		Cases []greedyCase `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(data, &ref))
	require.NotEmpty(t, ref.Cases)
	return ref.Cases
}

// hostileGGUFs writes the malformed files of the "test/hostile" repo.
func hostileGGUFs(t *testing.T) string {
	dir := t.TempDir()
	good, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "gguf", "qwen3-tiny", "qwen3-tiny-f32.gguf"))
	require.NoError(t, err)
	counts := binary.LittleEndian.AppendUint32([]byte("GGUF"), 3)
	counts = binary.LittleEndian.AppendUint64(counts, 1<<40) // a trillion tensors
	counts = binary.LittleEndian.AppendUint64(counts, 0)
	counts = append(counts, make([]byte, 4096)...)
	files := map[string][]byte{
		"truncated.gguf": good[:len(good)*6/10],
		"counts.gguf":    counts,
		"notgguf.gguf":   append([]byte("PK\x03\x04"), make([]byte, 4096)...),
	}
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	return dir
}

// TestBrowserGGUF loads GGUF files through the JavaScript API from a fake
// Hugging Face Hub and by URL: the F32 fixtures on WebGPU and on the CPU
// give the Hugging Face greedy tokens exactly; the quantized ones on the
// CPU device give llama.cpp's first token on every prompt; a repo id with a
// quantization downloads that file only; a repository without
// tokenizer.json chats with the GGUF's own tokenizer; bad input fails with
// a coded error.
func TestBrowserGGUF(t *testing.T) {
	gdir := filepath.Join(repoRoot, "testdata", "gguf")
	fh := newFakeHub(t, map[string]string{
		"test/tiny-gguf":   filepath.Join(gdir, "qwen3-tiny"),
		"test/untied-gguf": filepath.Join(gdir, "qwen3-tiny-untied"),
		"test/vocab-gguf":  filepath.Join(gdir, "qwen3-tiny-vocab"),
		"test/hostile":     hostileGGUFs(t),
	})
	// What serve --model qwen3-tiny-f32.gguf serves at /model/.
	served, err := newModelFiles(filepath.Join(gdir, "qwen3-tiny", "qwen3-tiny-f32.gguf"), repoRoot)
	require.NoError(t, err)
	ctx, _ := browserEnvWith(t, map[string]http.Handler{"/api/": fh, "/cdn/": fh, "/test/": fh,
		"/gguf/":        http.StripPrefix("/gguf/", http.FileServer(http.Dir(gdir))),
		servedModelPath: http.StripPrefix(strings.TrimSuffix(servedModelPath, "/"), served)})
	run := func(t *testing.T, model, device string, prompts [][]int32) ggufRun {
		t.Helper()
		p, err := json.Marshal(prompts)
		require.NoError(t, err)
		var got ggufRun
		require.NoError(t, evalJSON(ctx, ggufPrelude+fmt.Sprintf(`return await greedy(%q, %q, %s);`, model, device, p), &got))
		require.Len(t, got.Tokens, len(prompts))
		return got
	}
	errorOf := func(t *testing.T, model, device string) string {
		t.Helper()
		var got string
		require.NoError(t, evalJSON(ctx, ggufPrelude+fmt.Sprintf(`return await code(() => greedy(%q, %q, [[1, 2, 3]]));`, model, device), &got))
		return got
	}
	pick := func(cases []greedyCase, idx ...int) (prompts, want [][]int32) {
		for _, i := range idx {
			prompts = append(prompts, cases[i].Prompt)
			want = append(want, cases[i].Greedy.Tokens)
		}
		return prompts, want
	}
	tiny := readHFCases(t, "qwen3-tiny")
	untied := readHFCases(t, "qwen3-tiny-untied")

	t.Run("F32 on WebGPU matches Hugging Face", func(t *testing.T) {
		// SwiftShader is slow: two prompts of each model, batched.
		prompts, want := pick(tiny, 1, 3)
		got := run(t, "test/tiny-gguf:F32", "webgpu", prompts)
		require.Contains(t, got.Device, "webgpu")
		require.Equal(t, want, got.Tokens)
		require.False(t, got.Tokenizer, "the 512-vocab fixtures carry no tokenizer")
		prompts, want = pick(untied, 2)
		require.Equal(t, want, run(t, "test/untied-gguf:qwen3-tiny-untied-f32.gguf", "webgpu", prompts).Tokens)
	})
	t.Run("a quantization downloads that file only", func(t *testing.T) {
		require.Equal(t, 1, fh.weightGets("test/tiny-gguf", "qwen3-tiny-f32.gguf"))
		for _, f := range []string{"qwen3-tiny-bf16.gguf", "qwen3-tiny-q8_0.gguf", "qwen3-tiny-q4_0.gguf",
			"qwen3-tiny-f32.dequant.safetensors", "llamacpp_reference.json"} {
			require.Zero(t, fh.weightGets("test/tiny-gguf", f), f)
		}
	})
	t.Run("a cached GGUF loads again without a download", func(t *testing.T) {
		var got [2]ggufRun
		require.NoError(t, evalJSON(ctx, ggufPrelude+`
			const a = await greedy('test/tiny-gguf:Q4_0', 'cpu', [[5, 6, 7]], {cache: true});
			const b = await greedy('test/tiny-gguf:Q4_0', 'cpu', [[5, 6, 7]], {cache: true});
			return [a, b];`, &got))
		require.Equal(t, got[0].Tokens, got[1].Tokens)
		require.Equal(t, 1, fh.weightGets("test/tiny-gguf", "qwen3-tiny-q4_0.gguf"), "one download for two loads")
	})
	t.Run("F32 and BF16 on the CPU match Hugging Face", func(t *testing.T) {
		all := make([]int, len(tiny))
		for i := range all {
			all[i] = i
		}
		prompts, want := pick(tiny, all...)
		got := run(t, "test/tiny-gguf:F32", "cpu", prompts)
		require.Contains(t, got.Device, "cpu")
		require.Equal(t, want, got.Tokens)
		// By URL, from a plain file server (no file list: the size is
		// learnt from the download).
		require.Equal(t, want, run(t, "/gguf/qwen3-tiny/qwen3-tiny-f32.gguf", "cpu", prompts).Tokens)
		// As serve --model FILE.gguf offers it to the page.
		require.Equal(t, want, run(t, served.pagePath(), "cpu", prompts).Tokens)
		// The BF16 file holds the checkpoint's bf16 weights exactly.
		require.Equal(t, want, run(t, "test/tiny-gguf:BF16", "cpu", prompts).Tokens)
		prompts, want = pick(untied, all...)
		require.Equal(t, want, run(t, "test/untied-gguf:F32", "cpu", prompts).Tokens)
	})
	t.Run("Q8_0 and Q4_0 on the CPU give llama.cpp's first token", func(t *testing.T) {
		for _, ckpt := range []struct{ repo, dir string }{{"test/tiny-gguf", "qwen3-tiny"}, {"test/untied-gguf", "qwen3-tiny-untied"}} {
			runs := readLlamaRuns(t, ckpt.dir)
			for _, q := range []string{"q8_0", "q4_0"} {
				var prompts [][]int32
				var want []int32
				for _, c := range runs[q].Cases {
					prompts = append(prompts, c.Prompt)
					want = append(want, c.LastArgmax)
				}
				require.NotEmpty(t, prompts)
				got := run(t, ckpt.repo+":"+strings.ToUpper(q), "cpu", prompts)
				first := make([]int32, len(got.Tokens))
				for i, toks := range got.Tokens {
					first[i] = toks[0]
				}
				require.Equal(t, want, first, "%s %s", ckpt.dir, q)
			}
		}
	})
	t.Run("Q8_0 and Q4_0 on WebGPU give llama.cpp's float tokens", func(t *testing.T) {
		// The WebGPU shaders multiply the quantized blocks with float
		// activations: the arithmetic of llama.cpp's float run on the
		// dequantized weights (runs.<type>_dequant_f32), whose greedy
		// tokens must match up to the first step with a top-1/top-2
		// margin under 2e-4 (testdata/gguf/README.md); llama.cpp's own
		// quantized run agrees on the first token.
		runs := readLlamaRuns(t, "qwen3-tiny")
		if msg := errorOf(t, "test/tiny-gguf:Q8_0", "webgpu"); strings.Contains(msg, "cannot take") {
			t.Skipf("the WebGPU device does not take quantized weights yet: %s", msg)
		}
		for _, q := range []string{"q8_0", "q4_0"} {
			float, quant := runs[q+"_dequant_f32"].Cases, runs[q].Cases
			got := run(t, "test/tiny-gguf:"+strings.ToUpper(q), "webgpu", [][]int32{float[1].Prompt, float[3].Prompt})
			for i, c := range []int{1, 3} {
				require.Equal(t, quant[c].LastArgmax, got.Tokens[i][0], "%s case %d: llama.cpp's first token", q, c)
				for s, want := range float[c].Greedy.Tokens {
					if float[c].Greedy.Margins[s] < 2e-4 {
						t.Logf("%s case %d: step %d has margin %.2g, tokens compared up to it", q, c, s, float[c].Greedy.Margins[s])
						break
					}
					require.Equal(t, want, got.Tokens[i][s], "%s case %d step %d", q, c, s)
				}
			}
		}
	})
	t.Run("logprobs within the quantization noise", func(t *testing.T) {
		// The first token's top-20 log-probabilities of each prompt against
		// llama.cpp's last-position logits (log-softmaxed here, in float64).
		// A logprob is a logit minus the logsumexp of all logits, so a
		// bound e on every logit bounds it by 2e: on WebGPU (float
		// activations) against llama.cpp's float run on the dequantized
		// weights, the fixtures' float tolerance doubled, 2(1e-4 + 1e-4|x|);
		// on the CPU device (activations rounded to Q8_0 as llama.cpp does)
		// against llama.cpp's quantized run, the README's noise bounds
		// doubled: max 1.0, mean 0.12.
		runs := readLlamaRuns(t, "qwen3-tiny")
		type entry struct {
			Token   int32   `json:"token_id"`
			Logprob float64 `json:"logprob"`
		}
		logprobs := func(t *testing.T, model, device string, prompts [][]int32) [][]entry {
			var got [][]struct {
				Top []entry `json:"top"`
			}
			require.NoError(t, evalJSON(ctx, ggufPrelude+fmt.Sprintf(`
				const engine = await m.createEngine({model: %q, hub, device: %q, cache: false, kvCacheBytes: 1 << 20});
				try {
					const out = await Promise.all(%s.map((p) => engine.generate({prompt_ids: p, max_tokens: 1, temperature: 0, logprobs: 20})));
					return out.map((r) => r.logprobs);
				} finally { await engine.close(); }`, model, device, mustJSON(t, prompts)), &got))
			out := make([][]entry, len(got))
			for i, g := range got {
				require.Len(t, g, 1, "one entry per generated token")
				require.Len(t, g[0].Top, 20)
				out[i] = g[0].Top
			}
			return out
		}
		logSoftmax := func(logits []float64) []float64 {
			mx := logits[0]
			for _, x := range logits {
				mx = max(mx, x)
			}
			var sum float64
			for _, x := range logits {
				sum += math.Exp(x - mx)
			}
			lse := mx + math.Log(sum)
			out := make([]float64, len(logits))
			for i, x := range logits {
				out[i] = x - lse
			}
			return out
		}
		for _, q := range []string{"q8_0", "q4_0"} {
			quant, float := runs[q].Cases, runs[q+"_dequant_f32"].Cases
			var prompts [][]int32
			for _, c := range float {
				prompts = append(prompts, c.Prompt)
			}
			gpu := logprobs(t, "test/tiny-gguf:"+strings.ToUpper(q), "webgpu", prompts[:2])
			for i, top := range gpu {
				want := logSoftmax(float[i].LastLogits)
				require.Equal(t, float[i].LastArgmax, top[0].Token, "%s case %d", q, i)
				for _, e := range top {
					require.InDelta(t, want[e.Token], e.Logprob, 2*(1e-4+1e-4*math.Abs(want[e.Token])), "%s webgpu case %d token %d", q, i, e.Token)
				}
			}
			cpu := logprobs(t, "test/tiny-gguf:"+strings.ToUpper(q), "cpu", prompts)
			var sum float64
			var n int
			for i, top := range cpu {
				want := logSoftmax(quant[i].LastLogits)
				require.Equal(t, quant[i].LastArgmax, top[0].Token, "%s case %d", q, i)
				for _, e := range top {
					d := math.Abs(want[e.Token] - e.Logprob)
					require.LessOrEqual(t, d, 1.0, "%s cpu case %d token %d", q, i, e.Token)
					sum += d
					n++
				}
			}
			t.Logf("%s on the CPU device: mean |Δlogprob| %.3g over %d top-20 entries against llama.cpp", q, sum/float64(n), n)
			require.LessOrEqual(t, sum/float64(n), 0.12)
		}
	})
	t.Run("a repo without tokenizer.json chats with the GGUF's tokenizer", func(t *testing.T) {
		// The expectation: the Hugging Face tokenizer files of the same
		// model, natively.
		tok, err := tokenizer.Load(filepath.Join(repoRoot, "testdata", "qwen3-tiny-vocab"))
		require.NoError(t, err)
		text := "Hello, world! Ünïcödé 你好 <|im_start|> 12345"
		msgs := []tokenizer.Message{{Role: "user", Content: "What is the capital of France?"}}
		prompt, err := tok.ApplyChatTemplate(msgs, tokenizer.ChatOptions{AddGenerationPrompt: true})
		require.NoError(t, err)
		var got struct {
			Tokenizer    bool    `json:"tokenizer"`
			IDs          []int32 `json:"ids"`
			PromptTokens int     `json:"promptTokens"`
			Completion   int     `json:"completion"`
			Finish       string  `json:"finish"`
		}
		require.NoError(t, evalJSON(ctx, ggufPrelude+fmt.Sprintf(`
			const engine = await m.createEngine({model: 'test/vocab-gguf', hub, device: 'cpu', cache: false, kvCacheBytes: 4 << 20});
			try {
				const ids = await engine.tokenize(%q);
				const r = await engine.chat.completions.create({messages: %s, max_tokens: 6, temperature: 0});
				return {tokenizer: engine.info.has_tokenizer, ids, promptTokens: r.usage.prompt_tokens,
					completion: r.usage.completion_tokens, finish: r.choices[0].finish_reason};
			} finally { await engine.close(); }`, text, mustJSON(t, msgs)), &got))
		require.True(t, got.Tokenizer)
		require.Equal(t, tok.Encode(text), got.IDs)
		require.Equal(t, len(tok.Encode(prompt)), got.PromptTokens)
		require.Positive(t, got.Completion)
		// and the first token of llama.cpp on the same file
		runs := readLlamaRuns(t, "qwen3-tiny-vocab")
		c := runs["q8_0"].Cases[0]
		r := run(t, "test/vocab-gguf", "cpu", [][]int32{c.Prompt})
		require.Equal(t, c.LastArgmax, r.Tokens[0][0])
	})
	t.Run("bad input gets a coded error", func(t *testing.T) {
		for _, tc := range []struct{ model, want string }{
			{"test/tiny-gguf", "bad-request: several GGUF files match"},
			{"test/tiny-gguf:Q5_K", `not-found: no matching GGUF file for "Q5_K": its .gguf files: qwen3-tiny-bf16.gguf, qwen3-tiny-f32.gguf`},
			{"test/vocab-gguf:other.gguf", "not-found: no matching GGUF file"},
			{"test/nope-gguf:Q8_0", "not-found: "},
			{"test/hostile:truncated.gguf", "bad-model: "},
			{"test/hostile:counts.gguf", "bad-model: counts.gguf: gguf: at byte 8: tensor count is 1099511627776"},
			{"test/hostile:notgguf.gguf", `bad-model: notgguf.gguf: gguf: at byte 0: not a GGUF file`},
		} {
			for _, device := range []string{"cpu", "webgpu"} {
				got := errorOf(t, tc.model, device)
				require.True(t, strings.HasPrefix(got, tc.want), "%s on %s: %s", tc.model, device, got)
			}
		}
	})
	t.Run("selectGGUF follows core/hub.SelectGGUF", func(t *testing.T) {
		files := []string{"README.md", "Qwen3-0.6B-Q8_0.gguf", "Qwen3-0.6B-Q4_K_M.gguf", "Qwen3-0.6B-Q4_K.gguf",
			"sub/Qwen3-0.6B-BF16.gguf", "x-00001-of-00002.gguf", "config.json"}
		for _, sel := range []string{"", "Q8_0", "q8_0", "Q4_K", "q4_k_m", "Q4", "BF16", "Qwen3-0.6B-BF16.gguf",
			"sub/Qwen3-0.6B-BF16.gguf", "Q5_K", "x-00001-of-00002.gguf", "0.6B-Q8", "nothing.gguf"} {
			want, werr := hub.SelectGGUF(files, sel)
			var got struct {
				File string `json:"file"`
				Err  string `json:"err"`
			}
			require.NoError(t, evalJSON(ctx, fmt.Sprintf(`
				const g = await import('/web/lib/gguf.js');
				try { return {file: g.selectGGUF(%s, %q)}; } catch (e) { return {err: e.message}; }`, mustJSON(t, files), sel), &got))
			if werr != nil {
				require.NotEmpty(t, got.Err, "selector %q: Go fails (%v), JavaScript picked %q", sel, werr, got.File)
				continue
			}
			require.Empty(t, got.Err, "selector %q", sel)
			require.Equal(t, want, got.File, "selector %q", sel)
		}
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
