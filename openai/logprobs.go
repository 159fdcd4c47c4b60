package openai

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/nano-vllm-go/nano-vllm-go/core/sampler"
	"github.com/nano-vllm-go/nano-vllm-go/core/tokenizer"
)

// minLogprob stands in for -Inf, which JSON cannot carry (vLLM does the
// same).
const minLogprob = -9999.0

// tokenTexts gives each token id the text and bytes logprobs report.
type tokenTexts struct {
	tok   *tokenizer.Tokenizer // nil: no tokenizer, ids only
	added map[int32]string     // added tokens' contents, which are not byte-level encoded
}

func newTokenTexts(tok *tokenizer.Tokenizer) tokenTexts {
	t := tokenTexts{tok: tok}
	if tok != nil {
		t.added = tok.AddedTokens()
	}
	return t
}

// bytes returns the raw bytes token id stands for: part of a UTF-8
// character for some tokens, which is why OpenAI reports them.
func (t tokenTexts) bytes(id int32) []byte {
	if t.tok == nil {
		return nil
	}
	if s, ok := t.added[id]; ok {
		return []byte(s)
	}
	s, ok := t.tok.IDToToken(id)
	if !ok {
		return nil
	}
	return byteLevelDecode(s)
}

// text returns the token's text as the tokenizer decodes it alone (a
// partial character becomes U+FFFD), or "token_id:N" without a tokenizer
// (vLLM's spelling).
func (t tokenTexts) text(id int32) string {
	if t.tok == nil {
		return "token_id:" + strconv.Itoa(int(id))
	}
	return t.tok.Decode([]int32{id}, false)
}

func (t tokenTexts) entry(tl sampler.TokenLogprob) chatTopEntry {
	b := t.bytes(tl.Token)
	return chatTopEntry{Token: t.text(tl.Token), Logprob: finiteLogprob(tl.Logprob), Bytes: intBytes(b)}
}

// chat is the chat format of one token's logprobs with its top alternatives.
func (t tokenTexts) chat(id int32, r sampler.Result, top int) chatTokenLogprob {
	b := t.bytes(id)
	e := chatTokenLogprob{Token: t.text(id), Logprob: finiteLogprob(r.Logprob), Bytes: intBytes(b), TopLogprobs: []chatTopEntry{}}
	for _, a := range r.Top[:min(top, len(r.Top))] {
		e.TopLogprobs = append(e.TopLogprobs, t.entry(a))
	}
	return e
}

// completion appends one token to the legacy completions format; offset is
// where the token's text starts in the choice's text.
func (t tokenTexts) completion(lp *completionLogprobs, id int32, r sampler.Result, top, offset int) {
	lp.Tokens = append(lp.Tokens, t.text(id))
	lp.TokenLogprobs = append(lp.TokenLogprobs, finiteLogprob(r.Logprob))
	alts := make(orderedTop, 0, top)
	for _, a := range r.Top[:min(top, len(r.Top))] {
		alts = append(alts, t.entry(a))
	}
	lp.TopLogprobs = append(lp.TopLogprobs, alts)
	lp.TextOffset = append(lp.TextOffset, offset)
}

func finiteLogprob(v float32) float32 {
	if math.IsNaN(float64(v)) || v < minLogprob {
		return minLogprob
	}
	return v
}

// intBytes is b as the JSON list of integers OpenAI sends (never null).
func intBytes(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

// byteLevelRune maps the printable characters GPT-2's byte-level alphabet
// uses back to the bytes they stand for: bytes that are printable Latin-1
// stand for themselves, and the other 68 are shifted to U+0100 onwards in
// byte order.
var byteLevelRune = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	next := rune(256)
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF {
			m[rune(b)] = byte(b)
		} else {
			m[next] = byte(b)
			next++
		}
	}
	return m
}()

// byteLevelDecode turns a vocabulary entry ("Ġhello") into its bytes.
func byteLevelDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if b, ok := byteLevelRune[r]; ok {
			out = append(out, b)
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return out
}
