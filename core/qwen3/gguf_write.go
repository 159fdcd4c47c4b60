package qwen3

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/nano-vllm-go/nano-vllm-go/core/device"
	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
	"github.com/nano-vllm-go/nano-vllm-go/core/quant"
)

// GGUFWriteOptions says how WriteGGUF writes a model.
type GGUFWriteOptions struct {
	// Name is general.name, e.g. "Qwen3-0.6B Q8_0".
	Name string
	// Type is the type of every 2-D weight (the projections, the
	// embedding and lm_head): device.F32, BF16, Q8_0, Q4_0 or Q4_K (rows
	// a multiple of 256 values). The norms are always F32, as llama.cpp's
	// converter writes them.
	Type device.DType
	// Tokenizer is the tokenizer.* metadata (tokenizer.Tokenizer's
	// GGUFMetadata). Without it the file says tokenizer.ggml.model "none"
	// with qwen3.vocab_size and the config's BOS and EOS ids, and runs on
	// token ids only.
	Tokenizer []gguf.KV
}

// ggufFileType is general.file_type (llama_ftype) for a pure file of t.
func ggufFileType(t device.DType) (uint32, error) {
	switch t {
	case device.F32:
		return 0, nil
	case device.F16:
		return 1, nil
	case device.Q4_0:
		return 2, nil
	case device.Q8_0:
		return 7, nil
	case device.BF16:
		return 32, nil
	case device.Q4_K:
		return 14, nil // LLAMA_FTYPE_MOSTLY_Q4_K_S: all Q4_K, as llama-quantize --pure Q4_K_S
	}
	return 0, fmt.Errorf("%w: GGUF files of %s (want f32, bf16, q8_0, q4_0 or q4_k)", ErrQuantize, t)
}

// ggufTensor is one tensor of a Qwen3 GGUF file: Hugging Face name and
// row-major shape.
type ggufTensor struct {
	hf    string
	shape []int
}

// ggufTensors lists cfg's tensors in the order llama.cpp's converter
// writes them.
func ggufTensors(cfg Config) []ggufTensor {
	H, I, V := cfg.HiddenSize, cfg.IntermediateSize, cfg.VocabSize
	q, kv, hd := cfg.NumAttentionHeads*cfg.HeadDim, cfg.NumKeyValueHeads*cfg.HeadDim, cfg.HeadDim
	ts := []ggufTensor{{"model.embed_tokens.weight", []int{V, H}}}
	for i := range cfg.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.", i)
		ts = append(ts,
			ggufTensor{p + "input_layernorm.weight", []int{H}},
			ggufTensor{p + "self_attn.q_proj.weight", []int{q, H}},
			ggufTensor{p + "self_attn.k_proj.weight", []int{kv, H}},
			ggufTensor{p + "self_attn.v_proj.weight", []int{kv, H}},
			ggufTensor{p + "self_attn.o_proj.weight", []int{H, q}},
			ggufTensor{p + "self_attn.q_norm.weight", []int{hd}},
			ggufTensor{p + "self_attn.k_norm.weight", []int{hd}},
			ggufTensor{p + "post_attention_layernorm.weight", []int{H}},
			ggufTensor{p + "mlp.gate_proj.weight", []int{I, H}},
			ggufTensor{p + "mlp.up_proj.weight", []int{I, H}},
			ggufTensor{p + "mlp.down_proj.weight", []int{H, I}},
		)
	}
	ts = append(ts, ggufTensor{"model.norm.weight", []int{H}})
	if !cfg.TieWordEmbeddings {
		ts = append(ts, ggufTensor{"lm_head.weight", []int{V, H}})
	}
	return ts
}

