package tokenizer

import "fmt"

// CheckJSONDepth reports an error if arrays and objects in data nest more
// than maxDepth deep. It only counts brackets outside strings, in one pass
// and without allocating, so it is safe to run on untrusted input before a
// decoder that recurses per level; it does not otherwise validate data.
// Every entry point that takes a conversation from outside (the CLI's
// --chat file, the browser's requests, a server) checks it with
// MaxJSONDepth, as ApplyChatTemplateJSON does.
func CheckJSONDepth(data []byte, maxDepth int) error {
	depth := 0
	inString, escaped := false, false
	for i, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > maxDepth {
				return fmt.Errorf("%w: arrays and objects nest more than %d deep (at byte %d)", ErrConversation, maxDepth, i)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}
