package qwen3

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/stretchr/testify/require"
)

// fixtures are the reference checkpoints of testdata/ (see its README.md).
var fixtures = []string{"qwen3-tiny", "qwen3-tiny-untied", "qwen3-tiny-vocab"}

func fixtureDir(name string) string { return filepath.Join("..", "..", "testdata", name) }

// reference is the part of reference.json these tests use.
type reference struct {
	LogitsStorage        string    `json:"logits_storage"`
	ProbeIDs             []int     `json:"probe_ids"`
	AllPositionsForCases []int     `json:"all_positions_for_cases"`
	Cases                []refCase `json:"cases"`
	HiddenStates         *struct {
		PromptIndex         int            `json:"prompt_index"`
		OutputHiddenStates  [][][]float64  `json:"output_hidden_states"`
		LastLayerBeforeNorm [][]float64    `json:"last_layer_output_before_norm"`
		KVCache             []refKV        `json:"kv_cache"`
		Layer0              map[string]any `json:"layer0"`
	} `json:"hidden_states"`
}

type refKV struct {
	Key   [][][]float64 `json:"key"`
	Value [][][]float64 `json:"value"`
}

type refTopK struct {
	IDs    []int     `json:"ids"`
	Values []float64 `json:"values"`
}

type refCase struct {
	Prompt             []int32     `json:"prompt"`
	LastLogits         []float64   `json:"last_logits"`
	AllLogits          [][]float64 `json:"all_logits"`
	LastTopK           *refTopK    `json:"last_topk"`
	LastLogSumExp      float64     `json:"last_logsumexp"`
	LastLogitsAtProbes []float64   `json:"last_logits_at_probe_ids"`
	AllTopK            *struct {
		IDs    [][]int     `json:"ids"`
		Values [][]float64 `json:"values"`
	} `json:"all_topk"`
	ArgmaxAllPositions []int32 `json:"argmax_all_positions"`
	Greedy             struct {
		Tokens []int32 `json:"tokens"`
	} `json:"greedy"`
}

func loadReference(t testing.TB, name string) *reference {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir(name), "reference.json"))
	require.NoError(t, err)
	var r reference
	require.NoError(t, json.Unmarshal(data, &r))
	require.NotEmpty(t, r.Cases)
	return &r
}

// devices are the CPU device configurations every fixture test runs on: the
// assembly kernels (where the processor has them) and the portable Go ones.
var cpuDefault = cpu.Options{}

var devices = []struct {
	name string
	opts cpu.Options
}{
	{"simd", cpu.Options{}},
	{"avx2", cpu.Options{NoAVX512: true}},
	{"avx512-noamx", cpu.Options{NoAMX: true}},
	{"purego", cpu.Options{PureGo: true}},
	{"1thread", cpu.Options{Threads: 1}},
}

func loadModel(t testing.TB, name string, opts cpu.Options) *Model {
	t.Helper()
	dev := cpu.New(opts)
	t.Cleanup(func() { dev.Close() })
	m, err := Load(fixtureDir(name), dev, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.NewKVCache(64, 16))
	return m
}

// withinf asserts the fixture tolerance |got-want| <= 1e-4 + 1e-4*|want|.
func withinf(t testing.TB, want float64, got float32, format string, args ...any) {
	t.Helper()
	if d := math.Abs(float64(got) - want); !(d <= 1e-4+1e-4*math.Abs(want)) {
		t.Fatalf(format+": got %v, want %v (diff %.3g)", append(args, got, want, d)...)
	}
}

func argmax(row []float32) int32 {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return int32(best)
}

// checkLogits compares one row of logits with the reference, in whichever
// form the fixture stores it.
func checkLogits(t testing.TB, ref *reference, got []float32, full []float64, topk *refTopK, lse float64, probes []float64, where string) {
	t.Helper()
	if ref.LogitsStorage == "full" {
		require.Len(t, full, len(got), where)
		for j, w := range full {
			withinf(t, w, got[j], "%s: logit %d", where, j)
		}
		return
	}
	// Top-k: our logits at the reference ids match, and no other id beats
	// the reference's k-th value by more than the tolerance.
	kth := topk.Values[len(topk.Values)-1]
	inTop := map[int]bool{}
	for i, id := range topk.IDs {
		withinf(t, topk.Values[i], got[id], "%s: top-%d logit (id %d)", where, i, id)
		inTop[id] = true
	}
	for id, v := range got {
		if !inTop[id] && float64(v) > kth+1e-4+1e-4*math.Abs(kth) {
			t.Fatalf("%s: id %d has logit %v above the reference top-k (k-th %v)", where, id, v, kth)
		}
	}
	if probes != nil {
		for i, id := range ref.ProbeIDs {
			withinf(t, probes[i], got[id], "%s: probe id %d", where, id)
		}
		m := math.Inf(-1)
		for _, v := range got {
			m = math.Max(m, float64(v))
		}
		var s float64
		for _, v := range got {
			s += math.Exp(float64(v) - m)
		}
		withinf(t, lse, float32(m+math.Log(s)), "%s: logsumexp", where)
	}
}

