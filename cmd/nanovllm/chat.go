package main

import (
	"context"
	"errors"
	"io"
)

// TODO(owner of chat): replace this placeholder with the real subcommand.
func runChat(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("chat: not built yet")
}
