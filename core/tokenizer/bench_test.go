package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"
)

// benchText is a mixed-language text of about 2 MB: every fixture case's
// text (English prose, code, CJK, Arabic, emoji, odd white space, special
// tokens...) repeated.
func benchText(b testing.TB) string {
	var sb strings.Builder
	cases := readJSON[[]encodeCase](b, "cases.json")
	for sb.Len() < 2<<20 {
		for _, c := range cases {
			sb.WriteString(c.Text)
			sb.WriteString("\n")
		}
	}
	return sb.String()
}

func BenchmarkEncode(b *testing.B) {
	tok := qwen3(b)
	text := benchText(b)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		tok.Encode(text)
	}
}

// BenchmarkEncodeNoCache is the same without the per-piece BPE cache, to show
// what the cache buys.
func BenchmarkEncodeNoCache(b *testing.B) {
	tok, err := Load(fixtureDir)
	require.NoError(b, err)
	tok.cache = nil
	text := benchText(b)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		tok.Encode(text)
	}
}

// BenchmarkSplit measures the pre-tokenizer scanner alone.
func BenchmarkSplit(b *testing.B) {
	text := norm.NFC.String(benchText(b))
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		n := 0
		splitPieces(text, func(string) { n++ })
		if n == 0 {
			b.Fatal("no pieces")
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	tok := qwen3(b)
	text := benchText(b)
	ids := tok.Encode(text)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		tok.Decode(ids, false)
	}
}

func BenchmarkLoad(b *testing.B) {
	tj, err := os.ReadFile(filepath.Join(fixtureDir, TokenizerFile))
	require.NoError(b, err)
	cj, err := os.ReadFile(filepath.Join(fixtureDir, TokenizerConfigFile))
	require.NoError(b, err)
	b.SetBytes(int64(len(tj)))
	for b.Loop() {
		if _, err := LoadFiles(tj, cj); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzEncode checks on arbitrary input that Encode neither panics nor hangs
// and loses nothing: decoding gives back the NFC form of the (valid UTF-8)
// text, and the pieces the scanner cuts cover the text exactly.
func FuzzEncode(f *testing.F) {
	tok := qwen3(f)
	for _, c := range readJSON[[]encodeCase](f, "cases.json") {
		f.Add(c.Text)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids := tok.Encode(s)
		if !utf8.ValidString(s) {
			s = string(appendLossy(nil, []byte(s)))
		}
		got := tok.Decode(ids, false)
		if !strings.Contains(s, "<") {
			// No added token can occur, so the whole text is normalised.
			require.Equal(t, norm.NFC.String(s), got)
		}
		// Added tokens are matched before normalisation, so NFC applies
		// to the text between them: compare with the pieces.
		var pieces strings.Builder
		tok.pretokenize(s, func(piece string, _ int32) { pieces.WriteString(piece) })
		require.Equal(t, pieces.String(), got)
		var split strings.Builder
		splitPieces(norm.NFC.String(s), func(p string) {
			require.NotEmpty(t, p)
			split.WriteString(p)
		})
		require.Equal(t, norm.NFC.String(s), split.String())
	})
}

// BenchmarkLoadBaselineStdJSON is the baseline for BenchmarkLoad: only
// decoding tokenizer.json's vocab and merges with encoding/json, without
// building anything from them.
func BenchmarkLoadBaselineStdJSON(b *testing.B) {
	tj, err := os.ReadFile(filepath.Join(fixtureDir, TokenizerFile))
	require.NoError(b, err)
	b.SetBytes(int64(len(tj)))
	for b.Loop() {
		var v struct {
			Model struct {
				Vocab  map[string]int32 `json:"vocab"`
				Merges [][2]string      `json:"merges"`
			} `json:"model"`
		}
		require.NoError(b, json.Unmarshal(tj, &v))
	}
}
