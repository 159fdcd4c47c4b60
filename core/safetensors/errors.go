package safetensors

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalid is wrapped by every error about a malformed file.
	ErrInvalid = errors.New("invalid safetensors file")
	// ErrTensorNotFound is wrapped when a checkpoint has no tensor of the
	// requested name.
	ErrTensorNotFound = errors.New("tensor not found")
	// ErrNoCheckpoint is returned by OpenDir when a directory has neither
	// model.safetensors nor model.safetensors.index.json.
	ErrNoCheckpoint = errors.New("no safetensors checkpoint")
	// ErrUnsupported is wrapped when a tensor's dtype is valid safetensors
	// but not one the conversion helpers handle.
	ErrUnsupported = errors.New("unsupported dtype")
)

// FormatError describes one problem with a safetensors file. It wraps
// ErrInvalid, so callers can test with errors.Is and, with errors.As, learn
// which tensor was at fault.
type FormatError struct {
	File    string // path of the file, or "" when parsing bytes in memory
	Tensor  string // tensor the problem concerns, or "" for the file as a whole
	Problem string
}

func (e *FormatError) Error() string {
	s := "safetensors: "
	if e.File != "" {
		s += e.File + ": "
	}
	if e.Tensor != "" {
		s += fmt.Sprintf("tensor %q: ", e.Tensor)
	}
	return s + e.Problem
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FormatError) Unwrap() error { return ErrInvalid }

func formatErr(tensor, format string, args ...any) *FormatError {
	return &FormatError{Tensor: tensor, Problem: fmt.Sprintf(format, args...)}
}

// withFile fills in the file name of a FormatError produced without one.
func withFile(err error, file string) error {
	var fe *FormatError
	if errors.As(err, &fe) && fe.File == "" {
		fe.File = file
	}
	return err
}
