package main

import (
	"context"
	"errors"
	"io"
)

// TODO(owner of bench): replace this placeholder with the real subcommand.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("bench: not built yet")
}
