package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// streamAll pushes ids one at a time and checks the invariants a streaming
// client relies on after every push: deltas are valid UTF-8, and what has
// been emitted plus what Flush would add is exactly Decode of the prefix.
func streamAll(t *testing.T, tok *Tokenizer, ids []int32, skipSpecial bool, prefixes []string) string {
	t.Helper()
	d := tok.NewDecoder(skipSpecial)
	var emitted strings.Builder
	for k, id := range ids {
		delta := d.Push(id)
		require.True(t, utf8.ValidString(delta), "delta %q after id %d", delta, k)
		emitted.WriteString(delta)

		// Flushing a copy shows what the prefix decodes to right now.
		cp := *d
		cp.pending = append([]byte(nil), d.pending...)
		prefix := emitted.String() + cp.Flush()
		require.Equal(t, tok.Decode(ids[:k+1], skipSpecial), prefix, "after %d ids", k+1)
		if prefixes != nil {
			require.Equal(t, prefixes[k], prefix, "after %d ids", k+1)
		}
	}
	emitted.WriteString(d.Flush())
	require.False(t, d.Pending())
	return emitted.String()
}

func TestStreamDecoderMatchesDecode(t *testing.T) {
	tok := qwen3(t)
	withPrefix := 0
	for _, c := range readJSON[[]encodeCase](t, "cases.json") {
		if c.PrefixDecoded != nil {
			withPrefix++
		}
		t.Run(c.Name, func(t *testing.T) {
			require.Equal(t, c.Decoded, streamAll(t, tok, c.IDs, false, c.PrefixDecoded))
			require.Equal(t, c.DecodedSkipSpecial, streamAll(t, tok, c.IDs, true, nil))
		})
	}
	require.Equal(t, 74, withPrefix, "README promises 74 cases with prefix_decoded")
	for _, c := range readJSON[[]decodeCase](t, "decode_cases.json") {
		t.Run(c.Name, func(t *testing.T) {
			require.Equal(t, c.Decoded, streamAll(t, tok, c.IDs, false, nil))
			require.Equal(t, c.DecodedSkipSpecial, streamAll(t, tok, c.IDs, true, nil))
		})
	}
}

// TestStreamDecoderHoldsBack checks the point of the stream decoder: no
// U+FFFD for a character whose bytes arrive in separate tokens.
func TestStreamDecoderHoldsBack(t *testing.T) {
	tok := qwen3(t)
	// U+1F600 is F0 9F 98 80: ids 172 253 246 222 are its single bytes.
	d := tok.NewDecoder(false)
	for _, id := range []int32{172, 253, 246} {
		require.Empty(t, d.Push(id))
		require.True(t, d.Pending())
	}
	require.Equal(t, "😀", d.Push(222))
	require.Equal(t, "", d.Flush())

	// An unfinished character cut off by a kept special token is final.
	require.Empty(t, d.Push(160))
	require.Equal(t, "\uFFFD<|im_end|>", d.Push(151645))

	// A skipped special token does not cut it.
	d = tok.NewDecoder(true)
	require.Empty(t, d.Push(160))
	require.Empty(t, d.Push(151643))
	require.Empty(t, d.Push(121))
	require.Equal(t, "你", d.Push(254))
}
