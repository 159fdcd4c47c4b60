//go:build js && wasm

package webgpu

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/qwen3"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// Fixture tolerance on logits (testdata/README.md): |Δ| <= 1e-4 + 1e-4*|want|.
const (
	logitAbs = 1e-4
	logitRel = 1e-4
)

var fixtures = []string{"qwen3-tiny", "qwen3-tiny-untied", "qwen3-tiny-vocab"}

// fetch reads a file of the repository's testdata/ from the test server
// (browsertest serves it and passes its URL in $NANOVLLM_TESTDATA_URL).
func fetch(t testing.TB, rel string) []byte {
	t.Helper()
	base := os.Getenv("NANOVLLM_TESTDATA_URL")
	if base == "" {
		t.Skip("NANOVLLM_TESTDATA_URL is not set: run through internal/browsertest")
	}
	resp, err := http.Get(base + "/" + rel)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, rel)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// reference is the part of reference.json these tests use.
type reference struct {
	ProbeIDs []int `json:"probe_ids"`
	Cases    []struct {
		Prompt     []int32   `json:"prompt"`
		LastLogits []float64 `json:"last_logits"`
		LastTopK   *struct {
			IDs    []int     `json:"ids"`
			Values []float64 `json:"values"`
		} `json:"last_topk"`
		LastLogitsAtProbes []float64 `json:"last_logits_at_probe_ids"`
		Greedy             struct {
			Tokens []int32 `json:"tokens"`
		} `json:"greedy"`
	} `json:"cases"`
}

type fixture struct {
	name string
	cfg  qwen3.Config
	ckpt *safetensors.File
	ref  reference
}

