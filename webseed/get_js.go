//go:build js

package webseed

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/swarmcast/swarmcast/internal/jspromise"
)

// In the browser, requests go through fetch: net/http's js build would add
// megabytes to the wasm for what one fetch call does.
type platformOptions struct{}

func (o *platformOptions) fill() {}

// get reads len(dst) bytes of the file at u from offset off with fetch,
// reading the body as a stream so that an origin that ignores Range costs
// no more than the bytes asked for, and calling got with the bytes read so
// far as they arrive. A cancelled ctx aborts the fetch.
func (c *conn) get(ctx context.Context, u string, off int64, dst []byte, got func(n int)) error {
	ctx, cancel := context.WithTimeout(ctx, getTimeout(len(dst)))
	defer cancel()
	fetch := js.Global().Get("fetch")
	if fetch.Type() != js.TypeFunction {
		return errors.New("webseed: no fetch in this JavaScript environment")
	}
	abort := js.Global().Get("AbortController").New()
	stop := context.AfterFunc(ctx, func() { abort.Call("abort") })
	defer stop()
	headers := js.Global().Get("Object").New()
	headers.Set("Range", rangeHeader(off, len(dst)))
	init := js.Global().Get("Object").New()
	init.Set("headers", headers)
	init.Set("signal", abort.Get("signal"))
	init.Set("cache", "no-store")
	res, err := jspromise.Await(context.Background(), fetch.Invoke(u, init))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, ctxErr(ctx, err))
	}
	cr := res.Get("headers").Call("get", "Content-Range")
	hidden := cr.IsNull()
	contentRange := ""
	if !hidden {
		contentRange = cr.String()
	}
	code := res.Get("status").Int()
	status := fmt.Sprintf("%d %s", code, res.Get("statusText").String())
	body := res.Get("body")
	if err := checkStatus(u, code, status, contentRange, hidden, off); err != nil {
		if !body.IsNull() {
			jspromise.Discard(body.Call("cancel"))
		}
		return err
	}
	if body.IsNull() {
		return fmt.Errorf("GET %s: no body", u)
	}
	reader := body.Call("getReader")
	defer func() { jspromise.Discard(reader.Call("cancel")) }()
	n := 0
	for n < len(dst) {
		chunk, err := jspromise.Await(context.Background(), reader.Call("read"))
		if err != nil {
			return fmt.Errorf("GET %s: %w", u, ctxErr(ctx, err))
		}
		if chunk.Get("done").Bool() {
			return fmt.Errorf("GET %s: the body ended after %d of %d bytes", u, n, len(dst))
		}
		n += js.CopyBytesToGo(dst[n:], chunk.Get("value"))
		got(n)
	}
	return nil
}

// ctxErr prefers the context's reason to the browser's AbortError.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
