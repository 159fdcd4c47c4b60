package openai

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// TestTokenBytes: the bytes reported for a token are the raw bytes it
// stands for: a text's tokens' bytes join to the text's UTF-8, characters
// split across byte tokens included, and every token whose text is whole
// characters has exactly those bytes.
func TestTokenBytes(t *testing.T) {
	tok := loadTokenizer(t)
	texts := newTokenTexts(tok)
	for _, text := range []string{"Hello, world", "  spaces\tand\nnewlines", "春天来了 🙂🙃 naïve café", "<think>\nhm\n</think>\n\n<|im_end|>"} {
		var joined []byte
		for _, id := range tok.Encode(text) {
			joined = append(joined, texts.bytes(id)...)
		}
		require.Equal(t, text, string(joined))
	}
	for id := range int32(tok.VocabSize()) {
		if _, ok := tok.IDToToken(id); !ok {
			continue
		}
		b := texts.bytes(id)
		if text := tok.Decode([]int32{id}, false); utf8.Valid(b) {
			require.Equal(t, text, string(b), "token %d", id)
		} else {
			require.Contains(t, text, "\uFFFD", "token %d is part of a character", id)
		}
	}
	require.Nil(t, newTokenTexts(nil).bytes(5))
	require.Equal(t, "token_id:5", newTokenTexts(nil).text(5))
}

// TestOrderedTop: the legacy top_logprobs object keeps the most likely
// first, and a token text that repeats keeps its first entry.
func TestOrderedTop(t *testing.T) {
	tests := []struct {
		in   orderedTop
		want string
	}{
		{orderedTop{}, `{}`},
		{orderedTop{{Token: "b", Logprob: -0.5}, {Token: "a", Logprob: -1.25}}, `{"b":-0.5,"a":-1.25}`},
		{orderedTop{{Token: "\ufffd", Logprob: -1}, {Token: "\ufffd", Logprob: -2}, {Token: `"q"`, Logprob: -3}}, "{\"\ufffd\":-1,\"\\\"q\\\"\":-3}"},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.in)
		require.NoError(t, err)
		require.Equal(t, tt.want, string(got))
		require.True(t, json.Valid(got))
	}
	require.Equal(t, float32(minLogprob), finiteLogprob(float32(-1e30)))
}
