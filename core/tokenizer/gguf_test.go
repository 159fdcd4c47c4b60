package tokenizer

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nano-vllm-go/nano-vllm-go/core/gguf"
)

var ggufVocab = filepath.Join("..", "..", "testdata", "gguf", "qwen3-tiny-vocab", "qwen3-tiny-vocab-q8_0.gguf")

var loadGGUFOnce = sync.OnceValues(func() (*Tokenizer, error) { return LoadGGUF(ggufVocab) })

// TestGGUFEncodeMatchesReference: the tokenizer rebuilt from the GGUF
// metadata of qwen3-tiny-vocab (the real Qwen3 vocabulary, written as
// llama.cpp's converter writes it) encodes every case of cases.json to the
// Hugging Face ids, the NFC cases included (llama.cpp itself misses those
// 12: it does not normalise).
func TestGGUFEncodeMatchesReference(t *testing.T) {
	tok, err := loadGGUFOnce()
	require.NoError(t, err)
	cases := readJSON[[]encodeCase](t, "cases.json")
	require.Len(t, cases, 182)
	for _, c := range cases {
		if c.IDs == nil {
			c.IDs = []int32{}
		}
		require.Equal(t, c.IDs, tok.Encode(c.Text), c.Name)
		require.Equal(t, c.Decoded, tok.Decode(c.IDs, false), c.Name)
	}
	require.Equal(t, int32(151645), tok.EOSTokenID())
	require.Equal(t, int32(-1), tok.BOSTokenID())
}

// TestGGUFChatTemplate: the GGUF's chat template renders every
// conversation of chat_cases.json as tokenizer_config.json's does.
func TestGGUFChatTemplate(t *testing.T) {
	tok, err := loadGGUFOnce()
	require.NoError(t, err)
	require.Equal(t, qwen3(t).ChatTemplate(), tok.ChatTemplate())
	for _, c := range readJSON[[]chatCase](t, "chat_cases.json") {
		got, err := tok.ApplyChatTemplateJSON(c.Messages, c.options())
		require.NoError(t, err, c.Name)
		require.Equal(t, c.Prompt, got, c.Name)
		require.Equal(t, c.IDs, tok.Encode(got), c.Name)
	}
}

// TestGGUFSpecialTokens: token types 3 and 4 become added tokens (special
// for 3), the [PAD...] padding is left out.
func TestGGUFSpecialTokens(t *testing.T) {
	tok, err := loadGGUFOnce()
	require.NoError(t, err)
	hf := qwen3(t)
	require.Equal(t, hf.AddedTokens(), tok.AddedTokens())
	require.True(t, tok.IsSpecial(151645))
	require.False(t, tok.IsSpecial(151668), "</think> is user-defined (type 4)")
	_, ok := tok.IDToToken(151935)
	require.False(t, ok, "padding token")
	// The one difference from tokenizer.json: llama.cpp's converter marks
	// every <|...|> token control (type 3), so the six FIM and repo tokens
	// that Hugging Face does not call special are special here (Decode with
	// skipSpecial drops them). Encoding is unaffected.
	want := hf.SpecialTokens()
	for id := int32(151659); id <= 151664; id++ {
		require.False(t, hf.IsSpecial(id))
		want[id], _ = hf.IDToToken(id)
	}
	require.Equal(t, want, tok.SpecialTokens())
}

