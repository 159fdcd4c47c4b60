package main

import (
	"context"
	"errors"
	"io"
)

// TODO(owner of generate): replace this placeholder with the real subcommand.
func runGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("generate: not built yet")
}
