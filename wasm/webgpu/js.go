//go:build js && wasm

package webgpu

import (
	_ "embed"
	"errors"
	"fmt"

	"github.com/hack-pad/safejs"
)

//go:embed runtime.js
var runtimeJS string

// bridge is the Go side of runtime.js: every call into JavaScript goes
// through it, so that it can count them.
type bridge struct {
	rt        safejs.Value // the object runtime.js returns
	crossings int64
}

// call invokes method m of the runtime object.
func (b *bridge) call(m string, args ...any) (safejs.Value, error) {
	b.crossings++
	v, err := b.rt.Call(m, args...)
	if err != nil {
		return safejs.Undefined(), fmt.Errorf("webgpu: %s: %w", m, err)
	}
	return v, nil
}

// callInt invokes method m and reads its result as an int.
func (b *bridge) callInt(m string, args ...any) (int, error) {
	v, err := b.call(m, args...)
	if err != nil {
		return 0, err
	}
	n, err := v.Int()
	if err != nil {
		return 0, fmt.Errorf("webgpu: %s result: %w", m, err)
	}
	return n, nil
}

// get reads property p of v, counting the crossing.
func (b *bridge) get(v safejs.Value, p string) (safejs.Value, error) {
	b.crossings++
	return v.Get(p)
}

// toJS copies src into the JavaScript Uint8Array dst.
func (b *bridge) toJS(dst safejs.Value, src []byte) error {
	b.crossings++
	_, err := safejs.CopyBytesToJS(dst, src)
	return err
}

// toGo copies the JavaScript Uint8Array src into dst.
func (b *bridge) toGo(dst []byte, src safejs.Value) error {
	b.crossings++
	_, err := safejs.CopyBytesToGo(dst, src)
	return err
}

// awaiter resolves JavaScript promises from Go. The goroutine that waits
// blocks on a channel, which lets the Go runtime return to the browser's
// event loop until the promise settles; so await must not be called from
// inside a JavaScript callback (a js.FuncOf handler), which would deadlock.
type awaiter struct {
	b      *bridge
	ok     safejs.Func
	fail   safejs.Func
	result chan promiseResult
}

type promiseResult struct {
	v   safejs.Value
	err error
}

func newAwaiter(b *bridge) (*awaiter, error) {
	a := &awaiter{b: b, result: make(chan promiseResult, 1)}
	var err error
	a.ok, err = safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		v := safejs.Undefined()
		if len(args) > 0 {
			v = args[0]
		}
		a.result <- promiseResult{v: v}
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.fail, err = safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		msg := "promise rejected"
		if len(args) > 0 {
			msg = jsErrorText(args[0])
		}
		a.result <- promiseResult{err: errors.New(msg)}
		return nil
	})
	if err != nil {
		a.ok.Release()
		return nil, err
	}
	return a, nil
}

// await waits for promise p. One await at a time: the Device is not safe for
// concurrent use.
func (a *awaiter) await(p safejs.Value) (safejs.Value, error) {
	a.b.crossings += 2 // then(), and the callback back into Go
	if _, err := p.Call("then", a.ok.Value(), a.fail.Value()); err != nil {
		return safejs.Undefined(), fmt.Errorf("webgpu: awaiting promise: %w", err)
	}
	r := <-a.result
	return r.v, r.err
}

func (a *awaiter) release() {
	a.ok.Release()
	a.fail.Release()
}

// jsErrorText describes a thrown JavaScript value.
func jsErrorText(v safejs.Value) string {
	if m, err := v.Get("message"); err == nil && m.Type() == safejs.TypeString {
		if s, err := m.String(); err == nil {
			return s
		}
	}
	if s, err := v.Call("toString"); err == nil {
		if t, err := s.String(); err == nil {
			return t
		}
	}
	return "unknown JavaScript error"
}