// WriteGGUF writes a Qwen3 model as a GGUF file that llama.cpp loads: the
// metadata llama.cpp's convert_hf_to_gguf.py writes for Qwen3, and every
// tensor of src under its GGUF name, the 2-D weights converted to
// opts.Type with core/quant's reference quantizers (byte-exact with
// llama-quantize --pure) and the norms as F32. Tensors are read from src
// and converted one at a time as they are written. A tensor already in a
// quantized type is copied when it is opts.Type and refused otherwise
// (quantizing twice compounds the error).
func WriteGGUF(w io.Writer, cfg Config, src Source, opts GGUFWriteOptions) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("qwen3: %w", err)
	}
	ft, err := ggufFileType(opts.Type)
	if err != nil {
		return err
	}
	gt, err := gguf.TypeOf(opts.Type)
	if err != nil {
		return err
	}
	gw := gguf.NewWriter()
	u32 := func(x int) gguf.Value { return gguf.Uint32Value(uint32(x)) }
	kvs := []gguf.KV{
		{Key: "general.architecture", Value: gguf.StringValue("qwen3")},
		{Key: "general.type", Value: gguf.StringValue("model")},
		{Key: "general.name", Value: gguf.StringValue(opts.Name)},
		{Key: "qwen3.block_count", Value: u32(cfg.NumHiddenLayers)},
		{Key: "qwen3.context_length", Value: u32(cfg.MaxPositionEmbeddings)},
		{Key: "qwen3.embedding_length", Value: u32(cfg.HiddenSize)},
		{Key: "qwen3.feed_forward_length", Value: u32(cfg.IntermediateSize)},
		{Key: "qwen3.attention.head_count", Value: u32(cfg.NumAttentionHeads)},
		{Key: "qwen3.attention.head_count_kv", Value: u32(cfg.NumKeyValueHeads)},
		{Key: "qwen3.rope.freq_base", Value: gguf.Float32Value(float32(cfg.RopeTheta))},
		{Key: "qwen3.attention.layer_norm_rms_epsilon", Value: gguf.Float32Value(float32(cfg.RMSNormEps))},
		{Key: "qwen3.attention.key_length", Value: u32(cfg.HeadDim)},
		{Key: "qwen3.attention.value_length", Value: u32(cfg.HeadDim)},
		{Key: "general.file_type", Value: gguf.Uint32Value(ft)},
		{Key: "general.quantization_version", Value: u32(2)},
	}
	if opts.Tokenizer != nil {
		kvs = append(kvs, opts.Tokenizer...)
	} else {
		kvs = append(kvs,
			gguf.KV{Key: "qwen3.vocab_size", Value: u32(cfg.VocabSize)},
			gguf.KV{Key: "tokenizer.ggml.model", Value: gguf.StringValue("none")})
		if cfg.BOSTokenID >= 0 {
			kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.bos_token_id", Value: u32(cfg.BOSTokenID)})
		}
		if len(cfg.EOSTokenIDs) > 0 {
			kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.eos_token_id", Value: u32(cfg.EOSTokenIDs[0])})
		}
	}
	for _, kv := range kvs {
		if err := gw.Set(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("qwen3: %w", err)
		}
	}
	for _, t := range ggufTensors(cfg) {
		name, _ := GGUFTensorName(t.hf)
		dims := make([]int64, len(t.shape))
		for i, d := range t.shape {
			dims[len(dims)-1-i] = int64(d)
		}
		typ, to := gguf.TypeF32, device.F32
		if len(t.shape) == 2 {
			typ, to = gt, opts.Type
		}
		load := func() ([]byte, error) {
			src, err := src(t.hf)
			if err != nil {
				return nil, fmt.Errorf("qwen3: tensor %s: %w", t.hf, err)
			}
			if !equalShape(src.Shape, t.shape) {
				return nil, fmt.Errorf("qwen3: tensor %s has shape %v, config wants %v", t.hf, src.Shape, t.shape)
			}
			out, err := convertTensor(src, to)
			if err != nil {
				return nil, fmt.Errorf("qwen3: tensor %s: %w", t.hf, err)
			}
			return out, nil
		}
		if err := gw.AddTensorFunc(name, typ, dims, load); err != nil {
			return fmt.Errorf("qwen3: %w", err)
		}
	}
	if _, err := gw.WriteTo(w); err != nil {
		return fmt.Errorf("qwen3: %w", err)
	}
	return nil
}

// convertTensor returns t's values in type to: the same bytes when t
// already is of that type, else widened to float32 and rounded or
// quantized.
func convertTensor(t Tensor, to device.DType) ([]byte, error) {
	if t.DType == to {
		return t.Data, nil
	}
	if t.DType.Quantized() {
		return nil, fmt.Errorf("%w: stored as %s, wanted %s (quantize from the float weights)", ErrQuantize, t.DType, to)
	}
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	f := make([]float32, n)
	if err := quant.Dequantize(t.DType, f, t.Data); err != nil {
		return nil, err
	}
	switch to {
	case device.F32:
		out := make([]byte, 4*n)
		for i, x := range f {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
		}
		return out, nil
	case device.BF16:
		out := make([]byte, 2*n)
		for i, x := range f {
			binary.LittleEndian.PutUint16(out[2*i:], quant.F32ToBF16(x))
		}
		return out, nil
	}
	size, err := quant.Bytes(to, n/t.Shape[len(t.Shape)-1], t.Shape[len(t.Shape)-1])
	if err != nil {
		return nil, err
	}
	out := make([]byte, size)
	if err := quant.Quantize(to, out, f); err != nil {
		return nil, err
	}
	return out, nil
}
