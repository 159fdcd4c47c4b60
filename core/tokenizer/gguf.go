package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
)

// ErrNoVocabulary is returned by FromGGUF for a GGUF file that carries no
// tokenizer (tokenizer.ggml.model "none", or no tokenizer keys at all):
// such models run on token ids only.
var ErrNoVocabulary = errors.New("the GGUF file has no tokenizer")

// GGUF token types (llama.cpp's llama_token_type).
const (
	ggufTokenNormal      = 1
	ggufTokenUnknown     = 2
	ggufTokenControl     = 3
	ggufTokenUserDefined = 4
	ggufTokenUnused      = 5
	ggufTokenByte        = 6
)

// qwenPipeline is the normalizer, pre-tokenizer and decoder of Qwen's
// tokenizer.json: what GGUF's tokenizer.ggml.model "gpt2" with
// tokenizer.ggml.pre "qwen2" stands for.
var qwenPipeline = map[string]any{
	"normalizer": map[string]any{"type": "NFC"},
	"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
		map[string]any{"type": "Split", "pattern": map[string]any{"Regex": qwenSplitPattern}, "behavior": "Isolated", "invert": false},
		map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
	}},
	"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
}

// FromGGUF builds the tokenizer a GGUF file describes in its tokenizer.*
// metadata, for a model published as a lone .gguf without tokenizer.json.
// It rebuilds the tokenizer.json and tokenizer_config.json that llama.cpp's
// converter read and loads them with LoadFiles, so the same checks apply:
//
//   - tokenizer.ggml.model must be "gpt2" (byte-level BPE) and
//     tokenizer.ggml.pre "qwen2" (Qwen's pre-tokenizer regex; NFC, as
//     Qwen's tokenizer.json normalises, which llama.cpp itself skips);
//   - tokenizer.ggml.tokens are the vocabulary by id; token_type 1 (normal)
//     go to model.vocab, 3 (control) and 4 (user-defined) become added
//     tokens, special for 3, and 5 (unused: the [PAD...] padding up to the
//     embedding's row count) are left out;
//   - tokenizer.ggml.merges ("a b") are the merges in rank order;
//   - the eos and padding ids name tokenizer_config.json's eos_token and
//     pad_token; bos_token stays unset, as in Qwen's tokenizer_config.json
//     (add_bos_token or add_eos_token true is refused: this package never
//     adds either token);
//   - tokenizer.chat_template is the chat template, run in the sandbox.
//
// A file without a tokenizer gives ErrNoVocabulary.
func FromGGUF(md *gguf.Metadata) (*Tokenizer, error) {
	model, err := md.String("tokenizer.ggml.model")
	if errors.Is(err, gguf.ErrNotFound) || model == "none" {
		return nil, ErrNoVocabulary
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if model != "gpt2" {
		return nil, fmt.Errorf("%w: GGUF tokenizer.ggml.model %q (only \"gpt2\", byte-level BPE)", ErrUnsupported, model)
	}
	pre, err := md.String("tokenizer.ggml.pre")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if pre != "qwen2" {
		return nil, fmt.Errorf("%w: GGUF tokenizer.ggml.pre %q (only Qwen's \"qwen2\" pre-tokenizer is implemented)", ErrUnsupported, pre)
	}
	for _, k := range []string{"add_bos_token", "add_eos_token"} {
		if add, err := md.Bool("tokenizer.ggml." + k); err == nil && add {
			return nil, fmt.Errorf("%w: GGUF tokenizer.ggml.%s true (this tokenizer never adds BOS or EOS tokens)", ErrUnsupported, k)
		}
	}
	tokens, err := md.Strings("tokenizer.ggml.tokens")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	types := make([]int64, len(tokens))
	for i := range types {
		types[i] = ggufTokenNormal
	}
	if md.Has("tokenizer.ggml.token_type") {
		if types, err = md.Ints("tokenizer.ggml.token_type"); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if len(types) != len(tokens) {
			return nil, fmt.Errorf("%w: GGUF has %d tokens but %d token types", ErrMalformed, len(tokens), len(types))
		}
	}
	merges, err := md.Strings("tokenizer.ggml.merges")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	tj, err := ggufTokenizerJSON(tokens, types, merges)
	if err != nil {
		return nil, err
	}
	cj, err := ggufConfigJSON(md, tokens)
	if err != nil {
		return nil, err
	}
	return LoadFiles(tj, cj)
}

// LoadGGUF reads the tokenizer of the GGUF file at path (see FromGGUF).
func LoadGGUF(path string) (*Tokenizer, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	defer f.Close()
	return FromGGUF(f.Metadata())
}

// ggufTokenizerJSON writes the tokenizer.json of a GGUF vocabulary.
func ggufTokenizerJSON(tokens []string, types []int64, merges []string) ([]byte, error) {
	buf := make([]byte, 0, 16*len(tokens)+16*len(merges)+4096)
	buf = append(buf, `{"model":{"type":"BPE","vocab":{`...)
	var added []addedTokenJSON
	first := true
	for id, tok := range tokens {
		if !utf8.ValidString(tok) {
			return nil, fmt.Errorf("%w: GGUF token %d %q is not UTF-8", ErrMalformed, id, tok)
		}
		switch types[id] {
		case ggufTokenNormal, ggufTokenUnknown, ggufTokenByte:
			if !first {
				buf = append(buf, ',')
			}
			first = false
			buf = appendJSONString(buf, tok)
			buf = append(buf, ':')
			buf = fmt.Appendf(buf, "%d", id)
		case ggufTokenControl, ggufTokenUserDefined:
			id32 := int32(id)
			added = append(added, addedTokenJSON{ID: &id32, Content: tok, Special: types[id] == ggufTokenControl})
		case ggufTokenUnused:
		default:
			return nil, fmt.Errorf("%w: GGUF token %d (%q) has token type %d", ErrMalformed, id, tok, types[id])
		}
	}
	buf = append(buf, `},"merges":[`...)
	for i, m := range merges {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, m)
	}
	buf = append(buf, `]},"added_tokens":`...)
	a, err := json.Marshal(added)
	if err != nil {
		return nil, err
	}
	buf = append(buf, a...)
	for _, k := range []string{"normalizer", "pre_tokenizer", "decoder"} {
		v, err := json.Marshal(qwenPipeline[k])
		if err != nil {
			return nil, err
		}
		buf = append(buf, `,"`+k+`":`...)
		buf = append(buf, v...)
	}
	return append(buf, '}'), nil
}

