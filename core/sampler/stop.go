package sampler

import "strings"

// StopMatcher finds stop strings in text that arrives in pieces, one
// detokenized delta per generated token, and decides what of it may be shown.
//
// A stop string can be split across tokens ("<|im" then "_end|>"), so text
// that might be the start of a stop string is held back until the next delta
// settles it: after every delta, the longest suffix of the pending text that
// is a prefix of some stop string stays unreleased. Released text therefore
// never contains any part of a stop string, and the released pieces joined
// together are exactly the output text up to (not including) the first stop
// string to appear, which is what vLLM returns by default. "First to appear"
// means the one whose last byte comes first: the stream must stop as soon as
// a stop string is complete, without waiting to see whether another one that
// started earlier will complete later.
//
// The zero value, and a matcher built from no stop strings, releases every
// delta at once.
type StopMatcher struct {
	stops   []string
	pending string
	stopped bool
	matched string
}

// NewStopMatcher returns a matcher for the given stop strings. Empty strings
// are ignored (Params.Validate rejects them).
func NewStopMatcher(stops []string) *StopMatcher {
	m := &StopMatcher{}
	for _, s := range stops {
		if s != "" {
			m.stops = append(m.stops, s)
		}
	}
	return m
}

// Push adds the next delta of output text. It returns the text that is now
// safe to show, and whether a stop string has been found; when it has, the
// returned text ends just before it, and every later Push returns nothing.
func (m *StopMatcher) Push(delta string) (release string, stopped bool) {
	if m.stopped {
		return "", true
	}
	if len(m.stops) == 0 {
		return delta, false
	}
	text := m.pending + delta
	// The stop string that is complete first (earliest end) wins, the
	// longest on a tie, so the result does not depend on how the text was
	// split into deltas. Any match starts inside text: one that started in
	// released text would have been held back.
	cut, end := -1, 0
	for _, s := range m.stops {
		i := strings.Index(text, s)
		if i < 0 {
			continue
		}
		if e := i + len(s); cut < 0 || e < end || (e == end && i < cut) {
			cut, end = i, e
		}
	}
	if cut >= 0 {
		m.stopped = true
		m.pending = ""
		m.matched = text[cut:end]
		return text[:cut], true
	}
	hold := 0
	for _, s := range m.stops {
		// The longest suffix of text that is a proper prefix of s; a full
		// match was ruled out above.
		for n := min(len(s)-1, len(text)); n > hold; n-- {
			if strings.HasSuffix(text, s[:n]) {
				hold = n
				break
			}
		}
	}
	m.pending = text[len(text)-hold:]
	return text[:len(text)-hold], false
}

// Flush returns the text still held back, for when generation ends for
// another reason (a stop token, the length limit) and that text turned out
// not to begin a stop string after all.
func (m *StopMatcher) Flush() string {
	p := m.pending
	m.pending = ""
	return p
}

// Stopped reports whether a stop string has been found.
func (m *StopMatcher) Stopped() bool { return m.stopped }

// Matched returns the stop string that was found ("" before one is).
func (m *StopMatcher) Matched() string { return m.matched }