func loadFixture(t testing.TB, name string) *fixture {
	t.Helper()
	f := &fixture{name: name}
	var err error
	f.cfg, err = qwen3.ParseConfig(fetch(t, name+"/config.json"))
	require.NoError(t, err)
	f.ckpt, err = safetensors.Parse(fetch(t, name+"/model.safetensors"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(fetch(t, name+"/reference.json"), &f.ref))
	require.NotEmpty(t, f.ref.Cases)
	return f
}

// model loads the fixture on dev with a cache of numBlocks blocks of 16.
func (f *fixture) model(t testing.TB, dev device.Device, numBlocks int) *qwen3.Model {
	t.Helper()
	m, err := qwen3.LoadFrom(f.cfg, func(name string) (safetensors.Tensor, error) {
		tn, ok := f.ckpt.Tensor(name)
		if !ok {
			return safetensors.Tensor{}, fmt.Errorf("no tensor %s", name)
		}
		return tn, nil
	}, dev, qwen3.Options{})
	require.NoError(t, err)
	require.NoError(t, m.NewKVCache(numBlocks, 16))
	return m
}

// checkLogits compares the last-position logits of case c with the fixture:
// every logit for small vocabularies, the top 20 and probe ids for the big one.
func (f *fixture) checkLogits(t testing.TB, c int, got []float32, what string) {
	t.Helper()
	rc := f.ref.Cases[c]
	want := map[int]float64{}
	for i, v := range rc.LastLogits {
		want[i] = v
	}
	if rc.LastTopK != nil {
		for i, id := range rc.LastTopK.IDs {
			want[id] = rc.LastTopK.Values[i]
		}
		for i, id := range f.ref.ProbeIDs {
			want[id] = rc.LastLogitsAtProbes[i]
		}
	}
	require.NotEmpty(t, want)
	for id, w := range want {
		if d := math.Abs(float64(got[id]) - w); !(d <= logitAbs+logitRel*math.Abs(w)) {
			t.Fatalf("%s: case %d: logit %d = %v, want %v (|Δ| %.3g)", what, c, id, got[id], w, d)
		}
	}
}

// TestModelPrefillLogits prefills every fixture prompt in one step on the
// WebGPU device and compares the last logits with the fixture and with the
// CPU device.
func TestModelPrefillLogits(t *testing.T) {
	c := cpu.New(cpu.Options{Threads: 1})
	defer c.Close()
	for _, kernels := range []string{"coop", "thread"} {
		g := newGPU(t, Options{Kernels: kernels})
		for _, name := range fixtures {
			if kernels == "coop" && name == "qwen3-tiny-vocab" {
				// 151936 workgroups with barriers per LM head: minutes on
				// SwiftShader. TestKernels covers coop at split sizes.
				continue
			}
			t.Run(kernels+"/"+name, func(t *testing.T) {
				f := loadFixture(t, name)
				gm := f.model(t, g, 16)
				cm := f.model(t, c, 16)
				for i, rc := range f.ref.Cases {
					b := promptBatch(rc.Prompt)
					gl, err := gm.Forward(b)
					require.NoError(t, err)
					cl, err := cm.Forward(b)
					require.NoError(t, err)
					f.checkLogits(t, i, gl, "webgpu vs fixture")
					requireClose(t, cl, gl, logitAbs, logitRel, fmt.Sprintf("webgpu vs cpu, case %d", i))
				}
			})
		}
	}
}

// promptBatch is one sequence's whole prompt in blocks 0, 1, ...
func promptBatch(prompt []int32) *step.Step {
	b := seqBatch(16, [][2]int{{0, len(prompt)}})
	copy(b.TokenIDs, prompt)
	return b
}

// TestModelGreedy generates 24 greedy tokens for every fixture prompt, all
// sequences in the same steps, with chunked prefill mixed with decodes, and
// compares them with the fixture. The big-vocabulary model runs on a device
// that splits its 151936-row embedding and LM head into 1 MiB buffers.
func TestModelGreedy(t *testing.T) {
	for _, tc := range []struct {
		name           string
		kernels        string
		part           int64
		chunk, stagger int
	}{
		{"qwen3-tiny", "coop", 0, 1000, 0},       // whole prompts, then batched decodes
		{"qwen3-tiny", "thread", 0, 5, 1},        // chunked prefills joining over time
		{"qwen3-tiny-untied", "", 0, 7, 1},       // the adapter's default kernels
		{"qwen3-tiny-vocab", "", 1 << 20, 16, 2}, // split weights
	} {
		t.Run(tc.name+"/"+tc.kernels, func(t *testing.T) {
			g := newGPU(t, Options{MaxWeightPartBytes: tc.part, Kernels: tc.kernels})
			f := loadFixture(t, tc.name)
			m := f.model(t, g, 64)
			var prompts [][]int32
			for _, c := range f.ref.Cases {
				prompts = append(prompts, c.Prompt)
			}
			got, perDecode := greedyRun(t, m, prompts, 24, tc.chunk, tc.stagger)
			for i, c := range f.ref.Cases {
				require.Equal(t, c.Greedy.Tokens, got[i], "case %d (prompt of %d)", i, len(c.Prompt))
			}
			t.Logf("%s: %d JS crossings per pure decode step (%s)", tc.name, perDecode, g.Name())
			// One upload, one run, then() on its promise and the callback,
			// one read back: the count does not grow with the layers.
			require.Positive(t, perDecode, "the run must include a step of decodes only")
			require.Equal(t, int64(5), perDecode, "JS crossings per decode step")
			if tc.part > 0 {
				emb, err := g.UploadWeight("probe", device.BF16, []int{f.cfg.VocabSize, f.cfg.HiddenSize}, make([]byte, 2*f.cfg.VocabSize*f.cfg.HiddenSize))
				require.NoError(t, err)
				require.Greater(t, emb.(*Weight).Parts(), 8, "the embedding must be split")
			}
		})
	}
}

// greedySeq is a sequence tracked without the scheduler.
type greedySeq struct {
	tokens   []int32
	blocks   []int32
	computed int
}

// greedyRun generates steps tokens per prompt. Each prompt is prefilled in
// chunks of at most chunk tokens, prompt i joining at step i*stagger, all
// sequences sharing steps. It returns the tokens and the JS crossings of the
// last step made of decodes only.
func greedyRun(t *testing.T, m *qwen3.Model, prompts [][]int32, steps, chunk, stagger int) ([][]int32, int64) {
	t.Helper()
	dev := m.Device().(*Device)
	seqs := make([]*greedySeq, len(prompts))
	for i, p := range prompts {
		seqs[i] = &greedySeq{tokens: append([]int32(nil), p...)}
	}
	out := make([][]int32, len(prompts))
	next := int32(0)
	perDecode := int64(-1)
	var sb step.Builder
	for st := 0; ; st++ {
		sb.Reset(16, 0)
		var owners []int
		var ns []int
		for i, s := range seqs {
			if st < i*stagger || len(out[i]) == steps {
				continue
			}
			owners = append(owners, i)
			ns = append(ns, min(chunk, len(s.tokens)-s.computed))
		}
		if len(owners) == 0 {
			if st > len(prompts)*stagger {
				return out, perDecode
			}
			continue
		}
		for k, i := range owners {
			s := seqs[i]
			end := s.computed + ns[k]
			for len(s.blocks)*16 < end {
				s.blocks = append(s.blocks, next)
				next++
			}
			logits := 0
			if end == len(s.tokens) {
				logits = 1
			}
			sb.Add(s.tokens, s.computed, end, s.blocks, logits)
			s.computed = end
		}
		b := sb.Step()
		// A step in which every token yields logits is a step of decodes.
		decodeOnly := len(b.LogitsRows) == len(b.TokenIDs)
		before := dev.Stats().Crossings
		ids, err := m.ForwardArgmax(b)
		require.NoError(t, err)
		if decodeOnly {
			perDecode = dev.Stats().Crossings - before
		}
		require.Len(t, ids, len(b.LogitsRows))
		for k, si := range b.LogitsSeqs {
			i := owners[si]
			out[i] = append(out[i], ids[k])
			seqs[i].tokens = append(seqs[i].tokens, ids[k])
		}
	}
}
