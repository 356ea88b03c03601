//go:build js

package webrtc

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall/js"

	pion "github.com/pion/webrtc/v4"
)

// Conn is an open data channel read and written as a byte stream. Write
// splits data into messages of at most MaxWriteMessage bytes and blocks
// while more than 1 MiB waits to be sent. Read returns the bytes of the
// peer's messages in order, whatever their sizes. Read and Write may be
// called concurrently with each other and with Close.
//
// In the browser the RTCDataChannel's events are handled directly rather
// than through pion's wrappers, which start a goroutine per message and so
// do not promise order; the handlers only copy and queue, so they never
// block the browser's event loop.
type Conn struct {
	pc       *pion.PeerConnection
	dc       *pion.DataChannel
	raw      js.Value // the RTCDataChannel
	outbound bool
	remote   string

	mu     sync.Mutex
	queue  [][]byte // messages not yet read
	cur    []byte   // the unread rest of the first message
	ended  bool     // the channel closed
	notify chan struct{}

	wmu  sync.Mutex
	low  chan struct{}
	done chan struct{}

	closing atomic.Bool
	funcs   []js.Func
}

func newConn(p *peer, dc *pion.DataChannel) *Conn {
	c := &Conn{
		pc:       p.pc,
		dc:       dc,
		raw:      dc.JSValue(),
		outbound: p.outbound,
		remote:   "webrtc",
		notify:   make(chan struct{}, 1),
		low:      make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	// Handlers go on at creation, before the channel opens, so that no
	// message can arrive without one.
	c.raw.Set("binaryType", "arraybuffer")
	c.raw.Set("bufferedAmountLowThreshold", sendBufferLow)
	c.on("message", func(ev js.Value) {
		data := ev.Get("data")
		var b []byte
		if data.Type() == js.TypeString {
			b = []byte(data.String())
		} else {
			u8 := js.Global().Get("Uint8Array").New(data)
			b = make([]byte, u8.Get("length").Int())
			js.CopyBytesToGo(b, u8)
		}
		c.mu.Lock()
		c.queue = append(c.queue, b)
		c.mu.Unlock()
		signal(c.notify)
	})
	c.on("close", func(js.Value) {
		c.mu.Lock()
		c.ended = true
		c.mu.Unlock()
		signal(c.notify)
		signal(c.low)
	})
	c.on("bufferedamountlow", func(js.Value) { signal(c.low) })
	return c
}

func (c *Conn) on(event string, f func(ev js.Value)) {
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		var ev js.Value
		if len(args) > 0 {
			ev = args[0]
		}
		f(ev)
		return nil
	})
	c.funcs = append(c.funcs, fn)
	c.raw.Set("on"+event, fn)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (c *Conn) open() error {
	c.remote = remoteAddr(c.pc)
	return nil
}

// Read reads the next bytes the peer sent.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		c.mu.Lock()
		for len(c.cur) == 0 && len(c.queue) > 0 {
			c.cur, c.queue[0] = c.queue[0], nil
			c.queue = c.queue[1:]
		}
		if len(c.cur) > 0 {
			n := copy(p, c.cur)
			c.cur = c.cur[n:]
			c.mu.Unlock()
			return n, nil
		}
		ended := c.ended
		c.mu.Unlock()
		if c.closing.Load() {
			return 0, ErrClosed
		}
		if ended {
			return 0, io.EOF
		}
		select {
		case <-c.notify:
		case <-c.done:
		}
	}
}

// Write sends p as one or more messages, blocking while the send buffer is
// full.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for n < len(p) {
		for c.raw.Get("bufferedAmount").Int() > sendBufferHigh {
			select {
			case <-c.low:
			case <-c.done:
				return n, ErrClosed
			}
		}
		if c.closing.Load() {
			return n, ErrClosed
		}
		if c.raw.Get("readyState").String() != "open" {
			return n, io.ErrClosedPipe
		}
		m := min(len(p)-n, MaxWriteMessage)
		if err := c.dc.Send(p[n : n+m]); err != nil {
			return n, errors.Join(io.ErrClosedPipe, err)
		}
		n += m
	}
	return n, nil
}

// Close closes the data channel and its peer connection. Data still queued
// in the browser may be lost.
func (c *Conn) Close() error {
	if !c.closing.CompareAndSwap(false, true) {
		return nil
	}
	close(c.done)
	for _, ev := range []string{"onmessage", "onclose", "onbufferedamountlow"} {
		c.raw.Set(ev, js.Null())
	}
	for _, fn := range c.funcs {
		fn.Release()
	}
	c.raw.Call("close")
	closePeerConnection(c.pc)
	return nil
}
