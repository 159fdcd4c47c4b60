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

// Tensor is one checkpoint tensor in the form a device takes it: any
// device.DType, quantized ones included (a GGUF file's blocks as stored).
type Tensor struct {
	DType device.DType
	Shape []int // row-major, Hugging Face order: [out_features, in_features]
	Data  []byte
}

// Source returns the tensor with the given Hugging Face name. Like
// TensorFunc, the returned Data must stay valid and unchanged for the
// model's lifetime.
type Source func(name string) (Tensor, error)

// FromSafetensors adapts a TensorFunc to a Source.
func FromSafetensors(tensors TensorFunc) Source {
	return func(name string) (Tensor, error) {
		t, err := tensors(name)
		if err != nil {
			return Tensor{}, err
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
			return Tensor{}, fmt.Errorf("dtype %s, want BF16, F16 or F32", t.DType)
		}
		return Tensor{DType: dt, Shape: t.Shape, Data: t.Data}, nil
	}
}

// Options tunes loading.
type Options struct {
	// MaxTokens sizes the activation buffers allocated up front, in tokens
	// per step; buffers grow on demand when a step is larger. 0 means 256.
	MaxTokens int
	// KVCacheDType is the element type of the KV cache NewKVCache
	// allocates: device.F32 (the zero value), or device.BF16 or device.F16,
	// which halve the cache's memory (twice the tokens in the same budget)
	// at the cost of rounding every key and value to 16 bits.
	KVCacheDType device.DType
	// Quantize, when set, quantizes the weights on load with ggml's
	// reference quantizers (core/quant, byte-exact with llama-quantize):
	// every 2-D weight (the attention and MLP projections, the embedding,
	// and lm_head when it is not tied; a tied embedding is one quantized
	// tensor for both, as in llama.cpp) that is stored as BF16, F16 or F32
	// becomes device.Q8_0 or device.Q4_0, the two accepted values. Norm
	// weights keep their type, and tensors already quantized (a GGUF file's)
	// are left as they are. The zero value, device.F32, means "as stored".
	// The quantized copies live in the Go heap; see Model.WeightBytes.
	Quantize device.DType
}

// Model is a loaded Qwen3 model bound to a device, with the paged KV cache
// allocated by NewKVCache. A Model runs one step at a time; it is not safe
// for concurrent use.
type Model struct {
	cfg Config
	gen GenerationConfig
	dev device.Device

	embed  device.Weight // [vocab, hidden]
	lmHead device.Weight // [vocab, hidden]; the same weight as embed when tied
	norm   device.Weight // [hidden] the final norm
	layers []layer

	cache   device.KVCache
	kvDType device.DType // Options.KVCacheDType
	act     activations

	closers     []func() error
	keepAlive   any   // what the weights' bytes live in, when nothing else holds it
	weightBytes int64 // the bytes of every weight as uploaded (see WeightBytes)
	embedBytes  int64 // of those, the embedding table's
}

// activations are the device buffers of one step, sized for up to capTokens
// tokens (N below) and capRows logits rows (R), grown on demand. Shapes are
// row-major, one row per token of the step.
type activations struct {
	capTokens, capRows, capLogits int

	h        device.Buffer // [N, hidden] the residual stream
	x        device.Buffer // [N, hidden] h normalised: the input of a block's projections
	q        device.Buffer // [N, heads*head_dim] queries
	k, v     device.Buffer // [N, kv_heads*head_dim] this step's keys and values, before the cache
	att      device.Buffer // [N, heads*head_dim] attention output, all heads
	o        device.Buffer // [N, hidden] a block's output (o_proj, down_proj), added to h
	gate, up device.Buffer // [N, intermediate] the MLP's two projections; gate becomes silu(gate)*up

	qkv    [3]device.Buffer // q, k, v: the outputs of layer.qkv
	gateUp [2]device.Buffer // gate, up: the outputs of layer.gateUp

	lastHidden device.Buffer // [R, hidden] the rows of h whose logits are wanted, then normalised
	logits     device.Buffer // [R, vocab], when the step's logits are wanted (not for a fused argmax)
}

