//go:build js && wasm

// Command wasm is nano-vllm-go's browser build: the Go engine compiled to
// WebAssembly, driven from JavaScript by web/nanovllm.js. Build it with
// `make wasm`; see docs/browser.md.
//
// The JavaScript side starts this program with argv[1] naming a global
// function; main hands that function the API object and then waits until
// JavaScript calls exit. The API is deliberately coarse (one call to load a
// model, one call per request, one callback per engine step) because every
// crossing between Go and JavaScript costs microseconds and allocates.
package main

import (
	"fmt"
	"os"
	"sync"
	"syscall/js"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "nanovllm: start this program through web/nanovllm.js")
		os.Exit(2)
	}
	ready := js.Global().Get(os.Args[1])
	if ready.Type() != js.TypeFunction {
		fmt.Fprintf(os.Stderr, "nanovllm: globalThis.%s is not a function\n", os.Args[1])
		os.Exit(2)
	}
	done := make(chan struct{})
	var once sync.Once
	api := js.Global().Get("Object").New()
	api.Set("newLoader", method(func(args []js.Value) (any, error) {
		opts, err := argString(args, 0, "options")
		if err != nil {
			return nil, err
		}
		if len(args) < 2 || args[1].Type() != js.TypeObject {
			return nil, fmt.Errorf("%w: argument 1 (files) must be an object of Uint8Arrays", errBadRequest)
		}
		files := args[1]
		return promise(func() (any, error) { return newLoader(opts, files) }), nil
	}))
	api.Set("newGGUFLoader", method(func(args []js.Value) (any, error) {
		opts, err := argString(args, 0, "options")
		if err != nil {
			return nil, err
		}
		if len(args) < 2 || args[1].Type() != js.TypeObject {
			return nil, fmt.Errorf("%w: argument 1 (files) must be an object of Uint8Arrays", errBadRequest)
		}
		files := args[1]
		return promise(func() (any, error) { return newGGUFLoader(opts, files) }), nil
	}))
	api.Set("exit", method(func([]js.Value) (any, error) {
		// Exit a moment later, not now: an engine loop may be in a short
		// time.Sleep, whose JavaScript timer would otherwise fire into an
		// exited program and throw.
		go func() {
			time.Sleep(20 * time.Millisecond)
			once.Do(func() { close(done) })
		}()
		return nil, nil
	}))
	ready.Invoke(api)
	<-done
}
