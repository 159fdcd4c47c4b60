package openai

import "strings"

// Qwen3's thinking delimiters, single tokens of its vocabulary that the
// detokenizer keeps in the text (they are not "special").
const (
	thinkStart = "<think>"
	thinkEnd   = "</think>"
)

// thinkState is where a reply's text stream is relative to the thinking
// block.
type thinkState uint8

const (
	// beforeThink: nothing decided yet; a reply that opens with <think>
	// thinks, any other reply is all content.
	beforeThink thinkState = iota
	// inThink: text is reasoning until </think>.
	inThink
	// inContent: text is the answer.
	inContent
)

// thinkSplitter splits one chat reply's streamed text into reasoning (the
// text between <think> and </think>) and content (the rest), with the
// semantics of vLLM's qwen3 reasoning parser: the tags themselves belong to
// neither; a reply that thinks but is cut off before </think> is all
// reasoning; a reply that does not open with <think> is all content; with
// thinking switched off in the prompt, everything is content. Text that
// might be the start of a tag is held back until it is decided, so the
// deltas never split a tag, and joining them gives what splitting the whole
// reply at once would.
type thinkSplitter struct {
	state thinkState
	held  string
	// opened is set once the reply is inside a thinking block.
	opened bool
}

// newThinkSplitter starts a splitter for a reply to prompt, the rendered
// chat prompt. A template that opens the thinking block itself (the prompt
// ends inside <think>) starts in reasoning; one that closes it already
// (Qwen3 with enable_thinking false writes an empty block) starts in
// content.
func newThinkSplitter(prompt string) *thinkSplitter {
	tail := strings.TrimRight(prompt, " \n")
	switch {
	case strings.HasSuffix(tail, thinkStart):
		return &thinkSplitter{state: inThink, opened: true}
	case strings.HasSuffix(tail, thinkEnd):
		return &thinkSplitter{state: inContent}
	}
	return &thinkSplitter{}
}

// push takes the next piece of text and returns what is now known to be
// reasoning and content. thinking reports whether the piece belongs to the
// thinking block (its tags included), to count reasoning tokens.
func (s *thinkSplitter) push(text string) (reasoning, content string, thinking bool) {
	if s.state == inContent {
		return "", text, false
	}
	buf := s.held + text
	s.held = ""
	if s.state == beforeThink {
		switch {
		case strings.HasPrefix(buf, thinkStart):
			s.state, s.opened = inThink, true
			buf = buf[len(thinkStart):]
		case strings.HasPrefix(thinkStart, buf):
			s.held = buf // "" or a prefix of <think>: undecided
			return "", "", false
		default:
			s.state = inContent
			return "", buf, false
		}
	}
	// inThink
	if i := strings.Index(buf, thinkEnd); i >= 0 {
		s.state = inContent
		return buf[:i], buf[i+len(thinkEnd):], true
	}
	keep := partialSuffix(buf, thinkEnd)
	s.held = buf[len(buf)-keep:]
	return buf[:len(buf)-keep], "", true
}

// flush returns the text held back at the end of the reply.
func (s *thinkSplitter) flush() (reasoning, content string) {
	held := s.held
	s.held = ""
	if s.state == inThink {
		return held, ""
	}
	return "", held
}

// thought reports whether the reply had a thinking block (or was given one
// to continue by its prompt).
func (s *thinkSplitter) thought() bool { return s.opened }

// partialSuffix is the length of the longest proper prefix of tag that
// ends s.
func partialSuffix(s, tag string) int {
	for n := min(len(tag)-1, len(s)); n > 0; n-- {
		if strings.HasSuffix(s, tag[:n]) {
			return n
		}
	}
	return 0
}
