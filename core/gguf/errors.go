package gguf

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid is wrapped by every error about a malformed file.
	ErrInvalid = errors.New("invalid GGUF file")
	// ErrUnsupported is wrapped when a tensor is valid GGUF but of a ggml
	// type this package does not hand out (Q5_K, IQ2_XS, ...), and for
	// GGUF versions other than 2 and 3.
	ErrUnsupported = errors.New("unsupported")
	// ErrNotFound is wrapped when a metadata key or tensor is missing.
	ErrNotFound = errors.New("not found")
	// ErrWrongType is wrapped when a metadata value exists but is not of
	// the type asked for.
	ErrWrongType = errors.New("wrong metadata type")
	// ErrShortPrefix is wrapped by ParsePrefix when the header runs past
	// the bytes it was given: read more of the file and call it again.
	ErrShortPrefix = errors.New("the header continues past the bytes read so far")
)

// FormatError describes one problem with a GGUF file. It wraps ErrInvalid.
type FormatError struct {
	File    string // path of the file, or "" when parsing bytes in memory
	Offset  int64  // byte offset where the problem was found, or -1
	Problem string
}

func (e *FormatError) Error() string {
	s := "gguf: "
	if e.File != "" {
		s += e.File + ": "
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf("at byte %d: ", e.Offset)
	}
	return s + e.Problem
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FormatError) Unwrap() error { return ErrInvalid }

func formatErr(off int64, format string, args ...any) *FormatError {
	return &FormatError{Offset: off, Problem: fmt.Sprintf(format, args...)}
}

// withFile fills in the file name of a FormatError produced without one.
func withFile(err error, file string) error {
	var fe *FormatError
	if errors.As(err, &fe) && fe.File == "" {
		fe.File = file
	}
	return err
}
