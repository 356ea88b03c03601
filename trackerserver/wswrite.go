package trackerserver

import (
	"errors"
	"net"
	"sync/atomic"
)

// A socket's writes, with no goroutine of its own.
//
// Whoever has a message for a socket (its own reader, another socket's
// reader relaying an offer, the cluster's router) frames it and writes it to
// the socket at once, without waiting: the kernel takes it whole nearly
// always. What the socket does not take at once waits in the socket's queue,
// in order, and a goroutine started for the occasion waits for room, writes
// the queue out and ends. A socket thus costs no writer goroutine while it
// is idle (2-8 KiB of stack for each of thousands of sockets), and a message
// costs no hand-off to one (a wake-up, and on a busy host a thread's).
//
// Control frames (pongs, pings, the close handshake: wsread.go) go through
// the same queue, so that frames never interleave.

// sockWriter writes to a socket with vectored writes.
type sockWriter interface {
	// writeNow writes what of bufs the socket takes without waiting (it may
	// be nothing).
	writeNow(bufs [][]byte) (int, error)
	// writeWait writes some of bufs, waiting for room when there is none.
	writeWait(bufs [][]byte) (int, error)
}

// maxFramesPerWrite bounds the frames one vectored write takes from a queue.
const maxFramesPerWrite = 32

// errSocketGone is what a write to a socket that failed or closed reports.
var errSocketGone = errors.New("trackerserver: socket gone")

// frameText gives m the header of an unmasked, final text frame.
func (m *outMsg) frameText() {
	n := len(m.b)
	m.hdr[0] = 0x81
	switch {
	case n < 126:
		m.hdr[1] = byte(n)
		m.hn = 2
	case n < 1<<16:
		m.hdr[1] = 126
		m.hdr[2], m.hdr[3] = byte(n>>8), byte(n)
		m.hn = 4
	default:
		m.hdr[1] = 127
		for i := range 8 {
			m.hdr[2+i] = byte(uint64(n) >> (56 - 8*i))
		}
		m.hn = 10
	}
}

// size is the bytes m puts on the wire.
func (m *outMsg) size() int { return int(m.hn) + len(m.b) }

// appendBufs appends the buffers of m's frame after its first skip bytes.
func (m *outMsg) appendBufs(bufs [][]byte, skip int) [][]byte {
	if skip < int(m.hn) {
		bufs = append(bufs, m.hdr[skip:m.hn])
		skip = 0
	} else {
		skip -= int(m.hn)
	}
	if skip < len(m.b) {
		bufs = append(bufs, m.b[skip:])
	}
	return bufs
}

// enqueue frames m as a text message and writes or queues it. It reports
// false, and drops the message, when the socket is closed, failed or too
// far behind. from and key record an offer (from.id != 0), for the answer.
// A message taken adds one to count (if not nil) before it is written.
func (c *wsConn) enqueue(m *outMsg, from connRef, key uint64, count *atomic.Uint64) bool {
	c.mu.Lock()
	if c.closed || c.dead || c.queuedBytes+len(m.b) > c.s.cfg.MaxQueuedBytes {
		c.mu.Unlock()
		putOut(m)
		c.s.ctr.dropped.Add(1)
		return false
	}
	if from.id != 0 {
		c.rememberOffer(offerRecord{from: from, key: key})
	}
	if count != nil {
		count.Add(1)
	}
	if c.w == nil { // benchmarks that drive handle directly
		if c.sink != nil {
			c.sink(m.b)
		}
		c.mu.Unlock()
		putOut(m)
		return true
	}
	m.frameText()
	ok := c.writeLocked(m)
	c.mu.Unlock()
	return ok
}

// writeLocked writes m's frame behind whatever waits, or at once when
// nothing does; what the socket does not take is queued for a drain
// goroutine. c.mu is held, so frames from concurrent senders do not
// interleave. It reports false when the socket failed.
func (c *wsConn) writeLocked(m *outMsg) bool {
	if len(c.queue) > 0 {
		c.queue = append(c.queue, m)
		c.queuedBytes += m.size()
		return true
	}
	var vec [2][]byte
	n, err := c.w.writeNow(m.appendBufs(vec[:0], 0))
	if err != nil {
		putOut(m)
		c.failLocked()
		return false
	}
	if n == m.size() {
		putOut(m)
		return true
	}
	c.queue = append(c.queue, m)
	c.queueSent = n
	c.queuedBytes += m.size() - n
	c.writeSince.Store(max(c.s.now(), 1))
	c.drains.Add(1)
	go c.drain()
	return true
}

