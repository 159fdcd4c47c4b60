package qwen3

import (
	"math"
	"strings"
	"testing"

	"github.com/nano-vllm-go/nano-vllm-go/core/cpu"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/stretchr/testify/require"
)

// TestKernelPathsAgreeOnQwen3_0_6B runs the real Qwen3-0.6B shape (random
// weights) on the fastest kernels the machine has (AMX, AVX-512 tiled
// attention with head_dim 128, which the small fixtures do not reach) and on
// the portable Go kernels, and requires the same logits within the fixture
// tolerance: a 33-token prefill in one step, then a batch of two sequences
// (one decoding, one prefilling a chunk).
func TestKernelPathsAgreeOnQwen3_0_6B(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Qwen3-0.6B with the pure-Go kernels")
	}
	tensors, shapes := RandomTensors(Qwen3_0_6B)
	src := func(n string) (safetensors.Tensor, error) {
		data, ok := tensors[n]
		if !ok {
			return safetensors.Tensor{}, safetensors.ErrTensorNotFound
		}
		return safetensors.Tensor{Name: n, DType: safetensors.BF16, Shape: shapes[n], Data: data}, nil
	}
	run := func(opts cpu.Options) ([][]float32, string) {
		dev := cpu.New(opts)
		defer dev.Close()
		m, err := LoadFrom(Qwen3_0_6B, src, dev, Options{})
		require.NoError(t, err)
		require.NoError(t, m.NewKVCache(16, 16))
		a := newAllocator(m)
		p1, p2 := make([]int32, 33), make([]int32, 40)
		for i := range p1 {
			p1[i] = int32(1 + 4099*i%151000)
		}
		for i := range p2 {
			p2[i] = int32(7 + 1031*i%151000)
		}
		s1, s2 := newTestSeq(p1), newTestSeq(p2)
		var out [][]float32
		l, err := m.Forward(a.batch([]part{{seq: s1, n: 33, logits: true}}))
		require.NoError(t, err)
		out = append(out, l)
		s1.tokens = append(s1.tokens, argmax(l))
		l, err = m.Forward(a.batch([]part{{seq: s1, n: 1, logits: true}, {seq: s2, n: 40, logits: true}}))
		require.NoError(t, err)
		out = append(out, l)
		return out, dev.Name()
	}
	fast, fastName := run(cpu.Options{})
	ref, refName := run(cpu.Options{PureGo: true})
	t.Logf("%s vs %s", fastName, refName)
	V := Qwen3_0_6B.VocabSize
	for step := range ref {
		require.Len(t, fast[step], len(ref[step]))
		worst := 0.0
		for i, w := range ref[step] {
			d := math.Abs(float64(fast[step][i]) - float64(w))
			worst = math.Max(worst, d)
			withinf(t, float64(w), fast[step][i], "step %d logit %d", step, i)
		}
		for r := range len(ref[step]) / V {
			require.Equal(t, argmax(ref[step][r*V:(r+1)*V]), argmax(fast[step][r*V:(r+1)*V]))
		}
		t.Logf("step %d: max |diff| %.2g", step, worst)
	}
}

// TestBF16PrecisionOnQwen3_0_6B runs the same steps with the AMX matmuls
// on bf16-rounded activations (cpu.PrecisionBF16) and compares them with
// the float32-accurate default: the logits must move (the mode is in
// effect) but stay within what bf16 activations cost.
func TestBF16PrecisionOnQwen3_0_6B(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Qwen3-0.6B twice")
	}
	probe := cpu.New(cpu.Options{Precision: cpu.PrecisionBF16})
	name := probe.Name()
	probe.Close()
	if !strings.Contains(name, "bf16") {
		t.Skip("no AMX: " + name)
	}
	tensors, shapes := RandomTensors(Qwen3_0_6B)
	src := func(n string) (safetensors.Tensor, error) {
		data, ok := tensors[n]
		if !ok {
			return safetensors.Tensor{}, safetensors.ErrTensorNotFound
		}
		return safetensors.Tensor{Name: n, DType: safetensors.BF16, Shape: shapes[n], Data: data}, nil
	}
	run := func(opts cpu.Options) []float32 {
		dev := cpu.New(opts)
		defer dev.Close()
		m, err := LoadFrom(Qwen3_0_6B, src, dev, Options{})
		require.NoError(t, err)
		require.NoError(t, m.NewKVCache(8, 16))
		a := newAllocator(m)
		p := make([]int32, 64)
		for i := range p {
			p[i] = int32(1 + 4099*i%151000)
		}
		l, err := m.Forward(a.batch([]part{{seq: newTestSeq(p), n: 64, logits: true}}))
		require.NoError(t, err)
		return l
	}
	exact, bf := run(cpu.Options{}), run(cpu.Options{Precision: cpu.PrecisionBF16})
	var worst, scale float64
	for i, w := range exact {
		worst = math.Max(worst, math.Abs(float64(bf[i])-float64(w)))
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	t.Logf("max |logit| %.3g, max |bf16 - float32| %.3g", scale, worst)
	require.Greater(t, worst, 1e-4, "bf16 activations left the logits unchanged")
	require.Less(t, worst, 0.02*scale, "bf16 activations moved the logits too far")
}
