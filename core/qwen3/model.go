package qwen3

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/safetensors"
	"github.com/nano-vllm-go/nano-vllm-go/core/step"
)

// ErrNoKVCache is returned by Forward before NewKVCache has been called.
var ErrNoKVCache = errors.New("qwen3: no KV cache allocated")

// ErrBadInput reports a step the model cannot run: a token id outside the
// vocabulary, a position beyond max_position_embeddings. (A step that
// contradicts itself or the KV cache is a step.ErrInvalid.)
var ErrBadInput = errors.New("qwen3: bad input")

// TensorFunc returns the checkpoint tensor with the given Hugging Face name.
// The returned Data must stay valid and unchanged for the model's lifetime
// (devices may use it in place).
type TensorFunc func(name string) (safetensors.Tensor, error)

// Options tunes loading.
type Options struct {
	// MaxTokens sizes the activation buffers allocated up front, in tokens
	// per step; buffers grow on demand when a step is larger. 0 means 256.
	MaxTokens int
}

// Model is a loaded Qwen3 model bound to a device, with the paged KV cache
// allocated by NewKVCache. A Model runs one step at a time; it is not safe
// for concurrent use.
type Model struct {
	cfg Config
	gen GenerationConfig
	dev device.Device

	embed  device.Weight
	lmHead device.Weight // == embed when tied
	norm   device.Weight
	layers []layer

	cache device.KVCache

	// Activation buffers for up to capTokens tokens and capRows logits rows.
	capTokens, capRows              int
	h, x, q, k, v, att, o, gate, up device.Buffer
	lastHidden, logits              device.Buffer
	closers                         []func() error
	trace                           func(name string, layer int, buf device.Buffer, n int) // tests only
	keepAlive                       any
}

// layer holds the weights of one decoder layer.
type layer struct {
	inputNorm, postNorm    device.Weight
	qProj, kProj, vProj    device.Weight
	oProj                  device.Weight
	qNorm, kNorm           device.Weight
	gateProj, upProj, down device.Weight
}

// RandomPrefix marks a preset model name: "random:qwen3-0.6b" is the
// Qwen3-0.6B architecture with deterministic random weights.
const RandomPrefix = "random:"

// Load opens a model directory (config.json, generation_config.json and a
// safetensors checkpoint, single-file or sharded) and uploads its weights to
// dev. A name starting with RandomPrefix loads a preset instead (see
// LoadRandom). The checkpoint stays open (memory-mapped) until Close.
func Load(dir string, dev device.Device, opts Options) (*Model, error) {
	if name, ok := strings.CutPrefix(dir, RandomPrefix); ok {
		return LoadRandom(name, dev, opts)
	}
	cfg, gen, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	ckpt, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("qwen3: %w", err)
	}
	m, err := LoadFrom(cfg, ckpt.Tensor, dev, opts)
	if err != nil {
		ckpt.Close()
		return nil, err
	}
	m.gen = gen
	m.closers = append(m.closers, ckpt.Close)
	return m, nil
}

