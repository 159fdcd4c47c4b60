package main

import (
	"context"
	"errors"
	"io"
)

// TODO(owner of tokenize): replace this placeholder with the real subcommand.
func runTokenize(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("tokenize: not built yet")
}
