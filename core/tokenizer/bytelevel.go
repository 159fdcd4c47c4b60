package tokenizer

// GPT-2's byte-level BPE never sees raw bytes: each byte is first replaced by
// a printable Unicode character so that vocab entries are readable strings.
// Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls,
// space, DEL, NBSP, soft hyphen) are shifted to U+0100 and up, which is why a
// space shows up as "Ġ" (U+0120) and a newline as "Ċ" (U+010A).

// byteToRune and runeToByte are the two directions of that mapping. They are
// computed once and never written afterwards.
var byteToRune, runeToByte = buildByteLevelTables()

func buildByteLevelTables() (b2r [256]rune, r2b map[rune]byte) {
	r2b = make(map[rune]byte, 256)
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if printable {
			b2r[b] = rune(b)
		} else {
			b2r[b] = next
			next++
		}
		r2b[b2r[b]] = byte(b)
	}
	return b2r, r2b
}

// byteLevelDecode turns a vocab string back into the bytes it stands for. A
// string with a character outside the alphabet is not byte-level encoded
// (an added token written by hand), so, like the Rust decoder, it is
// returned as its own UTF-8 bytes.
func byteLevelDecode(tok string) ([]byte, bool) {
	out := make([]byte, 0, len(tok))
	for _, r := range tok {
		b, ok := runeToByte[r]
		if !ok {
			return []byte(tok), false
		}
		out = append(out, b)
	}
	return out, true
}
