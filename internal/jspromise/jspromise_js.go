//go:build js

package jspromise

import (
	"context"
	"errors"
	"syscall/js"
)

// Then calls fn once p settles: with its value, or with an error carrying
// the rejection's message. fn runs on the browser's event loop and must not
// block. The callbacks release themselves when the promise settles, so a
// caller that gave up waiting leaves nothing behind once it does.
func Then(p js.Value, fn func(js.Value, error)) {
	var then, catch js.Func
	release := func() {
		then.Release()
		catch.Release()
	}
	then = js.FuncOf(func(_ js.Value, args []js.Value) any {
		release()
		var v js.Value
		if len(args) > 0 {
			v = args[0]
		}
		fn(v, nil)
		return nil
	})
	catch = js.FuncOf(func(_ js.Value, args []js.Value) any {
		release()
		msg := "rejected"
		if len(args) > 0 {
			msg = String(args[0])
		}
		fn(js.Value{}, errors.New(msg))
		return nil
	})
	p.Call("then", then, catch)
}

// Discard lets p settle unobserved: a rejection no handler catches is
// reported as an error of the page (a body's cancel after an abort rejects
// with the abort).
func Discard(p js.Value) { Then(p, func(js.Value, error) {}) }

// Await waits for p to settle or ctx to end.
func Await(ctx context.Context, p js.Value) (js.Value, error) {
	return AwaitOr(ctx, p, nil, nil)
}

// AwaitOr waits for p to settle, ctx to end, or done to close (nil: never);
// done's closing returns doneErr.
func AwaitOr(ctx context.Context, p js.Value, done <-chan struct{}, doneErr error) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	Then(p, func(v js.Value, err error) { ch <- result{v, err} })
	select {
	case r := <-ch:
		return r.v, r.err
	case <-done:
		return js.Value{}, doneErr
	case <-ctx.Done():
		return js.Value{}, ctx.Err()
	}
}

// String is a JavaScript value as text: an Error's message, or String(v).
func String(v js.Value) string {
	if v.Type() == js.TypeObject {
		if m := v.Get("message"); m.Type() == js.TypeString {
			return m.String()
		}
	}
	return js.Global().Call("String", v).String()
}
