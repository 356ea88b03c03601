//go:build js

package wstracker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
)

// Bounds of the browser binding.
const (
	// jsQueueMessages bounds the messages received and not yet read. The
	// client's reader takes each at once; a tracker that sends faster than
	// a goroutine can parse JSON is flooding us, and the socket is closed.
	jsQueueMessages = 1024

	// jsSendBuffered is how many bytes may wait in the browser's send
	// buffer before Write fails: an announce is ~10 offers of ~1 KiB, and a
	// socket that cannot take 1 MiB of them is not moving.
	jsSendBuffered = 1 << 20
)

// errSocketClosed is the error of a browser WebSocket that closed.
var errSocketClosed = errors.New("websocket closed")

// jsConn is the browser's WebSocket, used directly: coder/websocket's js
// build does the same, but the package also links net/http, which would
// more than double the wasm.
type jsConn struct {
	ws    js.Value
	limit int64

	mu     sync.Mutex
	queue  [][]byte
	err    error // set once, when the socket fails or closes
	opened bool
	notify chan struct{}
	funcs  []js.Func
	once   sync.Once
}

func dialWebSocket(ctx context.Context, url, _ string, readLimit int64) (wsConn, error) {
	ctor := js.Global().Get("WebSocket")
	if ctor.IsUndefined() {
		return nil, errors.New("no WebSocket in this JavaScript environment")
	}
	var ws js.Value
	if err := jsTry(func() { ws = ctor.New(url) }); err != nil {
		return nil, err
	}
	c := &jsConn{ws: ws, limit: readLimit, notify: make(chan struct{}, 1)}
	ws.Set("binaryType", "arraybuffer")
	c.on("open", func(js.Value) {
		c.mu.Lock()
		c.opened = true
		c.mu.Unlock()
		c.signal()
	})
	c.on("message", func(ev js.Value) {
		data := ev.Get("data")
		var b []byte
		if data.Type() == js.TypeString {
			s := data.String()
			if int64(len(s)) > c.limit {
				c.fail(fmt.Errorf("message of %d bytes over the %d-byte limit", len(s), c.limit))
				return
			}
			b = []byte(s)
		} else {
			u8 := js.Global().Get("Uint8Array").New(data)
			n := u8.Get("length").Int()
			if int64(n) > c.limit {
				c.fail(fmt.Errorf("message of %d bytes over the %d-byte limit", n, c.limit))
				return
			}
			b = make([]byte, n)
			js.CopyBytesToGo(b, u8)
		}
		c.mu.Lock()
		full := len(c.queue) >= jsQueueMessages
		if !full {
			c.queue = append(c.queue, b)
		}
		c.mu.Unlock()
		if full {
			c.fail(errors.New("tracker sends faster than its messages are read"))
			return
		}
		c.signal()
	})
	c.on("close", func(ev js.Value) {
		c.fail(fmt.Errorf("%w (code %d)", errSocketClosed, ev.Get("code").Int()))
	})
	c.on("error", func(js.Value) { c.fail(errSocketClosed) })
	for {
		c.mu.Lock()
		opened, err := c.opened, c.err
		c.mu.Unlock()
		if err != nil {
			c.CloseNow()
			return nil, err
		}
		if opened {
			return c, nil
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			c.CloseNow()
			return nil, ctx.Err()
		}
	}
}

func (c *jsConn) on(event string, f func(js.Value)) {
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		var ev js.Value
		if len(args) > 0 {
			ev = args[0]
		}
		f(ev)
		return nil
	})
	c.funcs = append(c.funcs, fn)
	c.ws.Set("on"+event, fn)
}

func (c *jsConn) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// fail records the socket's first error and closes it.
func (c *jsConn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.signal()
	c.CloseNow()
}

func (c *jsConn) Read(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			b := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return b, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (c *jsConn) Write(_ context.Context, data []byte) error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if c.ws.Get("readyState").Int() != 1 { // OPEN
		return errSocketClosed
	}
	if c.ws.Get("bufferedAmount").Int() > jsSendBuffered {
		return errors.New("websocket send buffer full")
	}
	return jsTry(func() { c.ws.Call("send", string(data)) })
}

// CloseNow closes the socket and releases its handlers. Messages already
// queued can still be read.
func (c *jsConn) CloseNow() error {
	c.once.Do(func() {
		c.mu.Lock()
		if c.err == nil {
			c.err = errSocketClosed
		}
		c.mu.Unlock()
		c.signal()
		for _, ev := range []string{"onopen", "onmessage", "onclose", "onerror"} {
			c.ws.Set(ev, js.Null())
		}
		c.ws.Call("close")
		for _, fn := range c.funcs {
			fn.Release()
		}
	})
	return nil
}

// jsTry runs f, turning a JavaScript exception into an error.
func jsTry(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = fmt.Errorf("%s", je.Error())
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}