// LoadFrom builds a model from a config and a source of tensors, for
// checkpoints that are not on a local disk (the browser fetches them).
func LoadFrom(cfg Config, tensors TensorFunc, dev device.Device, opts Options) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("qwen3: %w", err)
	}
	if dev == nil || tensors == nil {
		return nil, errors.New("qwen3: LoadFrom needs a device and a tensor source")
	}
	m := &Model{cfg: cfg, dev: dev, gen: GenerationConfig{
		BOSTokenID: cfg.BOSTokenID, EOSTokenIDs: cfg.EOSTokenIDs, Temperature: 1, TopP: 1,
	}}
	H, I, V := cfg.HiddenSize, cfg.IntermediateSize, cfg.VocabSize
	hd, nh, nkv := cfg.HeadDim, cfg.NumAttentionHeads, cfg.NumKeyValueHeads
	load := func(name string, shape ...int) (device.Weight, error) {
		t, err := tensors(name)
		if err != nil {
			return nil, fmt.Errorf("qwen3: tensor %s: %w", name, err)
		}
		if !equalShape(t.Shape, shape) {
			return nil, fmt.Errorf("qwen3: tensor %s has shape %v, config wants %v", name, t.Shape, shape)
		}
		var dt device.DType
		switch t.DType {
		case safetensors.BF16:
			dt = device.BF16
		case safetensors.F16:
			dt = device.F16
		case safetensors.F32:
			dt = device.F32
		default:
			return nil, fmt.Errorf("qwen3: tensor %s has dtype %s, want BF16, F16 or F32", name, t.DType)
		}
		w, err := dev.UploadWeight(name, dt, shape, t.Data)
		if err != nil {
			return nil, fmt.Errorf("qwen3: tensor %s: %w", name, err)
		}
		return w, nil
	}
	var err error
	if m.embed, err = load("model.embed_tokens.weight", V, H); err != nil {
		return nil, err
	}
	m.lmHead = m.embed
	if !cfg.TieWordEmbeddings {
		if m.lmHead, err = load("lm_head.weight", V, H); err != nil {
			return nil, err
		}
	}
	if m.norm, err = load("model.norm.weight", H); err != nil {
		return nil, err
	}
	m.layers = make([]layer, cfg.NumHiddenLayers)
	for i := range m.layers {
		l := &m.layers[i]
		p := fmt.Sprintf("model.layers.%d.", i)
		for _, w := range []struct {
			dst   *device.Weight
			name  string
			shape []int
		}{
			{&l.inputNorm, "input_layernorm.weight", []int{H}},
			{&l.postNorm, "post_attention_layernorm.weight", []int{H}},
			{&l.qProj, "self_attn.q_proj.weight", []int{nh * hd, H}},
			{&l.kProj, "self_attn.k_proj.weight", []int{nkv * hd, H}},
			{&l.vProj, "self_attn.v_proj.weight", []int{nkv * hd, H}},
			{&l.oProj, "self_attn.o_proj.weight", []int{H, nh * hd}},
			{&l.qNorm, "self_attn.q_norm.weight", []int{hd}},
			{&l.kNorm, "self_attn.k_norm.weight", []int{hd}},
			{&l.gateProj, "mlp.gate_proj.weight", []int{I, H}},
			{&l.upProj, "mlp.up_proj.weight", []int{I, H}},
			{&l.down, "mlp.down_proj.weight", []int{H, I}},
		} {
			if *w.dst, err = load(p+w.name, w.shape...); err != nil {
				return nil, err
			}
		}
	}
	tokens := opts.MaxTokens
	if tokens <= 0 {
		tokens = 256
	}
	if err := m.ensure(tokens, 1); err != nil {
		return nil, err
	}
	return m, nil
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Config returns the model's architecture.
func (m *Model) Config() Config { return m.cfg }

// GenerationConfig returns the defaults of generation_config.json (or
// neutral defaults when the checkpoint has none).
func (m *Model) GenerationConfig() GenerationConfig { return m.gen }

// Device returns the device the model runs on.
func (m *Model) Device() device.Device { return m.dev }

// KVCacheSpec is the shape of a cache of numBlocks blocks of blockSize tokens.
func (m *Model) KVCacheSpec(numBlocks, blockSize int) device.KVCacheSpec {
	return device.KVCacheSpec{
		Layers:    m.cfg.NumHiddenLayers,
		NumBlocks: numBlocks,
		BlockSize: blockSize,
		KVHeads:   m.cfg.NumKeyValueHeads,
		HeadDim:   m.cfg.HeadDim,
	}
}

// KVBytesPerToken is the cache memory one token occupies across all layers
// (keys and values, float32), for sizing the cache from a memory budget.
func (m *Model) KVBytesPerToken() int64 { return m.KVCacheSpec(1, 1).Bytes() }

