//go:build js

package webrtc

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall/js"
)

// Send thresholds of the browser build. The browser's bufferedAmount counts
// only bytes not yet handed to SCTP (data in flight is not in it), unlike
// pion's, so the native build's thresholds, which follow the peer's receive
// window, do not apply here.
const (
	// sendBufferHigh is how many bytes may wait in the data channel's send
	// buffer before Write blocks. 1 MiB keeps a loopback or LAN link busy
	// without holding more than that per connection.
	sendBufferHigh = 1 << 20

	// sendBufferLow is the buffered amount at which a blocked Write
	// resumes: the buffer is refilled while half of it is still queued, so
	// the link does not idle.
	sendBufferLow = sendBufferHigh / 2

	// maxQueued bounds the bytes received and not yet read. The browser
	// delivers messages whether or not they are read (a data channel has no
	// way to push back), so a peer that sends faster than the engine takes
	// its messages (which it does up to 2 MiB ahead of its owner) is closed
	// past this.
	maxQueued = 16 << 20
)

// ErrReadOverflow is returned by Read after the peer sent more than
// maxQueued bytes that were not read.
var ErrReadOverflow = errors.New("webrtc: peer sent more than the read queue holds")

// Conn is an open data channel read and written as a byte stream. Write
// splits data into messages of at most MaxWriteMessage bytes and blocks
// while more than 1 MiB waits to be sent. Read returns the bytes of the
// peer's messages in order, whatever their sizes. Read and Write may be
// called concurrently with each other and with Close.
//
// In the browser the RTCDataChannel, transferred to the engine's worker,
// is used directly; its handlers only copy and queue, so they never block
// the event loop.
type Conn struct {
	p        *peer
	raw      js.Value // the RTCDataChannel
	outbound bool
	remote   string

	mu       sync.Mutex
	queue    [][]byte // messages not yet read
	queued   int      // bytes in queue
	cur      []byte   // the unread rest of the first message
	ended    bool     // the channel closed
	overflow bool     // the peer sent more than maxQueued unread
	notify   chan struct{}
	opened   chan struct{} // closed when the channel is open
	openOnce sync.Once

	wmu  sync.Mutex
	low  chan struct{}
	done chan struct{}

	closing atomic.Bool
	funcs   []js.Func
}

func newConn(p *peer, dc js.Value) *Conn {
	c := &Conn{
		p:        p,
		raw:      dc,
		outbound: p.outbound,
		remote:   p.remote(),
		notify:   make(chan struct{}, 1),
		opened:   make(chan struct{}),
		low:      make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	c.raw.Set("binaryType", "arraybuffer")
	c.raw.Set("bufferedAmountLowThreshold", sendBufferLow)
	c.on("message", func(ev js.Value) { c.received(ev.Get("data")) })
	// What came between the channel's arrival in the worker and now, kept
	// by worker.js (keepEarly): first, before any later message can run.
	if early := c.raw.Get("swarmcastEarly"); early.Type() == js.TypeObject {
		for i := 0; i < early.Length(); i++ {
			c.received(early.Index(i))
		}
		c.raw.Delete("swarmcastEarly")
	}
	c.on("open", func(js.Value) { c.setOpen() })
	c.on("close", func(js.Value) {
		c.mu.Lock()
		c.ended = true
		c.mu.Unlock()
		signal(c.notify)
		signal(c.low)
	})
	c.on("bufferedamountlow", func(js.Value) { signal(c.low) })
	switch c.raw.Get("readyState").String() {
	case "open":
		c.setOpen()
	case "closing", "closed":
		c.Close()
	}
	return c
}

// received queues one message's data (an ArrayBuffer or a string).
func (c *Conn) received(data js.Value) {
	var b []byte
	if data.Type() == js.TypeString {
		b = []byte(data.String())
	} else {
		u8 := js.Global().Get("Uint8Array").New(data)
		b = make([]byte, u8.Get("length").Int())
		js.CopyBytesToGo(b, u8)
	}
	c.mu.Lock()
	if c.queued+len(b) > maxQueued {
		c.overflow = true
	} else if !c.overflow {
		c.queue = append(c.queue, b)
		c.queued += len(b)
	}
	c.mu.Unlock()
	signal(c.notify)
}

func (c *Conn) setOpen() { c.openOnce.Do(func() { close(c.opened) }) }

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
			c.queued -= len(c.cur)
		}
		if len(c.cur) > 0 {
			n := copy(p, c.cur)
			c.cur = c.cur[n:]
			c.mu.Unlock()
			return n, nil
		}
		ended, overflow := c.ended, c.overflow
		c.mu.Unlock()
		if c.closing.Load() {
			return 0, ErrClosed
		}
		if overflow {
			c.Close()
			return 0, ErrReadOverflow
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
		u8 := js.Global().Get("Uint8Array").New(m)
		js.CopyBytesToJS(u8, p[n:n+m])
		if err := jsTry(func() { c.raw.Call("send", u8) }); err != nil {
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
	for _, ev := range []string{"onmessage", "onopen", "onclose", "onbufferedamountlow"} {
		c.raw.Set(ev, js.Null())
	}
	for _, fn := range c.funcs {
		fn.Release()
	}
	c.raw.Call("close")
	c.p.closePC()
	return nil
}

// jsTry runs f, turning a JavaScript exception into an error.
func jsTry(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = errors.New(je.Error())
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}