// layer holds the weights of one decoder layer.
type layer struct {
	inputNorm, postNorm device.Weight // [hidden]
	qProj               device.Weight // [heads*head_dim, hidden]
	kProj, vProj        device.Weight // [kv_heads*head_dim, hidden]
	oProj               device.Weight // [hidden, heads*head_dim]
	qNorm, kNorm        device.Weight // [head_dim], applied to each head
	gateProj, upProj    device.Weight // [intermediate, hidden]
	down                device.Weight // [hidden, intermediate]

	qkv    [3]device.Weight // qProj, kProj, vProj: the matmuls of x (see linears)
	gateUp [2]device.Weight // gateProj, upProj
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
	if tensors == nil {
		return nil, errors.New("qwen3: LoadFrom needs a device and a tensor source")
	}
	return LoadSource(cfg, FromSafetensors(tensors), dev, opts)
}

// LoadSource builds a model from a config and a Source of tensors in any
// device dtype (GGUF files give quantized blocks).
func LoadSource(cfg Config, tensors Source, dev device.Device, opts Options) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("qwen3: %w", err)
	}
	if dev == nil || tensors == nil {
		return nil, errors.New("qwen3: LoadSource needs a device and a tensor source")
	}
	if kv := (device.KVCacheSpec{DType: opts.KVCacheDType}); kv.ElementBytes() == 0 {
		return nil, fmt.Errorf("qwen3: KV cache dtype %s (want f32, bf16 or f16): %w", opts.KVCacheDType, device.ErrKVCacheDType)
	}
	if err := checkQuantize(cfg, opts.Quantize); err != nil {
		return nil, err
	}
	m := &Model{cfg: cfg, dev: dev, gen: GenerationConfig{
		BOSTokenID: cfg.BOSTokenID, EOSTokenIDs: cfg.EOSTokenIDs, Temperature: 1, TopP: 1,
	}}
	m.kvDType = opts.KVCacheDType
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
		if opts.Quantize != device.F32 && len(shape) == 2 {
			if t, err = quantizeTensor(t, opts.Quantize); err != nil {
				return nil, fmt.Errorf("qwen3: tensor %s: %w", name, err)
			}
		}
		m.weightBytes += int64(len(t.Data))
		if name == "model.embed_tokens.weight" {
			m.embedBytes = int64(len(t.Data))
		}
		w, err := dev.UploadWeight(name, t.DType, shape, t.Data)
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
		l.qkv = [3]device.Weight{l.qProj, l.kProj, l.vProj}
		l.gateUp = [2]device.Weight{l.gateProj, l.upProj}
	}
	tokens := opts.MaxTokens
	if tokens <= 0 {
		tokens = 256
	}
	if err := m.ensure(tokens, 1, true); err != nil {
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

// KVCacheSpec is the shape of a cache of numBlocks blocks of blockSize
// tokens, in the model's KV cache dtype (Options.KVCacheDType).
func (m *Model) KVCacheSpec(numBlocks, blockSize int) device.KVCacheSpec {
	return device.KVCacheSpec{
		Layers:    m.cfg.NumHiddenLayers,
		NumBlocks: numBlocks,
		BlockSize: blockSize,
		KVHeads:   m.cfg.NumKeyValueHeads,
		HeadDim:   m.cfg.HeadDim,
		DType:     m.kvDType,
	}
}

// KVCacheDType is the element type of the KV cache (Options.KVCacheDType).
func (m *Model) KVCacheDType() device.DType { return m.kvDType }

// KVBytesPerToken is the cache memory one token occupies across all layers
// (keys and values, in the KV cache dtype: half as much in bf16 or f16 as
// in float32), for sizing the cache from a memory budget.
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

// ensure grows the activation buffers to hold tokens tokens and rows
// logits rows (the logits themselves only when logits is set).
func (m *Model) ensure(tokens, rows int, logits bool) error {
	c, a := m.cfg, &m.act
	if tokens > a.capTokens {
		tokens = max(tokens, a.capTokens*5/4)
		sizes := []struct {
			dst *device.Buffer
			n   int
		}{
			{&a.h, c.HiddenSize}, {&a.x, c.HiddenSize}, {&a.o, c.HiddenSize},
			{&a.q, c.NumAttentionHeads * c.HeadDim}, {&a.att, c.NumAttentionHeads * c.HeadDim},
			{&a.k, c.NumKeyValueHeads * c.HeadDim}, {&a.v, c.NumKeyValueHeads * c.HeadDim},
			{&a.gate, c.IntermediateSize}, {&a.up, c.IntermediateSize},
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
		a.qkv = [3]device.Buffer{a.q, a.k, a.v}
		a.gateUp = [2]device.Buffer{a.gate, a.up}
		a.capTokens = tokens
	}
	if rows > a.capRows {
		a.lastHidden = nil
		var err error
		if a.lastHidden, err = m.dev.NewBuffer(rows * c.HiddenSize); err != nil {
			return fmt.Errorf("qwen3: hidden rows for %d logits: %w", rows, err)
		}
		a.capRows = rows
	}
	if logits && rows > a.capLogits {
		a.logits = nil
		var err error
		if a.logits, err = m.dev.NewBuffer(rows * c.VocabSize); err != nil {
			return fmt.Errorf("qwen3: logits for %d rows: %w", rows, err)
		}
		a.capLogits = rows
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

// run records one step on the device, the whole model top to bottom:
// embed every token, run each decoder layer (attention, then MLP, each
// adding to the residual stream h), then the final norm for the LogitsRows
// tokens only, and, when logits is set, the LM head, leaving their logits
// in m.act.logits.
func (m *Model) run(s *step.Step, logits bool) error {
	if m.cache == nil {
		return ErrNoKVCache
	}
	if err := m.dev.BeginStep(s, m.cache); err != nil {
		return fmt.Errorf("qwen3: %w", err)
	}
	if err := m.check(s); err != nil {
		return err
	}
	n, r := s.NumTokens(), len(s.LogitsRows)
	if err := m.ensure(n, r, logits); err != nil {
		return err
	}
	m.dev.Embed(m.act.h, m.embed)
	for i := range m.layers {
		m.attention(i, n)
		m.mlp(i, n)
	}
	if r > 0 {
		m.logitsOf(r, logits)
	}
	return nil
}

// attention is the first half of decoder layer i over the step's n tokens:
//
//	x = input_layernorm(h)
//	q, k, v = q_norm(x·Wqᵀ), k_norm(x·Wkᵀ), x·Wvᵀ   (the norms per head)
//	q, k = rope(q), rope(k)                        (by each token's position)
//	cache[slots] = k, v
//	h += o_proj(paged_attention(q, cache))
func (m *Model) attention(i, n int) {
	d, c, a, l := m.dev, m.cfg, &m.act, &m.layers[i]
	eps := float32(c.RMSNormEps)
	nh, nkv, hd := c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim
	d.RMSNorm(a.x, a.h, l.inputNorm, n, eps)
	m.linears(a.qkv[:], a.x, l.qkv[:], n)
	// q_norm and k_norm normalise each head's slice: rows of head_dim.
	d.RMSNorm(a.q, a.q, l.qNorm, n*nh, eps)
	d.RMSNorm(a.k, a.k, l.kNorm, n*nkv, eps)
	d.RoPE(a.q, n, nh, hd, c.RopeTheta)
	d.RoPE(a.k, n, nkv, hd, c.RopeTheta)
	d.WriteKV(m.cache, i, a.k, a.v, n)
	d.Attention(a.att, a.q, m.cache, i, nh, n)
	d.Linear(a.o, a.att, l.oProj, n)
	d.Add(a.h, a.o, n*c.HiddenSize)
}

// argmaxLinear is implemented by devices that can fuse the LM head with
// the argmax of its rows (the CPU device: a slice of the vocabulary at a
// time), so that a greedy step of 64 sequences need not hold 64 rows of
// logits (39 MB at Qwen3's vocabulary).
type argmaxLinear interface {
	LinearArgmax(x device.Buffer, w device.Weight, rows int) ([]int32, error)
}

// fusedLinear is implemented by devices that can run several matmuls of
// one input as one unit of work (the CPU device: one hand-off to its
// threads instead of one per matmul, which counts at batch 1).
type fusedLinear interface {
	LinearFused(outs []device.Buffer, x device.Buffer, ws []device.Weight, rows int)
}

// linears computes outs[i] = x · ws[i]ᵀ for every i: fused where the device
// can, else one Linear each.
func (m *Model) linears(outs []device.Buffer, x device.Buffer, ws []device.Weight, rows int) {
	if f, ok := m.dev.(fusedLinear); ok {
		f.LinearFused(outs, x, ws, rows)
		return
	}
	for i, w := range ws {
		m.dev.Linear(outs[i], x, w, rows)
	}
}

// mlp is the second half of decoder layer i, a SwiGLU feed-forward block:
//
//	x = post_attention_layernorm(h)
//	h += down_proj(silu(gate_proj(x)) * up_proj(x))
func (m *Model) mlp(i, n int) {
	d, c, a, l := m.dev, m.cfg, &m.act, &m.layers[i]
	d.RMSNorm(a.x, a.h, l.postNorm, n, float32(c.RMSNormEps))
	m.linears(a.gateUp[:], a.x, l.gateUp[:], n)
	d.SwiGLU(a.gate, a.gate, a.up, n*c.IntermediateSize)
	d.Linear(a.o, a.gate, l.down, n)
	d.Add(a.h, a.o, n*c.HiddenSize)
}

// logitsOf turns the r rows of h named by the step's LogitsRows into logits:
// only those rows go through the final norm and (when logits is set; a
// fused argmax does without) the vocabulary-sized output projection.
func (m *Model) logitsOf(r int, logits bool) {
	d, a := m.dev, &m.act
	d.GatherRows(a.lastHidden, a.h, m.cfg.HiddenSize)
	d.RMSNorm(a.lastHidden, a.lastHidden, m.norm, r, float32(m.cfg.RMSNormEps))
	if logits {
		d.Linear(a.logits, a.lastHidden, m.lmHead, r)
	}
}

// Forward runs one step and returns the logits of the batch's LogitsRows:
// len(b.LogitsRows) rows of VocabSize float32s, row k for token
// b.LogitsRows[k]. Every token's keys and values are written to the KV
// cache at b.Slots, so later steps can attend to them.
func (m *Model) Forward(b *step.Step) ([]float32, error) {
	if err := m.run(b, true); err != nil {
		return nil, err
	}
	out := make([]float32, len(b.LogitsRows)*m.cfg.VocabSize)
	if err := m.dev.ReadFloats(out, m.act.logits); err != nil {
		return nil, fmt.Errorf("qwen3: %w", err)
	}
	return out, nil
}

// ForwardArgmax runs one step like Forward and returns, for each LogitsRows
// entry, the id of the largest logit (the lowest id on ties): greedy
// decoding without copying logits off the device. Where the device fuses
// the LM head with the argmax (argmaxLinear), the step's logits are never
// held whole.
func (m *Model) ForwardArgmax(b *step.Step) ([]int32, error) {
	fused, ok := m.dev.(argmaxLinear)
	if err := m.run(b, !ok); err != nil {
		return nil, err
	}
	if len(b.LogitsRows) == 0 {
		if err := m.dev.ReadFloats(nil, m.act.h); err != nil {
			return nil, fmt.Errorf("qwen3: %w", err)
		}
		return []int32{}, nil
	}
	var ids []int32
	var err error
	if ok {
		ids, err = fused.LinearArgmax(m.act.lastHidden, m.lmHead, len(b.LogitsRows))
	} else {
		ids, err = m.dev.ArgmaxRows(m.act.logits, len(b.LogitsRows), m.cfg.VocabSize)
	}
	if err != nil {
		return nil, fmt.Errorf("qwen3: %w", err)
	}
	return ids, nil
}