// NewKVCache allocates the paged KV cache the model's Forward writes and
// reads, replacing any previous one (whose contents are lost). Block ids in
// batches index this cache.
func (m *Model) NewKVCache(numBlocks, blockSize int) error {
	if numBlocks <= 0 || blockSize <= 0 {
		return fmt.Errorf("qwen3: KV cache of %d blocks of %d tokens: %w", numBlocks, blockSize, ErrBadInput)
	}
	m.cache = nil
	c, err := m.dev.NewKVCache(m.KVCacheSpec(numBlocks, blockSize))
	if err != nil {
		return fmt.Errorf("qwen3: %w", err)
	}
	m.cache = c
	return nil
}

// Close releases the checkpoint. The model must not be used afterwards.
func (m *Model) Close() error {
	var errs []error
	for _, c := range m.closers {
		errs = append(errs, c())
	}
	m.closers = nil
	m.keepAlive = nil
	return errors.Join(errs...)
}

// ensure grows the activation buffers to hold tokens tokens and rows logits
// rows.
func (m *Model) ensure(tokens, rows int) error {
	c := m.cfg
	if tokens > m.capTokens {
		tokens = max(tokens, m.capTokens*5/4)
		sizes := []struct {
			dst *device.Buffer
			n   int
		}{
			{&m.h, c.HiddenSize}, {&m.x, c.HiddenSize}, {&m.o, c.HiddenSize},
			{&m.q, c.NumAttentionHeads * c.HeadDim}, {&m.att, c.NumAttentionHeads * c.HeadDim},
			{&m.k, c.NumKeyValueHeads * c.HeadDim}, {&m.v, c.NumKeyValueHeads * c.HeadDim},
			{&m.gate, c.IntermediateSize}, {&m.up, c.IntermediateSize},
		}
		for _, s := range sizes {
			*s.dst = nil
		}
		for _, s := range sizes {
			b, err := m.dev.NewBuffer(tokens * s.n)
			if err != nil {
				return fmt.Errorf("qwen3: activations for %d tokens: %w", tokens, err)
			}
			*s.dst = b
		}
		m.capTokens = tokens
	}
	if rows > m.capRows {
		m.lastHidden, m.logits = nil, nil
		var err error
		if m.lastHidden, err = m.dev.NewBuffer(rows * c.HiddenSize); err != nil {
			return fmt.Errorf("qwen3: hidden rows for %d logits: %w", rows, err)
		}
		if m.logits, err = m.dev.NewBuffer(rows * c.VocabSize); err != nil {
			return fmt.Errorf("qwen3: logits for %d rows: %w", rows, err)
		}
		m.capRows = rows
	}
	return nil
}

// check rejects steps this model cannot run: token ids outside the
// vocabulary, positions past max_position_embeddings. The step's own
// consistency and its fit with the KV cache are the device's BeginStep's
// to check.
func (m *Model) check(s *step.Step) error {
	for i, id := range s.TokenIDs {
		if id < 0 || int(id) >= m.cfg.VocabSize {
			return fmt.Errorf("%w: token %d has id %d, vocab size is %d", ErrBadInput, i, id, m.cfg.VocabSize)
		}
		if p := s.Positions[i]; int(p) >= m.cfg.MaxPositionEmbeddings {
			return fmt.Errorf("%w: token %d at position %d, max_position_embeddings is %d",
				ErrBadInput, i, p, m.cfg.MaxPositionEmbeddings)
		}
	}
	return nil
}

