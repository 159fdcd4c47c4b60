package tokenizer

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The vocab and merges of a Qwen tokenizer.json are 300,000 small strings.
// encoding/json spends most of Load's time on them, allocating each one, so
// these two sections are read by the small scanner below instead: it slices
// keys out of one string holding the whole section and only allocates for
// the rare string with escapes. encoding/json has already checked that the
// section is well-formed JSON, so the scanner only has to handle valid input
// and report shapes it does not expect.

// jsonScanner walks one JSON value held in src.
type jsonScanner struct {
	src string
	pos int
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *jsonScanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.src) {
		return 0
	}
	return s.src[s.pos]
}

func (s *jsonScanner) expect(c byte) error {
	if got := s.peek(); got != c {
		return fmt.Errorf("offset %d: want %q, found %q", s.pos, c, got)
	}
	s.pos++
	return nil
}

// str reads a JSON string.
func (s *jsonScanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.pos
	for i := s.pos; i < len(s.src); i++ {
		switch s.src[i] {
		case '"':
			s.pos = i + 1
			return s.src[start:i], nil
		case '\\':
			return s.escapedStr(start)
		}
	}
	return "", fmt.Errorf("offset %d: unterminated string", start)
}

// escapedStr decodes a string with backslash escapes that starts at
// src[start:], just after its opening quote.
func (s *jsonScanner) escapedStr(start int) (string, error) {
	var b []byte
	i := start
	for i < len(s.src) {
		c := s.src[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return string(b), nil
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s.src) {
			break
		}
		e := s.src[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, n, err := s.hex4(i)
			if err != nil {
				return "", err
			}
			i += n
			if utf16.IsSurrogate(r) {
				// A surrogate pair is two \u escapes; a lone half is
				// invalid and becomes U+FFFD, as encoding/json does.
				r2, n2, err := s.hex4(i + 2)
				if err == nil && i+1 < len(s.src) && s.src[i] == '\\' && s.src[i+1] == 'u' {
					if p := utf16.DecodeRune(r, r2); p != utf8.RuneError {
						r = p
						i += 2 + n2
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", fmt.Errorf("offset %d: bad escape \\%c", i-2, e)
		}
	}
	return "", fmt.Errorf("offset %d: unterminated string", start)
}

func (s *jsonScanner) hex4(i int) (rune, int, error) {
	if i+4 > len(s.src) {
		return 0, 0, fmt.Errorf("offset %d: short \\u escape", i)
	}
	v, err := strconv.ParseUint(s.src[i:i+4], 16, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("offset %d: bad \\u escape", i)
	}
	return rune(v), 4, nil
}

// int32 reads a non-negative JSON integer that fits in an int32.
func (s *jsonScanner) int32() (int32, error) {
	s.skipSpace()
	start := s.pos
	var v int64
	for s.pos < len(s.src) && s.src[s.pos] >= '0' && s.src[s.pos] <= '9' {
		v = v*10 + int64(s.src[s.pos]-'0')
		if v > 1<<31-1 {
			return 0, fmt.Errorf("offset %d: id out of range", start)
		}
		s.pos++
	}
	if s.pos == start {
		return 0, fmt.Errorf("offset %d: want a non-negative integer id", start)
	}
	return int32(v), nil
}

// pair reads a JSON array of exactly two strings, a merge rule.
func (s *jsonScanner) pair() (left, right string, err error) {
	if err = s.expect('['); err != nil {
		return
	}
	if left, err = s.str(); err != nil {
		return
	}
	if err = s.expect(','); err != nil {
		return "", "", fmt.Errorf("want a pair of two tokens: %w", err)
	}
	if right, err = s.str(); err != nil {
		return
	}
	if err = s.expect(']'); err != nil {
		return "", "", fmt.Errorf("want a pair of two tokens: %w", err)
	}
	return left, right, nil
}

// list calls item once per element of a JSON array.
func (s *jsonScanner) list(item func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return fmt.Errorf("offset %d: want ',' or ']'", s.pos)
		}
	}
}

// object calls field once per member of a JSON object, after reading its
// key and colon.
func (s *jsonScanner) object(field func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return fmt.Errorf("offset %d: want ',' or '}'", s.pos)
		}
	}
}

// rawValue skips one JSON value of any kind and returns its text, for
// encoding/json to decode (and validate) the small parts of the file.
func (s *jsonScanner) rawValue() (string, error) {
	s.skipSpace()
	start := s.pos
	depth := 0
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch c {
		case '"':
			if _, err := s.str(); err != nil {
				return "", err
			}
			if depth == 0 {
				return s.src[start:s.pos], nil
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				// The end of the enclosing object or list ends a scalar.
				if s.pos == start {
					return "", fmt.Errorf("offset %d: want a value", s.pos)
				}
				return s.src[start:s.pos], nil
			}
			depth--
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				if s.pos == start {
					return "", fmt.Errorf("offset %d: want a value", s.pos)
				}
				return s.src[start:s.pos], nil
			}
		}
		s.pos++
		if depth == 0 && (c == '}' || c == ']') {
			return s.src[start:s.pos], nil
		}
	}
	if depth == 0 && s.pos > start {
		return s.src[start:s.pos], nil
	}
	return "", fmt.Errorf("offset %d: unexpected end of JSON", s.pos)
}
