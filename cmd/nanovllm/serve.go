package main

import (
	"context"
	"errors"
	"io"
)

// TODO(owner of serve): replace this placeholder with the real subcommand.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("serve: not built yet")
}