func TestGGUFTokenizerErrors(t *testing.T) {
	parse := func(t *testing.T, kvs ...gguf.KV) *gguf.Metadata {
		w := gguf.NewWriter()
		for _, kv := range kvs {
			require.NoError(t, w.Set(kv.Key, kv.Value))
		}
		var buf bytes.Buffer
		_, err := w.WriteTo(&buf)
		require.NoError(t, err)
		f, err := gguf.Parse(buf.Bytes())
		require.NoError(t, err)
		return f.Metadata()
	}
	_, err := FromGGUF(parse(t))
	require.ErrorIs(t, err, ErrNoVocabulary)
	_, err = FromGGUF(parse(t, gguf.KV{Key: "tokenizer.ggml.model", Value: gguf.StringValue("none")}))
	require.ErrorIs(t, err, ErrNoVocabulary)
	_, err = FromGGUF(parse(t, gguf.KV{Key: "tokenizer.ggml.model", Value: gguf.StringValue("llama")}))
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, `"llama"`)
	_, err = FromGGUF(parse(t, gguf.KV{Key: "tokenizer.ggml.model", Value: gguf.StringValue("gpt2")},
		gguf.KV{Key: "tokenizer.ggml.pre", Value: gguf.StringValue("llama-bpe")}))
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, `"llama-bpe"`)
	base := []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: gguf.StringValue("gpt2")},
		{Key: "tokenizer.ggml.pre", Value: gguf.StringValue("qwen2")},
		{Key: "tokenizer.ggml.tokens", Value: gguf.StringsValue([]string{"a", "b"})},
		{Key: "tokenizer.ggml.merges", Value: gguf.StringsValue(nil)},
	}
	_, err = FromGGUF(parse(t, append(base, gguf.KV{Key: "tokenizer.ggml.token_type", Value: gguf.Int32sValue([]int32{1})})...))
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "2 tokens but 1 token types")
	_, err = FromGGUF(parse(t, append(base, gguf.KV{Key: "tokenizer.ggml.eos_token_id", Value: gguf.Uint32Value(7)})...))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = FromGGUF(parse(t, base...))
	require.ErrorIs(t, err, ErrMalformed, "no byte-level tokens, no merges")
	_, err = FromGGUF(parse(t, append(base, gguf.KV{Key: "tokenizer.ggml.add_eos_token", Value: gguf.BoolValue(true)})...))
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, "add_eos_token true")
}

// TestGGUFTokenizerJSONShape checks the synthesised tokenizer.json is
// valid JSON with the vocabulary and added tokens split by type.
func TestGGUFTokenizerJSONShape(t *testing.T) {
	data, err := ggufTokenizerJSON([]string{"a", "<|c|>", "<u>", "[PAD3]", `"q"`}, []int64{1, 3, 4, 5, 1}, []string{"a a"})
	require.NoError(t, err)
	var tj struct {
		Model struct {
			Vocab  map[string]int `json:"vocab"`
			Merges []string       `json:"merges"`
		} `json:"model"`
		AddedTokens []addedTokenJSON `json:"added_tokens"`
	}
	require.NoError(t, json.Unmarshal(data, &tj))
	require.Equal(t, map[string]int{"a": 0, `"q"`: 4}, tj.Model.Vocab)
	require.Equal(t, []string{"a a"}, tj.Model.Merges)
	require.Len(t, tj.AddedTokens, 2)
	require.True(t, tj.AddedTokens[0].Special)
	require.False(t, tj.AddedTokens[1].Special)
}

// TestToGGUF: the vocabulary, token types and merges ToGGUF makes from
// tokenizer.json are exactly the arrays of the fixture GGUF (written by a
// converter checked against llama.cpp's reader).
func TestToGGUF(t *testing.T) {
	f, err := gguf.Open(ggufVocab)
	require.NoError(t, err)
	defer f.Close()
	md := f.Metadata()
	tokens, err := md.Strings("tokenizer.ggml.tokens")
	require.NoError(t, err)
	types, err := md.Ints("tokenizer.ggml.token_type")
	require.NoError(t, err)
	merges, err := md.Strings("tokenizer.ggml.merges")
	require.NoError(t, err)

	v, err := qwen3(t).ToGGUF(len(tokens))
	require.NoError(t, err)
	require.Equal(t, tokens, v.Tokens)
	require.Len(t, v.Types, len(types))
	for i := range types {
		require.Equal(t, types[i], int64(v.Types[i]), "token %d %q", i, tokens[i])
	}
	require.Equal(t, merges, v.Merges)
	_, err = qwen3(t).ToGGUF(1000)
	require.Error(t, err)
}
