package tokenizer

// StreamDecoder turns token ids into text one id at a time, for streaming
// generated text. A token can end in the middle of a UTF-8 character (Qwen
// splits rare characters and emoji into byte tokens), so Push holds back an
// unfinished character until the token that completes it arrives, instead of
// emitting U+FFFD. The deltas of all Push calls and the final Flush join to
// exactly Decode of all the ids.
//
// A StreamDecoder is not safe for concurrent use; use one per sequence.
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool
	pending     []byte // bytes of the current run not yet emitted
}

// NewDecoder returns a StreamDecoder. skipSpecial has Decode's meaning.
func (t *Tokenizer) NewDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{t: t, skipSpecial: skipSpecial}
}

// Push adds one token id and returns the text that became final, often ""
// while a character is incomplete.
func (d *StreamDecoder) Push(id int32) string {
	t := d.t
	if !t.valid(id) {
		return ""
	}
	if t.isAdded[id] {
		if d.skipSpecial && t.isSpecial[id] {
			return ""
		}
		// A kept added token ends the byte run: what is pending is final
		// now, even if unfinished (it becomes U+FFFD, as in Decode).
		out := appendLossy(nil, d.pending)
		d.pending = d.pending[:0]
		return string(append(out, t.tokens[id]...))
	}
	d.pending = append(d.pending, t.bytesOf(id)...)
	// Everything but an unfinished character at the end is final: the
	// lossy decoder never looks further ahead than that character.
	keep := incompleteTail(d.pending)
	ready := len(d.pending) - keep
	if ready == 0 {
		return ""
	}
	out := string(appendLossy(nil, d.pending[:ready]))
	d.pending = append(d.pending[:0], d.pending[ready:]...)
	return out
}

// Flush returns the held-back bytes, an unfinished character becoming
// U+FFFD as in Decode, and resets the decoder for reuse.
func (d *StreamDecoder) Flush() string {
	out := string(appendLossy(nil, d.pending))
	d.pending = d.pending[:0]
	return out
}

// Pending reports whether bytes of an unfinished character are held back.
func (d *StreamDecoder) Pending() bool { return len(d.pending) > 0 }
