package main

import (
	"context"
	"errors"
	"io"
)

// TODO(owner of detokenize): replace this placeholder with the real subcommand.
func runDetokenize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("detokenize: not built yet")
}
