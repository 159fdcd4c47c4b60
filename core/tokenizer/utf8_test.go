package tokenizer

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// lossyReference decodes b by the Unicode "maximal subpart" rule, written
// the slow, obvious way: at each invalid position, try every length from 3
// down and check whether that many bytes are a prefix of some valid
// encoding of a scalar value.
func lossyReference(b []byte) string {
	var out []rune
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			out = append(out, r)
			b = b[n:]
			continue
		}
		skip := 1
		for l := min(3, len(b)); l >= 1; l-- {
			if isPrefixOfSomeScalar(b[:l]) {
				skip = l
				break
			}
		}
		out = append(out, utf8.RuneError)
		b = b[skip:]
	}
	return string(out)
}

// isPrefixOfSomeScalar reports whether p begins the UTF-8 encoding of some
// scalar value, by brute force over all of them.
var scalarPrefixes = func() map[string]bool {
	m := map[string]bool{}
	buf := make([]byte, 4)
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		n := utf8.EncodeRune(buf, r)
		for l := 1; l < n; l++ {
			m[string(buf[:l])] = true
		}
	}
	return m
}()

func isPrefixOfSomeScalar(p []byte) bool { return scalarPrefixes[string(p)] }

func TestAppendLossy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", ""},
		{"abc", "abc"},
		{"\xe4\xbd", "\uFFFD"},                 // truncated 3-byte: one
		{"\x80\xbf", "\uFFFD\uFFFD"},           // stray continuations: one each
		{"\xe4\xbdA", "\uFFFDA"},               // truncated then ASCII
		{"\xc0\xaf", "\uFFFD\uFFFD"},           // overlong
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xf0\x9f\x98", "\uFFFD"},
		{"\xef\xbf\xbd", "\uFFFD"}, // a real U+FFFD passes through
		{"\xff", "\uFFFD"},
	} {
		require.Equal(t, tc.want, string(appendLossy(nil, []byte(tc.in))), "%q", tc.in)
		require.Equal(t, tc.want, lossyReference([]byte(tc.in)), "reference on %q", tc.in)
	}
}

func FuzzAppendLossy(f *testing.F) {
	for _, s := range []string{"", "a\xe4\xbd", "\xf0\x9f\x98\x80", "\xed\xa0\x80\xc2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := string(appendLossy(nil, b))
		require.Equal(t, lossyReference(b), got)
		// The stream decoder's hold-back rule: cutting at len-tail never
		// changes the decode of the whole.
		tail := incompleteTail(b)
		cut := len(b) - tail
		require.Equal(t, got, string(appendLossy(appendLossy(nil, b[:cut]), b[cut:])))
		if tail > 0 {
			require.True(t, isPrefixOfSomeScalar(b[cut:]), "held back %x", b[cut:])
		}
	})
}

func TestByteLevelAlphabet(t *testing.T) {
	// Every byte maps to a distinct rune and back.
	seen := map[rune]bool{}
	for b := 0; b < 256; b++ {
		r := byteToRune[b]
		require.False(t, seen[r])
		seen[r] = true
		require.Equal(t, []byte{byte(b)}, appendByteLevelDecoded(nil, string(r)))
	}
	require.Equal(t, 'Ġ', byteToRune[' '])
	require.Equal(t, 'Ċ', byteToRune['\n'])
	require.Equal(t, 'ĉ', byteToRune['\t'])
	require.Equal(t, " hi\n", string(appendByteLevelDecoded(nil, "ĠhiĊ")))
	// Not in the alphabet: the string's own bytes, not a partial decode.
	require.Equal(t, "xĠ你", string(appendByteLevelDecoded([]byte("x"), "Ġ你")))
}