// ggufConfigJSON writes the tokenizer_config.json of a GGUF tokenizer: the
// chat template and the special tokens by content.
func ggufConfigJSON(md *gguf.Metadata, tokens []string) ([]byte, error) {
	c := map[string]any{}
	if md.Has("tokenizer.chat_template") {
		tmpl, err := md.String("tokenizer.chat_template")
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		c["chat_template"] = tmpl
	}
	for _, k := range []struct{ key, field string }{
		{"tokenizer.ggml.eos_token_id", "eos_token"},
		{"tokenizer.ggml.padding_token_id", "pad_token"},
	} {
		if !md.Has(k.key) {
			continue
		}
		id, err := md.Uint(k.key)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if id >= uint64(len(tokens)) {
			return nil, fmt.Errorf("%w: GGUF %s %d is outside the %d tokens", ErrMalformed, k.key, id, len(tokens))
		}
		c[k.field] = tokens[id]
	}
	return json.Marshal(c)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(buf, b...)
}

// GGUFVocab is a tokenizer as GGUF metadata stores it (the tokenizer.ggml.*
// arrays), what llama.cpp's convert_hf_to_gguf.py writes for a byte-level
// BPE tokenizer.
type GGUFVocab struct {
	Tokens []string // by id, padded with "[PAD<id>]" to the vocabulary size
	Types  []int32  // by id: 1 normal, 3 control, 4 user-defined, 5 unused
	Merges []string // "left right", by rank
}

