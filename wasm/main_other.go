//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// main explains that this package is the browser build. Its platform-free
// parts (request parsing, error codes) compile natively so they can be
// tested with plain `go test ./wasm`.
func main() {
	fmt.Fprintln(os.Stderr, "nanovllm wasm: this is the browser build; run 'make wasm' (GOOS=js GOARCH=wasm) and 'make serve'")
	os.Exit(2)
}
