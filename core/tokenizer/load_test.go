package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoadQwen3(t *testing.T) {
	tok := qwen3(t)
	require.Equal(t, 151669, tok.VocabSize())
	require.Equal(t, int32(151645), tok.EOSTokenID())
	require.Equal(t, int32(151643), tok.PadTokenID())
	require.Equal(t, int32(-1), tok.BOSTokenID())
	require.True(t, tok.HasChatTemplate())

	special := tok.SpecialTokens()
	require.Len(t, special, 14)
	require.Equal(t, "<|im_end|>", special[151645])
	require.NotContains(t, special, int32(151667)) // <think> is not special
	require.Len(t, tok.AddedTokens(), 26)
	require.True(t, tok.IsSpecial(151644))
	require.False(t, tok.IsSpecial(151668))
	require.False(t, tok.IsSpecial(151700))

	id, ok := tok.TokenToID("Ġworld")
	require.True(t, ok)
	require.Equal(t, int32(1879), id)
	id, ok = tok.TokenToID("<think>")
	require.True(t, ok)
	require.Equal(t, int32(151667), id)
	_, ok = tok.IDToToken(151669)
	require.False(t, ok)
	_, ok = tok.IDToToken(-1)
	require.False(t, ok)
}

// edit returns tokenizer.json with one change applied to its decoded form.
func edit(t *testing.T, change func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(mustRead(t, TokenizerFile), &m))
	change(m)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// miniJSON builds a small tokenizer.json with Qwen's pipeline: the 256
// byte tokens, the given merges (in rank order) and one added token, after
// change is applied. It keeps the error tests fast and lets BPE be checked
// against merges chosen by hand.
func miniJSON(t testing.TB, merges [][2]string, change func(m map[string]any)) []byte {
	t.Helper()
	var full map[string]any
	require.NoError(t, json.Unmarshal(miniPipeline(t), &full))
	vocab := map[string]any{}
	for b := 0; b < 256; b++ {
		vocab[string(byteToRune[b])] = len(vocab)
	}
	ms := []any{}
	for _, mg := range merges {
		if _, ok := vocab[mg[0]+mg[1]]; !ok {
			vocab[mg[0]+mg[1]] = len(vocab)
		}
		ms = append(ms, []any{mg[0], mg[1]})
	}
	full["model"] = map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
		"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": ms}
	full["added_tokens"] = []any{map[string]any{"id": 1000, "content": "<|end|>", "single_word": false, "lstrip": false,
		"rstrip": false, "normalized": false, "special": true}}
	if change != nil {
		change(full)
	}
	out, err := json.Marshal(full)
	require.NoError(t, err)
	return out
}

// miniPipeline is tokenizer.json without its vocab and merges.
func miniPipeline(t testing.TB) []byte {
	t.Helper()
	out, err := pipelineOnce()
	require.NoError(t, err)
	return out
}

