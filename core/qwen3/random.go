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
	"github.com/nano-vllm-go/nano-vllm-go/core/sysmem"
)

// ErrUnknownPreset is returned for a random: name that is not a preset.
var ErrUnknownPreset = errors.New("qwen3: unknown preset")

// The architectures of the larger Qwen3 dense models (the config.json of
// Qwen/Qwen3-1.7B, Qwen/Qwen3-4B and Qwen/Qwen3-8B), for the random:
// presets. Treat them as constants, like Qwen3_0_6B.
var (
	Qwen3_1_7B = largerQwen3(2048, 6144, 28, 16, true)
	Qwen3_4B   = largerQwen3(2560, 9728, 36, 32, true)
	Qwen3_8B   = largerQwen3(4096, 12288, 36, 32, false)
)

// largerQwen3 is Qwen3_0_6B with another size: 8 KV heads of 128 and the
// same vocabulary, RoPE, norms, context length and special tokens.
func largerQwen3(hidden, intermediate, layers, heads int, tied bool) Config {
	c := Qwen3_0_6B
	c.EOSTokenIDs = append([]int(nil), c.EOSTokenIDs...)
	c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers = hidden, intermediate, layers
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = heads, 8, 128
	c.TieWordEmbeddings = tied
	return c
}

// Presets lists the architectures LoadRandom accepts, by name.
func Presets() map[string]Config {
	out := map[string]Config{}
	for name, c := range map[string]Config{
		"qwen3-0.6b": Qwen3_0_6B, "qwen3-1.7b": Qwen3_1_7B, "qwen3-4b": Qwen3_4B, "qwen3-8b": Qwen3_8B,
	} {
		c.EOSTokenIDs = append([]int(nil), c.EOSTokenIDs...)
		out[name] = c
	}
	return out
}

