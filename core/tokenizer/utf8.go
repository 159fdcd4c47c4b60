package tokenizer

import "unicode/utf8"

// appendLossy appends b to dst as UTF-8 text, replacing each maximal
// invalid subsequence with one U+FFFD: the WHATWG "replacement" policy that
// Rust's String::from_utf8_lossy and the reference tokenizers follow. Go's
// shortcuts differ: strings.ToValidUTF8 collapses a run of bad bytes into a
// single U+FFFD, and ranging over a string gives one U+FFFD per bad byte,
// whereas a truncated "E4 BD" must give one and a stray "80 BF" two.
func appendLossy(dst []byte, b []byte) []byte {
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			dst = append(dst, b[0])
			b = b[1:]
			continue
		}
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			dst = append(dst, b[:size]...)
			b = b[size:]
			continue
		}
		// Invalid: skip the longest prefix that could still have begun a
		// valid sequence (at least one byte), and replace it.
		n := validPrefixLen(b)
		if n == 0 {
			n = 1
		}
		dst = append(dst, "\uFFFD"...)
		b = b[n:]
	}
	return dst
}

// validPrefixLen reports how many leading bytes of b form the start of a
// well-formed UTF-8 sequence that is not complete: 0 if b[0] cannot start
// one, and never the full length of a complete sequence. The second-byte
// ranges are those of the Unicode Standard's table 3-7, which exclude
// overlong forms, surrogates and code points above U+10FFFF.
func validPrefixLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 2
	case c == 0xE0:
		need, lo = 3, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 3
	case c == 0xED:
		need, hi = 3, 0x9F
	case c == 0xF0:
		need, lo = 4, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 4
	case c == 0xF4:
		need, hi = 4, 0x8F
	default:
		return 0
	}
	n := 1
	for n < need && n < len(b) {
		x := b[n]
		if n == 1 && (x < lo || x > hi) || n > 1 && (x < 0x80 || x > 0xBF) {
			break
		}
		n++
	}
	if n == need {
		return 0 // complete: not an unfinished prefix
	}
	return n
}

// incompleteTail reports how many bytes at the end of b are the unfinished
// start of a valid UTF-8 sequence: bytes a streaming decoder must hold back
// because the next token may complete them.
func incompleteTail(b []byte) int {
	// A sequence is at most 4 bytes, so its start is among the last 3.
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if b[i] < 0x80 {
			return 0
		}
		if b[i] >= 0xC0 {
			if n := validPrefixLen(b[i:]); n == len(b)-i {
				return n
			}
			return 0
		}
	}
	return 0
}