var pipelineOnce = sync.OnceValues(func() ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(fixtureDir, TokenizerFile))
	if err != nil {
		return nil, err
	}
	var tj struct {
		Normalizer   json.RawMessage `json:"normalizer"`
		PreTokenizer json.RawMessage `json:"pre_tokenizer"`
		Decoder      json.RawMessage `json:"decoder"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, err
	}
	return json.Marshal(tj)
})

// TestBPEMergeOrder checks BPE against merges chosen by hand: the pair of
// lowest rank merges first, leftmost on a tie, even where that means a
// word in the vocab is not produced whole.
func TestBPEMergeOrder(t *testing.T) {
	merges := [][2]string{
		{"b", "c"},   // rank 0
		{"a", "b"},   // rank 1: "ab" is in the vocab, but "abc" gives a+bc
		{"a", "a"},   // rank 2
		{"aa", "aa"}, // rank 3
		{"x", "y"},   // rank 4
		{"xy", "z"},  // rank 5
	}
	tok, err := LoadFiles(miniJSON(t, merges, nil), nil)
	require.NoError(t, err)
	ids := func(toks ...string) []int32 {
		out := []int32{}
		for _, s := range toks {
			id, ok := tok.TokenToID(s)
			require.True(t, ok, s)
			out = append(out, id)
		}
		return out
	}
	for _, tc := range []struct {
		text string
		want []int32
	}{
		{"abc", ids("a", "bc")},
		{"ab", ids("ab")},
		{"aaaaa", ids("aaaa", "a")}, // (a,a) leftmost twice, then (aa,aa)
		{"xyz", ids("xyz")},
		{"abc<|end|>xyz", append(append(ids("a", "bc"), 1000), ids("xyz")...)},
		{"a b", ids("a", "Ġ", "b")}, // no merge for (Ġ, b): bytes stay
	} {
		require.Equal(t, tc.want, tok.Encode(tc.text), tc.text)
		require.Equal(t, tc.text, tok.Decode(tc.want, false))
	}
	require.Equal(t, "abcxyz", tok.Decode(tok.Encode("abc<|end|>xyz"), true))

	// With ignore_merges, a piece that is a vocab entry is taken whole,
	// even where the merges would not produce it.
	merges = append(merges, [2]string{"ab", "c"}) // makes "abc" a token
	plain, err := LoadFiles(miniJSON(t, merges, nil), nil)
	require.NoError(t, err)
	ignoring, err := LoadFiles(miniJSON(t, merges, func(m map[string]any) { model(m)["ignore_merges"] = true }), nil)
	require.NoError(t, err)
	abc, ok := plain.TokenToID("abc")
	require.True(t, ok)
	require.Equal(t, ids("a", "bc"), plain.Encode("abc"))
	require.Equal(t, []int32{abc}, ignoring.Encode("abc"))
	require.Equal(t, ids("aaaa", "a"), ignoring.Encode("aaaaa"))
}

func model(m map[string]any) map[string]any { return m["model"].(map[string]any) }

func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(m map[string]any)
		is     error
		want   string
	}{
		{"other pattern", func(m map[string]any) {
			m["pre_tokenizer"].(map[string]any)["pretokenizers"].([]any)[0].(map[string]any)["pattern"] = map[string]any{"Regex": `\s+`}
		}, ErrUnsupported, "split pattern"},
		{"wordpiece", func(m map[string]any) { model(m)["type"] = "WordPiece" }, ErrUnsupported, "model type"},
		{"byte fallback", func(m map[string]any) { model(m)["byte_fallback"] = true }, ErrUnsupported, "byte_fallback"},
		{"nfkc", func(m map[string]any) { m["normalizer"] = map[string]any{"type": "NFKC"} }, ErrUnsupported, "normalizer"},
		{"decoder", func(m map[string]any) { m["decoder"] = map[string]any{"type": "WordPiece"} }, ErrUnsupported, "decoder"},
		{"lstrip", func(m map[string]any) { m["added_tokens"].([]any)[0].(map[string]any)["lstrip"] = true }, ErrUnsupported, "lstrip"},
		{"no vocab", func(m map[string]any) { delete(model(m), "vocab") }, ErrMalformed, "no model.vocab"},
		{"no merges", func(m map[string]any) { delete(model(m), "merges") }, ErrMalformed, "no model.merges"},
		{"merge of unknown token", func(m map[string]any) {
			model(m)["merges"] = append(model(m)["merges"].([]any), []any{"nosuch", "token"})
		}, ErrMalformed, `("nosuch", "token"): token not in vocab`},
		{"merge with 3 parts", func(m map[string]any) {
			model(m)["merges"].([]any)[0] = []any{"a", "b", "c"}
		}, ErrMalformed, "merge 0: want a pair of two tokens"},
		{"missing byte token", func(m map[string]any) { delete(model(m)["vocab"].(map[string]any), "Ġ") }, ErrMalformed, "byte-level token"},
		{"duplicate id", func(m map[string]any) { model(m)["vocab"].(map[string]any)["zzzz-new"] = 5 }, ErrMalformed, "id 5 used by"},
		{"negative id", func(m map[string]any) { model(m)["vocab"].(map[string]any)["zzzz-new"] = -5 }, ErrMalformed, "non-negative integer id"},
		{"added id clash", func(m map[string]any) {
			m["added_tokens"].([]any)[0].(map[string]any)["id"] = 5
		}, ErrMalformed, "reuses id 5"},
		{"added without id", func(m map[string]any) {
			delete(m["added_tokens"].([]any)[0].(map[string]any), "id")
		}, ErrMalformed, "has no valid id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFiles(miniJSON(t, [][2]string{{"a", "b"}}, tc.change), nil)
			require.ErrorIs(t, err, tc.is)
			require.ErrorContains(t, err, tc.want)
		})
	}

	_, err := LoadFiles([]byte(`{"model": `), nil)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = LoadFiles(mustRead(t, TokenizerFile), []byte(`{"eos_token": "<|nope|>"}`))
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, `eos_token "<|nope|>" is not in the vocabulary`)
	_, err = Load("testdata/no-such-dir")
	require.ErrorContains(t, err, "no-such-dir")
}

// TestLoadOldMergesFormat checks the older "left right" merges encoding
// gives the same tokenizer as the [left, right] pairs.
func TestLoadOldMergesFormat(t *testing.T) {
	old := edit(t, func(m map[string]any) {
		pairs := model(m)["merges"].([]any)
		for i, p := range pairs {
			pp := p.([]any)
			pairs[i] = pp[0].(string) + " " + pp[1].(string)
		}
	})
	require.True(t, bytes.Contains(old, []byte(`"merges":["Ġ Ġ",`)))
	tok, err := LoadFiles(old, mustRead(t, TokenizerConfigFile))
	require.NoError(t, err)
	ref := qwen3(t)
	for _, c := range readJSON[[]encodeCase](t, "cases.json") {
		require.Equal(t, ref.Encode(c.Text), tok.Encode(c.Text), c.Name)
	}
}

func TestJSONScannerEscapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"plain"`, "plain"},
		{`"a\"b\\c\/d\n\t\r\b\f"`, "a\"b\\c/d\n\t\r\b\f"},
		{`"\u00e9\u4f60"`, "é你"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\ud83d x"`, "\uFFFD x"},
	} {
		s := &jsonScanner{src: tc.in}
		got, err := s.str()
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
		var std string
		require.NoError(t, json.Unmarshal([]byte(tc.in), &std))
		require.Equal(t, std, got, "encoding/json agrees on %s", tc.in)
	}
	for _, bad := range []string{`"abc`, `"\q"`, `"\u12"`, `x`} {
		_, err := (&jsonScanner{src: bad}).str()
		require.Error(t, err, bad)
	}
}

func TestJSONScannerRawValue(t *testing.T) {
	s := &jsonScanner{src: `{"a": [1, {"b": "]}"}], "c": true, "d": -1.5e3, "e": null}`}
	var got []string
	require.NoError(t, s.object(func(key string) error {
		raw, err := s.rawValue()
		got = append(got, key+"="+raw)
		return err
	}))
	require.Equal(t, []string{`a=[1, {"b": "]}"}]`, `c=true`, `d=-1.5e3`, `e=null`}, got)

	for _, bad := range []string{`{"a": }`, `{"a": [1, 2}`, `{"a": "x`} {
		_, err := LoadFiles([]byte(bad), nil)
		require.ErrorIs(t, err, ErrMalformed, bad)
	}
}

// FuzzLoadFiles checks that no tokenizer.json, however broken, panics or
// hangs Load: it either loads or says what is wrong.
func FuzzLoadFiles(f *testing.F) {
	f.Add(`{"model": {"vocab": {"a": 0}, "merges": [["a", "a"]]}}`)
	f.Add(`{"model": {"vocab": {"a": 0}, "merges": ["a a"]}, "added_tokens": [{"id": 1, "content": "x"}]}`)
	f.Add(`{"model": {"vocab": {"a": 0, "b": 0}, "merges": [["a"]]}}`)
	f.Add(string(miniJSON(f, [][2]string{{"a", "b"}, {"ab", "c"}}, nil)))
	f.Fuzz(func(t *testing.T, data string) {
		tok, err := LoadFiles([]byte(data), nil)
		if err == nil {
			tok.Decode(tok.Encode("a<x>b"), true)
		}
	})
}

// FuzzBPESmallMatchesHeap checks the two BPE implementations against each
// other on the real vocabulary: the short-piece scan and the heap must
// merge in the same order. Seeds are every piece of the fixture cases.
func FuzzBPESmallMatchesHeap(f *testing.F) {
	tok := qwen3(f)
	for _, c := range readJSON[[]encodeCase](f, "cases.json") {
		tok.pretokenize(c.Text, func(piece string, id int32) {
			if id < 0 {
				f.Add(piece)
			}
		})
	}
	f.Fuzz(func(t *testing.T, piece string) {
		for len(piece) >= 2 {
			p := piece[:min(len(piece), smallPiece)]
			require.Equal(t, tok.bpeHeap(nil, p, new(bpeScratch)), tok.bpeSmall(nil, p), "%q", p)
			piece = piece[len(p):]
		}
	})
}