// LoadRandom builds the named preset (see Presets) with deterministic
// random bf16 weights generated in memory: the same name always gives the
// same weights, with no download. Matrices are uniform with standard
// deviation 0.02 (transformers' initializer_range), norm weights uniform in
// [0.5, 1.5]. The weights live in the Go heap as bf16, the same bytes a
// memory-mapped checkpoint would provide.
//
// With opts.Quantize set, each matrix is quantized as soon as it is
// generated, in a bf16 scratch buffer reused from one matrix to the next:
// the weights are those of the bf16 preset, quantized, and the bf16 copy
// never exists in full (at most the largest matrix, the embedding).
//
// The memory the weights need is checked before anything is generated.
func LoadRandom(name string, dev device.Device, opts Options) (*Model, error) {
	cfg, ok := Presets()[name]
	if !ok {
		return nil, fmt.Errorf("%w %q (have qwen3-0.6b, qwen3-1.7b, qwen3-4b, qwen3-8b)", ErrUnknownPreset, name)
	}
	need, what, err := randomMemoryNeed(cfg, opts.Quantize)
	if err != nil {
		return nil, err
	}
	if err := sysmem.Check(RandomPrefix+name+" ("+what+")", uint64(need)); err != nil {
		return nil, fmt.Errorf("qwen3: %w", err)
	}
	if opts.Quantize != device.F32 {
		return LoadSource(cfg, randomQuantizedSource(cfg, opts.Quantize), dev, opts)
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

// randomMemoryNeed is the memory LoadRandom allocates for cfg's weights:
// all of them in bf16, or, quantizing to q, the quantized weights plus the
// bf16 scratch buffer of the largest matrix. what describes it for
// sysmem.Check's error.
func randomMemoryNeed(cfg Config, q device.DType) (need int64, what string, err error) {
	if q == device.F32 {
		need, err = WeightBytesFor(cfg, device.BF16)
		return need, "its bf16 weights", err
	}
	if err := validateQuantize(q); err != nil {
		return 0, "", err
	}
	need, err = WeightBytesFor(cfg, q)
	if err != nil {
		return 0, "", err
	}
	shapes := randomShapes(cfg)
	var largest int64
	for _, sh := range shapes {
		if len(sh) == 2 {
			largest = max(largest, 2*int64(sh[0])*int64(sh[1]))
		}
	}
	return need + largest, fmt.Sprintf("its weights in %s and a bf16 scratch matrix", q), nil
}

// randomQuantizedSource serves cfg's random tensors, each generated when
// the loader asks for it: vectors as bf16 in their own memory (the device
// may keep them), matrices generated into one reused bf16 scratch buffer
// and quantized to q from it.
func randomQuantizedSource(cfg Config, q device.DType) Source {
	shapes := randomShapes(cfg)
	var scratch []byte
	return func(name string) (Tensor, error) {
		shape, ok := shapes[name]
		if !ok {
			return Tensor{}, safetensors.ErrTensorNotFound
		}
		n := 1
		for _, s := range shape {
			n *= s
		}
		if len(shape) != 2 {
			data := make([]byte, 2*n)
			fillRandomTensor(data, name, shape)
			return Tensor{DType: device.BF16, Shape: shape, Data: data}, nil
		}
		if cap(scratch) < 2*n {
			scratch = nil // let the smaller one go before allocating
			scratch = make([]byte, 2*n)
		}
		data := scratch[:2*n]
		fillRandomTensor(data, name, shape)
		return quantizeTensor(Tensor{DType: device.BF16, Shape: shape, Data: data}, q)
	}
}

// RandomTensors generates every tensor of a Qwen3 checkpoint with config cfg
// as bf16 bytes, keyed by Hugging Face name, with their shapes.
func RandomTensors(cfg Config) (map[string][]byte, map[string][]int) {
	shapes := randomShapes(cfg)
	tensors := make(map[string][]byte, len(shapes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for name, shape := range shapes {
		n := 1
		for _, s := range shape {
			n *= s
		}
		data := make([]byte, 2*n)
		startRandomFill(&wg, sem, data, name, shape)
		tensors[name] = data
	}
	wg.Wait()
	return tensors, shapes
}

// randomChunk is the number of values generated from one seed.
const randomChunk = 1 << 20

// randomShapes lists every tensor of a Qwen3 checkpoint with config cfg,
// by Hugging Face name, with its shape.
func randomShapes(cfg Config) map[string][]int {
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
	return shapes
}

// randomParams is the seed and the uniform range of a random tensor:
// vectors are norm weights (around 1); matrices are N(0, 0.02²)-like.
func randomParams(name string, shape []int) (seed uint64, lo, width float32) {
	h := fnv.New64a()
	h.Write([]byte(name))
	lo, width = 0.5, 1
	if len(shape) == 2 {
		a := float32(0.02 * math.Sqrt(3))
		lo, width = -a, 2*a
	}
	return h.Sum64(), lo, width
}

// fillRandomTensor generates the tensor name of shape into dst (2 bytes a
// value), the same values RandomTensors gives it, in parallel chunks.
func fillRandomTensor(dst []byte, name string, shape []int) {
	var wg sync.WaitGroup
	startRandomFill(&wg, make(chan struct{}, runtime.GOMAXPROCS(0)), dst, name, shape)
	wg.Wait()
}

// startRandomFill starts filling dst with the values of the tensor name of
// shape, one goroutine per chunk of randomChunk values, at most cap(sem) at
// a time; wg tracks them. Chunks are seeded by their index, so the result
// does not depend on how many goroutines fill them.
func startRandomFill(wg *sync.WaitGroup, sem chan struct{}, dst []byte, name string, shape []int) {
	n := len(dst) / 2
	seed, lo, width := randomParams(name, shape)
	for c := 0; c < n; c += randomChunk {
		wg.Add(1)
		sem <- struct{}{}
		go func(c int) {
			defer func() { <-sem; wg.Done() }()
			fillUniformBF16(dst[2*c:2*min(n, c+randomChunk)], seed^uint64(c/randomChunk+1)*0x9e3779b97f4a7c15, lo, width)
		}(c)
	}
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
