package qwen3

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"runtime"
	"sync"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
)

// ErrUnknownPreset is returned for a random: name that is not a preset.
var ErrUnknownPreset = errors.New("qwen3: unknown preset")

// Presets lists the architectures LoadRandom accepts, by name.
func Presets() map[string]Config {
	c := Qwen3_0_6B
	c.EOSTokenIDs = append([]int(nil), c.EOSTokenIDs...)
	return map[string]Config{"qwen3-0.6b": c}
}

// LoadRandom builds the named preset (see Presets) with deterministic
// random bf16 weights generated in memory: the same name always gives the
// same weights, with no download. Matrices are uniform with standard
// deviation 0.02 (transformers' initializer_range), norm weights uniform in
// [0.5, 1.5]. The weights live in the Go heap as bf16, the same bytes a
// memory-mapped checkpoint would provide.
func LoadRandom(name string, dev device.Device, opts Options) (*Model, error) {
	cfg, ok := Presets()[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (have qwen3-0.6b)", ErrUnknownPreset, name)
	}
	tensors, shapes := RandomTensors(cfg)
	m, err := LoadFrom(cfg, func(n string) (safetensors.Tensor, error) {
		data, ok := tensors[n]
		if !ok {
			return safetensors.Tensor{}, safetensors.ErrTensorNotFound
		}
		return safetensors.Tensor{Name: n, DType: safetensors.BF16, Shape: shapes[n], Data: data}, nil
	}, dev, opts)
	if err != nil {
		return nil, err
	}
	m.keepAlive = tensors
	return m, nil
}

// RandomTensors generates every tensor of a Qwen3 checkpoint with config cfg
// as bf16 bytes, keyed by Hugging Face name, with their shapes.
func RandomTensors(cfg Config) (map[string][]byte, map[string][]int) {
	H, I, V := cfg.HiddenSize, cfg.IntermediateSize, cfg.VocabSize
	hd, nh, nkv := cfg.HeadDim, cfg.NumAttentionHeads, cfg.NumKeyValueHeads
	shapes := map[string][]int{
		"model.embed_tokens.weight": {V, H},
		"model.norm.weight":         {H},
	}
	if !cfg.TieWordEmbeddings {
		shapes["lm_head.weight"] = []int{V, H}
	}
	for i := range cfg.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.", i)
		shapes[p+"input_layernorm.weight"] = []int{H}
		shapes[p+"post_attention_layernorm.weight"] = []int{H}
		shapes[p+"self_attn.q_proj.weight"] = []int{nh * hd, H}
		shapes[p+"self_attn.k_proj.weight"] = []int{nkv * hd, H}
		shapes[p+"self_attn.v_proj.weight"] = []int{nkv * hd, H}
		shapes[p+"self_attn.o_proj.weight"] = []int{H, nh * hd}
		shapes[p+"self_attn.q_norm.weight"] = []int{hd}
		shapes[p+"self_attn.k_norm.weight"] = []int{hd}
		shapes[p+"mlp.gate_proj.weight"] = []int{I, H}
		shapes[p+"mlp.up_proj.weight"] = []int{I, H}
		shapes[p+"mlp.down_proj.weight"] = []int{H, I}
	}
	tensors := make(map[string][]byte, len(shapes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for name, shape := range shapes {
		n := 1
		for _, s := range shape {
			n *= s
		}
		h := fnv.New64a()
		h.Write([]byte(name))
		seed := h.Sum64()
		// Vectors are norm weights (around 1); matrices are N(0, 0.02²)-like.
		lo, width := float32(0.5), float32(1)
		if len(shape) == 2 {
			a := float32(0.02 * math.Sqrt(3))
			lo, width = -a, 2*a
		}
		data := make([]byte, 2*n)
		// Chunks are seeded by their index, so the result does not depend on
		// how many goroutines fill them.
		const chunk = 1 << 20
		for c := 0; c < n; c += chunk {
			wg.Add(1)
			sem <- struct{}{}
			go func(c int) {
				defer func() { <-sem; wg.Done() }()
				fillUniformBF16(data[2*c:2*min(n, c+chunk)], seed^uint64(c/chunk+1)*0x9e3779b97f4a7c15, lo, width)
			}(c)
		}
		tensors[name] = data
	}
	wg.Wait()
	return tensors, shapes
}

// fillUniformBF16 writes little-endian bf16 values uniform in [lo, lo+width)
// from a splitmix64 stream seeded with seed.
func fillUniformBF16(dst []byte, seed uint64, lo, width float32) {
	s := seed
	for i := 0; i+1 < len(dst); i += 2 {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		u := float32(z>>40) / (1 << 24)
		bits := math.Float32bits(lo + width*u)
		// Round to nearest even bf16.
		bits += 0x7fff + (bits>>16)&1
		dst[i] = byte(bits >> 16)
		dst[i+1] = byte(bits >> 24)
	}
}