// failLocked marks the socket failed and closes it: its reader then ends
// the socket. c.mu is held.
func (c *wsConn) failLocked() {
	if c.dead {
		return
	}
	c.dead = true
	c.kill()
}

// drain writes the queue out, waiting for room in the socket, and ends when
// the queue is empty or the socket is gone. One runs at a time: it is
// started only when a write leaves a queue behind an empty one.
func (c *wsConn) drain() {
	defer c.drains.Done()
	bufs := make([][]byte, 0, 2*maxFramesPerWrite)
	for {
		// The frames at the queue's head are this goroutine's alone: others
		// only append behind them.
		c.mu.Lock()
		if c.dead {
			c.dropQueueLocked()
			c.mu.Unlock()
			return
		}
		bufs = bufs[:0]
		skip := c.queueSent
		for _, m := range c.queue[:min(len(c.queue), maxFramesPerWrite)] {
			bufs = m.appendBufs(bufs, skip)
			skip = 0
		}
		c.mu.Unlock()
		n, err := c.w.writeWait(bufs)
		clear(bufs)
		c.mu.Lock()
		if err != nil {
			c.failLocked()
			c.dropQueueLocked()
			c.mu.Unlock()
			return
		}
		c.queuedBytes -= n
		n += c.queueSent
		done := 0
		for _, m := range c.queue {
			if n < m.size() {
				break
			}
			n -= m.size()
			putOut(m)
			done++
		}
		c.queue = c.queue[:copy(c.queue, c.queue[done:])]
		clear(c.queue[len(c.queue):cap(c.queue)])
		c.queueSent = n
		if len(c.queue) == 0 {
			c.queueSent = 0
			c.writeSince.Store(0)
			if cap(c.queue) > 64 {
				c.queue = nil
			}
			c.mu.Unlock()
			return
		}
		c.writeSince.Store(max(c.s.now(), 1))
		c.mu.Unlock()
	}
}

// dropQueueLocked drops what waits to be written. c.mu is held.
func (c *wsConn) dropQueueLocked() {
	for _, m := range c.queue {
		putOut(m)
	}
	c.queue = nil
	c.queueSent = 0
	c.queuedBytes = 0
	c.writeSince.Store(0)
}

// controlFrameRoom is what control frames may queue past MaxQueuedBytes,
// so that a close frame still goes behind a full queue of messages.
const controlFrameRoom = 4 << 10

// writeRaw writes p, a whole control frame, in order with the socket's
// messages, without waiting. A peer that sends
// pings and does not read its pongs fills the queue: past MaxQueuedBytes
// and controlFrameRoom, the socket is closed.
func (c *wsConn) writeRaw(p []byte) (int, error) {
	m := getOut()
	m.b = append(m.b, p...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead || c.queuedBytes+len(p) > c.s.cfg.MaxQueuedBytes+controlFrameRoom {
		putOut(m)
		c.failLocked()
		return 0, errSocketGone
	}
	if !c.writeLocked(m) {
		return 0, errSocketGone
	}
	return len(p), nil
}

// blockingWriter is a sockWriter for connections without raw socket calls
// (other platforms): it takes nothing at once, so that every message waits
// for the drain goroutine, which writes with the connection's own writes.
type blockingWriter struct{ conn net.Conn }

func (w *blockingWriter) writeNow([][]byte) (int, error) { return 0, nil }

func (w *blockingWriter) writeWait(bufs [][]byte) (int, error) {
	nb := net.Buffers(append([][]byte(nil), bufs...))
	n, err := nb.WriteTo(w.conn)
	return int(n), err
}

// newSockWriter returns the sockWriter for conn: its raw socket calls where
// it has them (rawConn), else blocking writes from the drain goroutine.
func newSockWriter(conn net.Conn) sockWriter {
	if w, ok := conn.(sockWriter); ok {
		return w
	}
	return &blockingWriter{conn: conn}
}
