package tokenizer

// GPT-2's byte-level BPE never sees raw bytes: each byte is first replaced by
// a printable Unicode character so that vocab entries are readable strings.
// Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls,
// space, DEL, NBSP, soft hyphen) are shifted to U+0100 and up, which is why a
// space shows up as "Ġ" (U+0120) and a newline as "Ċ" (U+010A).

// byteLevelRunes is the size of the alphabet's code point range: the
// shifted bytes end at U+0143.
const byteLevelRunes = 256 + 68

// byteToRune and runeToByte are the two directions of that mapping
// (runeToByte holds -1 for code points outside the alphabet). They are
// computed once and never written afterwards.
var byteToRune, runeToByte = buildByteLevelTables()

func buildByteLevelTables() (b2r [256]rune, r2b [byteLevelRunes]int16) {
	for i := range r2b {
		r2b[i] = -1
	}
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			b2r[b] = rune(b)
		} else {
			b2r[b] = next
			next++
		}
		r2b[b2r[b]] = int16(b)
	}
	return b2r, r2b
}

// appendByteLevelDecoded appends the bytes a vocab string stands for. A
// string with a character outside the alphabet is not byte-level encoded
// (an added token written by hand), so, like the Rust decoder, its own
// UTF-8 bytes are appended instead.
func appendByteLevelDecoded(dst []byte, tok string) []byte {
	start := len(dst)
	for _, r := range tok {
		if r < 0 || r >= byteLevelRunes || runeToByte[r] < 0 {
			return append(dst[:start], tok...)
		}
		dst = append(dst, byte(runeToByte[r]))
	}
	return dst
}
