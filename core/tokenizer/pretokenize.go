package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// qwenSplitPattern is the pre-tokenizer regex of every Qwen2, Qwen2.5 and
// Qwen3 tokenizer.json. splitPieces implements exactly this pattern; Load
// refuses a file that asks for another.
const qwenSplitPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// splitPieces calls emit with each piece of s, in order, as the Split
// pre-tokenizer with the pattern above (behaviour Isolated) would cut it.
//
// The regex is interpreted the way the Rust tokenizers library (via the
// Oniguruma-compatible fancy-regex semantics) does: at each position the
// alternatives are tried left to right and the first that matches wins, even
// if a later one would match more. Character classes are Unicode: \s is the
// White_Space property, \p{L} and \p{N} are general categories, and (?i)
// folds case by Unicode's simple folding, so 'ſ (long s) matches 's.
//
// Because every character is a letter, a number, white space or something
// else, some alternative always matches and the pieces cover s exactly.
func splitPieces(s string, emit func(piece string)) {
	for i := 0; i < len(s); {
		n := matchAt(s, i)
		emit(s[i : i+n])
		i += n
	}
}

// matchAt returns the length in bytes of the piece starting at s[i:].
func matchAt(s string, i int) int {
	c0, n0 := decodeRune(s, i)

	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if c0 == '\'' {
		if n := contraction(s, i+n0); n > 0 {
			return n0 + n
		}
	}

	// [^\r\n\p{L}\p{N}]?\p{L}+ : the optional character is tried first.
	if !isLetter(c0) && !isNumber(c0) && c0 != '\r' && c0 != '\n' {
		if c1, n1 := decodeRune(s, i+n0); i+n0 < len(s) && isLetter(c1) {
			return n0 + n1 + letterRun(s, i+n0+n1)
		}
	}
	if isLetter(c0) {
		return n0 + letterRun(s, i+n0)
	}

	// \p{N}: one character only.
	if isNumber(c0) {
		return n0
	}

	// ` ?[^\s\p{L}\p{N}]+[\r\n]*` : again the optional space first.
	j := i
	if c0 == ' ' {
		if c1, _ := decodeRune(s, i+1); i+1 < len(s) && isOther(c1) {
			j = i + 1
		}
	}
	if c, _ := decodeRune(s, j); isOther(c) {
		for j < len(s) {
			c, n := decodeRune(s, j)
			if !isOther(c) {
				break
			}
			j += n
		}
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j - i
	}

	// Only white space is left. Find its maximal run [i, end) and the end of
	// the last \r or \n inside it.
	end, lastNL := i, -1
	runes := 0
	prev := i
	for end < len(s) {
		c, n := decodeRune(s, end)
		if !isSpace(c) {
			break
		}
		prev = end
		end += n
		runes++
		if c == '\r' || c == '\n' {
			lastNL = end
		}
	}

	// \s*[\r\n]+ : \s* backtracks to the last newline of the run.
	if lastNL > 0 {
		return lastNL - i
	}
	// \s+(?!\S) : the whole run if it ends the text, else all but its last
	// character, which then starts the next piece (" b" in "a   b").
	if end == len(s) || runes == 1 {
		// \s+ : a single space before a non-space.
		return end - i
	}
	return prev - i
}

// contraction matches the part of (?i:'s|'t|'re|'ve|'m|'ll|'d) after the
// apostrophe at s[j:] and returns its length, or 0.
func contraction(s string, j int) int {
	if j >= len(s) {
		return 0
	}
	c1, n1 := decodeRune(s, j)
	switch {
	case foldsTo(c1, 's'), foldsTo(c1, 't'), foldsTo(c1, 'm'), foldsTo(c1, 'd'):
		return n1
	}
	var want rune
	switch {
	case foldsTo(c1, 'r'), foldsTo(c1, 'v'):
		want = 'e'
	case foldsTo(c1, 'l'):
		want = 'l'
	default:
		return 0
	}
	if j+n1 >= len(s) {
		return 0
	}
	if c2, n2 := decodeRune(s, j+n1); foldsTo(c2, want) {
		return n1 + n2
	}
	return 0
}

// foldsTo reports whether r equals the lower-case ASCII letter want under
// Unicode simple case folding (S, s and ſ are all one letter).
func foldsTo(r, want rune) bool {
	if r == want {
		return true
	}
	if r < utf8.RuneSelf {
		return r|0x20 == want
	}
	for f := unicode.SimpleFold(want); f != want; f = unicode.SimpleFold(f) {
		if f == r {
			return true
		}
	}
	return false
}

// letterRun returns the length of the run of letters starting at s[j:].
func letterRun(s string, j int) int {
	k := j
	for k < len(s) {
		c, n := decodeRune(s, k)
		if !isLetter(c) {
			break
		}
		k += n
	}
	return k - j
}

// decodeRune is utf8.DecodeRuneInString at s[i:] with an ASCII fast path.
// Encode has already made the text valid UTF-8. Past the end it returns
// (utf8.RuneError, 0), which no class below accepts as a letter or number.
func decodeRune(s string, i int) (rune, int) {
	if i >= len(s) {
		return utf8.RuneError, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// asciiClass classifies the ASCII characters once: letter, number, space or
// other, matching the Unicode definitions restricted to ASCII.
var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := 0; c < utf8.RuneSelf; c++ {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			t[c] = classLetter
		case c >= '0' && c <= '9':
			t[c] = classNumber
		case c == ' ', c >= '\t' && c <= '\r':
			t[c] = classSpace
		default:
			t[c] = classOther
		}
	}
	return t
}()

const (
	classOther uint8 = iota
	classLetter
	classNumber
	classSpace
)

// isLetter is \p{L}: Lu, Ll, Lt, Lm and Lo. Combining marks are not letters.
func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0 && asciiClass[r] == classLetter
	}
	return unicode.IsLetter(r)
}

// isNumber is \p{N}: Nd, Nl and No, so Ⅷ and ² count as numbers.
func isNumber(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0 && asciiClass[r] == classNumber
	}
	return unicode.IsNumber(r)
}

// isSpace is \s as the reference regex engine defines it: the Unicode
// White_Space property. That includes \v, U+0085, U+00A0, U+1680,
// U+2000–U+200A, U+2028, U+2029, U+202F, U+205F and U+3000, but not
// U+200B, U+180E or U+FEFF.
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0 && asciiClass[r] == classSpace
	}
	return unicode.Is(unicode.White_Space, r)
}

// isOther is [^\s\p{L}\p{N}].
func isOther(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0 && asciiClass[r] == classOther
	}
	return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.Is(unicode.White_Space, r)
}