// run records one step on the device: every layer over all tokens of b,
// then the final norm and output projection for the LogitsRows tokens,
// leaving the logits in m.logits.
func (m *Model) run(b *step.Step) error {
	if m.cache == nil {
		return ErrNoKVCache
	}
	if err := m.dev.BeginStep(b, m.cache); err != nil {
		return fmt.Errorf("qwen3: %w", err)
	}
	if err := m.check(b); err != nil {
		return err
	}
	n, r := b.NumTokens(), len(b.LogitsRows)
	if err := m.ensure(n, r); err != nil {
		return err
	}
	d, c := m.dev, m.cfg
	H, I := c.HiddenSize, c.IntermediateSize
	nh, nkv, hd := c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim
	eps := float32(c.RMSNormEps)
	trace := m.trace
	if trace == nil {
		trace = func(string, int, device.Buffer, int) {}
	}
	d.Embed(m.h, m.embed)
	trace("embed", -1, m.h, n*H)
	for i, l := range m.layers {
		d.RMSNorm(m.x, m.h, l.inputNorm, n, eps)
		trace("input_layernorm", i, m.x, n*H)
		d.Linear(m.q, m.x, l.qProj, n)
		d.Linear(m.k, m.x, l.kProj, n)
		d.Linear(m.v, m.x, l.vProj, n)
		trace("q_proj", i, m.q, n*nh*hd)
		trace("k_proj", i, m.k, n*nkv*hd)
		trace("v_proj", i, m.v, n*nkv*hd)
		// q_norm and k_norm normalise each head's slice: rows of head_dim.
		d.RMSNorm(m.q, m.q, l.qNorm, n*nh, eps)
		d.RMSNorm(m.k, m.k, l.kNorm, n*nkv, eps)
		trace("q_norm", i, m.q, n*nh*hd)
		trace("k_norm", i, m.k, n*nkv*hd)
		d.RoPE(m.q, n, nh, hd, c.RopeTheta)
		d.RoPE(m.k, n, nkv, hd, c.RopeTheta)
		trace("k_rope", i, m.k, n*nkv*hd)
		d.WriteKV(m.cache, i, m.k, m.v, n)
		d.Attention(m.att, m.q, m.cache, i, nh, n)
		trace("attn", i, m.att, n*nh*hd)
		d.Linear(m.o, m.att, l.oProj, n)
		trace("o_proj", i, m.o, n*H)
		d.Add(m.h, m.o, n*H)
		d.RMSNorm(m.x, m.h, l.postNorm, n, eps)
		trace("post_attention_layernorm", i, m.x, n*H)
		d.Linear(m.gate, m.x, l.gateProj, n)
		d.Linear(m.up, m.x, l.upProj, n)
		d.SwiGLU(m.gate, m.gate, m.up, n*I)
		d.Linear(m.o, m.gate, l.down, n)
		trace("mlp", i, m.o, n*H)
		d.Add(m.h, m.o, n*H)
		trace("layer", i, m.h, n*H)
	}
	if r == 0 {
		return nil
	}
	d.GatherRows(m.lastHidden, m.h, H)
	d.RMSNorm(m.lastHidden, m.lastHidden, m.norm, r, eps)
	trace("final_norm", -1, m.lastHidden, r*H)
	d.Linear(m.logits, m.lastHidden, m.lmHead, r)
	return nil
}

// Forward runs one step and returns the logits of the batch's LogitsRows:
// len(b.LogitsRows) rows of VocabSize float32s, row k for token
// b.LogitsRows[k]. Every token's keys and values are written to the KV
// cache at b.Slots, so later steps can attend to them.
func (m *Model) Forward(b *step.Step) ([]float32, error) {
	if err := m.run(b); err != nil {
		return nil, err
	}
	out := make([]float32, len(b.LogitsRows)*m.cfg.VocabSize)
	if err := m.dev.ReadFloats(out, m.logits); err != nil {
		return nil, fmt.Errorf("qwen3: %w", err)
	}
	return out, nil
}

// ForwardArgmax runs one step like Forward and returns, for each LogitsRows
// entry, the id of the largest logit (the lowest id on ties): greedy
// decoding without copying logits off the device.
func (m *Model) ForwardArgmax(b *step.Step) ([]int32, error) {
	if err := m.run(b); err != nil {
		return nil, err
	}
	if len(b.LogitsRows) == 0 {
		if err := m.dev.ReadFloats(nil, m.h); err != nil {
			return nil, fmt.Errorf("qwen3: %w", err)
		}
		return []int32{}, nil
	}
	ids, err := m.dev.ArgmaxRows(m.logits, len(b.LogitsRows), m.cfg.VocabSize)
	if err != nil {
		return nil, fmt.Errorf("qwen3: %w", err)
	}
	return ids, nil
}