// TestPrefillLogits runs each prompt as one prefill step and compares the
// last-position logits (and, for the short prompts, every position's logits
// and argmax) with transformers' outputs.
func TestPrefillLogits(t *testing.T) {
	for _, fx := range fixtures {
		ref := loadReference(t, fx)
		allPos := map[int]bool{}
		for _, i := range ref.AllPositionsForCases {
			allPos[i] = true
		}
		for _, dv := range devices {
			t.Run(fx+"/"+dv.name, func(t *testing.T) {
				m := loadModel(t, fx, dv.opts)
				V := m.Config().VocabSize
				for ci, c := range ref.Cases {
					s := newTestSeq(c.Prompt)
					a := newAllocator(m)
					b := a.batch([]part{{seq: s, n: len(c.Prompt), logits: true, allLogits: true}})
					logits, err := m.Forward(b)
					require.NoError(t, err)
					T := len(c.Prompt)
					require.Len(t, logits, T*V)
					last := logits[(T-1)*V:]
					checkLogits(t, ref, last, c.LastLogits, c.LastTopK, c.LastLogSumExp, c.LastLogitsAtProbes, fx+" case "+itoa(ci)+" last")
					for p := range T {
						require.Equal(t, c.ArgmaxAllPositions[p], argmax(logits[p*V:(p+1)*V]), "case %d position %d argmax", ci, p)
					}
					if !allPos[ci] {
						continue
					}
					for p := range T {
						row := logits[p*V : (p+1)*V]
						if ref.LogitsStorage == "full" {
							checkLogits(t, ref, row, c.AllLogits[p], nil, 0, nil, "all positions")
						} else {
							checkLogits(t, ref, row, nil, &refTopK{IDs: c.AllTopK.IDs[p], Values: c.AllTopK.Values[p]}, 0, nil, "all positions")
						}
					}
				}
			})
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestHiddenStates compares the intermediates of qwen3-tiny's 5-token case
// with transformers': embeddings, every layer's residual stream, the final
// norm, layer 0's projections, norms and attention, and the KV cache (keys
// after k_norm and RoPE, values as projected).
func TestHiddenStates(t *testing.T) {
	ref := loadReference(t, "qwen3-tiny")
	hs := ref.HiddenStates
	require.NotNil(t, hs)
	c := ref.Cases[hs.PromptIndex]
	dev := cpu.New(cpu.Options{})
	t.Cleanup(func() { dev.Close() })
	tr := newTracingDevice(t, dev)
	m, err := Load(fixtureDir("qwen3-tiny"), tr, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	require.NoError(t, m.NewKVCache(64, 16))
	cfg := m.Config()
	T := len(c.Prompt)
	L := cfg.NumHiddenLayers
	got := tr.got
	s := newTestSeq(c.Prompt)
	a := newAllocator(m)
	_, err = m.Forward(a.batch([]part{{seq: s, n: T, logits: true, allLogits: true}}))
	require.NoError(t, err)

	flat := func(v any) []float64 {
		var out []float64
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case []any:
				for _, e := range x {
					walk(e)
				}
			case float64:
				out = append(out, x)
			case [][]float64:
				for _, r := range x {
					out = append(out, r...)
				}
			case [][][]float64:
				for _, r := range x {
					walk(r)
				}
			}
		}
		walk(v)
		return out
	}
	compare := func(what string, want []float64, have []float32) {
		t.Helper()
		require.Len(t, have, len(want), what)
		for i := range want {
			withinf(t, want[i], have[i], "%s[%d]", what, i)
		}
	}
	compare("embedding output", flat(hs.OutputHiddenStates[0]), got["embed/0"])
	for l := 1; l < L; l++ {
		compare("layer output "+itoa(l-1), flat(hs.OutputHiddenStates[l]), got["layer/"+itoa(l)])
	}
	compare("last layer before norm", flat(hs.LastLayerBeforeNorm), got["layer/"+itoa(L)])
	l0 := hs.Layer0
	for _, p := range []struct{ ref, ours string }{
		{"input_layernorm_out", "input_layernorm/1"},
		{"q_proj_out", "q_proj/1"},
		{"k_proj_out", "k_proj/1"},
		{"v_proj_out", "v_proj/1"},
		{"q_norm_out", "q_norm/1"},
		{"k_norm_out", "k_norm/1"},
		{"attn_out_before_o_proj", "attn/1"},
		{"o_proj_out", "o_proj/1"},
		{"post_attention_layernorm_out", "post_attention_layernorm/1"},
		{"mlp_out", "mlp/1"},
	} {
		compare("layer0 "+p.ref, flat(l0[p.ref]), got[p.ours])
	}
	// The cache reference is [nkv][T][hd]; ours is [T][nkv][hd].
	nkv, hd := cfg.NumKeyValueHeads, cfg.HeadDim
	for l := range L {
		for _, kv := range []struct {
			name string
			want [][][]float64
			have []float32
		}{{"key", hs.KVCache[l].Key, got["k_rope/"+itoa(l+1)]}, {"value", hs.KVCache[l].Value, got["v_proj/"+itoa(l+1)]}} {
			for g := range nkv {
				for p := range T {
					for j := range hd {
						withinf(t, kv.want[g][p][j], kv.have[(p*nkv+g)*hd+j], "layer %d %s head %d pos %d dim %d", l, kv.name, g, p, j)
					}
				}
			}
		}
	}
	compare("final norm", flat(hs.OutputHiddenStates[L]), got["final_norm/0"])
}