// ToGGUF returns the tokenizer's vocabulary, token types and merges for a
// GGUF file whose embedding has vocabSize rows, as convert_hf_to_gguf.py
// lays them out: ids without a token become "[PAD<id>]" (unused); added
// tokens are control when special or when they look special (<|...|>,
// <pad>, ...), user-defined otherwise. FromGGUF reads them back.
func (t *Tokenizer) ToGGUF(vocabSize int) (GGUFVocab, error) {
	if vocabSize < len(t.tokens) {
		return GGUFVocab{}, fmt.Errorf("tokenizer: %d tokens do not fit a vocabulary of %d", len(t.tokens), vocabSize)
	}
	v := GGUFVocab{Tokens: make([]string, vocabSize), Types: make([]int32, vocabSize)}
	for id := range v.Tokens {
		switch {
		case id >= len(t.tokens) || !t.present[id]:
			v.Tokens[id], v.Types[id] = fmt.Sprintf("[PAD%d]", id), ggufTokenUnused
		case t.isAdded[id] && (t.isSpecial[id] || looksSpecial(t.tokens[id])):
			v.Tokens[id], v.Types[id] = t.tokens[id], ggufTokenControl
		case t.isAdded[id]:
			v.Tokens[id], v.Types[id] = t.tokens[id], ggufTokenUserDefined
		default:
			v.Tokens[id], v.Types[id] = t.tokens[id], ggufTokenNormal
		}
	}
	type ranked struct {
		rank        int32
		left, right int32
	}
	ms := make([]ranked, 0, len(t.merges))
	for k, m := range t.merges {
		ms = append(ms, ranked{m.rank, int32(k >> 32), int32(uint32(k))})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].rank < ms[j].rank })
	v.Merges = make([]string, len(ms))
	for i, m := range ms {
		v.Merges[i] = t.tokens[m.left] + " " + t.tokens[m.right]
	}
	return v, nil
}

// looksSpecial is convert_hf_to_gguf.py's does_token_look_special: added
// tokens some models forget to mark special.
func looksSpecial(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>") ||
		strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>") ||
		strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">")
}

// GGUFMetadata returns the tokenizer.* metadata of a GGUF file for this
// tokenizer and an embedding of vocabSize rows, in the order
// convert_hf_to_gguf.py writes it for Qwen: model "gpt2", pre "qwen2", the
// tokens, token types and merges of ToGGUF, the eos and padding ids of
// tokenizer_config.json, bosID (the model config's bos_token_id; -1 for
// none), add_bos_token false, and the chat template.
func (t *Tokenizer) GGUFMetadata(vocabSize int, bosID int) ([]gguf.KV, error) {
	v, err := t.ToGGUF(vocabSize)
	if err != nil {
		return nil, err
	}
	kvs := []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: gguf.StringValue("gpt2")},
		{Key: "tokenizer.ggml.pre", Value: gguf.StringValue("qwen2")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.StringsValue(v.Tokens)},
		{Key: "tokenizer.ggml.token_type", Value: gguf.Int32sValue(v.Types)},
		{Key: "tokenizer.ggml.merges", Value: gguf.StringsValue(v.Merges)},
	}
	for _, id := range []struct {
		key string
		id  int
	}{{"tokenizer.ggml.eos_token_id", int(t.eosID)}, {"tokenizer.ggml.padding_token_id", int(t.padID)}, {"tokenizer.ggml.bos_token_id", bosID}} {
		if id.id >= 0 {
			kvs = append(kvs, gguf.KV{Key: id.key, Value: gguf.Uint32Value(uint32(id.id))})
		}
	}
	kvs = append(kvs, gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: gguf.BoolValue(false)})
	if t.chatTemplate != "" {
		kvs = append(kvs, gguf.KV{Key: "tokenizer.chat_template", Value: gguf.StringValue(t.chatTemplate)})
	}
	return kvs, nil
}
