//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"
)

// promise runs fn on its own goroutine and returns a JavaScript Promise
// settled with its result. Functions exported to JavaScript must return at
// once: Go code that blocks inside a callback (waiting for a fetch, a GPU
// readback, a channel) would stall the browser's only thread, so anything
// that may wait goes through promise.
func promise(fn func() (any, error)) js.Value {
	executor := js.FuncOf(func(this js.Value, args []js.Value) any {
		resolve, reject := args[0], args[1]
		go func() {
			v, err := func() (v any, err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("internal error: %v", r)
					}
				}()
				return fn()
			}()
			if err != nil {
				reject.Invoke(jsError(err))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	defer executor.Release() // the executor runs synchronously inside New
	return js.Global().Get("Promise").New(executor)
}

// jsError turns a Go error into a JavaScript Error whose code web/nanovllm.js
// understands.
func jsError(err error) js.Value {
	e := js.Global().Get("Error").New(err.Error())
	e.Set("code", errorCode(err))
	return e
}

// bytesFromJS copies a Uint8Array into Go memory.
func bytesFromJS(v js.Value) ([]byte, error) {
	if v.Type() != js.TypeObject || !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, fmt.Errorf("%w: want a Uint8Array, got %s", errBadRequest, v.Type())
	}
	b := make([]byte, v.Get("byteLength").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}

// method wraps fn as a JavaScript function. Go cannot throw into
// JavaScript, so every exported function returns {v: value} or {e: Error};
// web/nanovllm.js unwraps that (an asynchronous function's value is a Promise).
func method(fn func(args []js.Value) (any, error)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) (result any) {
		defer func() {
			if r := recover(); r != nil {
				result = map[string]any{"e": jsError(fmt.Errorf("internal error: %v", r))}
			}
		}()
		v, err := fn(args)
		if err != nil {
			return map[string]any{"e": jsError(err)}
		}
		return map[string]any{"v": v}
	})
}

// argString returns args[i] as a string, or an error naming what is missing.
func argString(args []js.Value, i int, what string) (string, error) {
	if i >= len(args) || args[i].Type() != js.TypeString {
		return "", fmt.Errorf("%w: argument %d (%s) must be a string", errBadRequest, i, what)
	}
	return args[i].String(), nil
}
