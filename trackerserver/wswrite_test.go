package trackerserver

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// socketPair returns a wsConn writing to one end of a loopback TCP pair,
// as serve sets it up, and the other end.
func socketPair(t *testing.T, cfg Config) (*wsConn, net.Conn) {
	t.Helper()
	s := New(cfg)
	t.Cleanup(func() { s.Close() })
	conn, peer := loopbackPair(t)
	c := s.newConn(remoteForBench)
	c.netConn = conn
	c.w = newSockWriter(wrapConn(conn))
	return c, peer
}

// readFrame reads one unmasked frame: its first byte and payload.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("a masked frame from the server")
	}
	n := uint64(h[1])
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return h[0], p, err
}

// Messages from many senders at once, and control frames among them, reach
// a socket whole and in each sender's order, and no sender waits while the
// peer reads nothing: what the socket does not take waits in its queue.
func TestSocketWritesNeverWait(t *testing.T) {
	const senders, perSender = 4, 400
	c, peer := socketPair(t, Config{MaxQueuedBytes: 64 << 20})
	// Sizes around every header length (7-bit, 16-bit, 64-bit lengths).
	sizes := []int{1, 125, 126, 127, 1000, 65535, 65536, 70000}
	msg := func(sender, i int) []byte {
		b := fmt.Appendf(nil, "%d %d ", sender, i)
		for len(b) < sizes[(sender+i)%len(sizes)] {
			b = append(b, byte('a'+(len(b)+i)%26))
		}
		return b
	}
	total := 0
	for s := range senders {
		for i := range perSender {
			total += len(msg(s, i))
		}
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				m := getOut()
				m.b = append(m.b, msg(s, i)...)
				if !c.enqueue(m, connRef{}, 0, nil) {
					t.Errorf("sender %d: message %d dropped", s, i)
					return
				}
				if i%50 == 0 { // a pong among the messages
					if _, err := c.writeRaw([]byte{0x8a, 4, 'p', 'o', 'n', 'g'}); err != nil {
						t.Errorf("control frame: %v", err)
						return
					}
				}
			}
		}()
	}
	sent := make(chan struct{})
	go func() { wg.Wait(); close(sent) }()
	select {
	case <-sent: // every sender done while the peer read nothing
	case <-time.After(testTimeout):
		t.Fatalf("senders waited for the peer (%d bytes of messages)", total)
	}
	c.mu.Lock()
	queued := len(c.queue)
	c.mu.Unlock()
	if queued == 0 {
		t.Fatalf("nothing was queued: %d bytes did not fill the socket's buffers", total)
	}
	t.Logf("%d messages queued behind a full socket", queued)

	peer.SetReadDeadline(time.Now().Add(testTimeout))
	r := bufio.NewReader(peer)
	next := make([]int, senders)
	pongs := 0
	for got := 0; got < senders*perSender; {
		op, p, err := readFrame(r)
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		switch op {
		case 0x8a:
			if string(p) != "pong" {
				t.Fatalf("control frame %q", p)
			}
			pongs++
			continue
		case 0x81:
		default:
			t.Fatalf("frame type %#x", op)
		}
		var s, i int
		if _, err := fmt.Sscanf(string(p), "%d %d ", &s, &i); err != nil || s < 0 || s >= senders {
			t.Fatalf("message %q...: %v", p[:min(len(p), 20)], err)
		}
		if i != next[s] || string(p) != string(msg(s, i)) {
			t.Fatalf("sender %d: got message %d (%d bytes), want %d", s, i, len(p), next[s])
		}
		next[s]++
		got++
	}
	if pongs != senders*perSender/50 {
		t.Fatalf("%d control frames, want %d", pongs, senders*perSender/50)
	}
	c.drains.Wait() // the drain ends once the queue is out
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) != 0 || c.queuedBytes != 0 || c.writeSince.Load() != 0 {
		t.Fatalf("after the drain: %d queued, %d bytes, writeSince %d", len(c.queue), c.queuedBytes, c.writeSince.Load())
	}
}

// Behind a peer that reads nothing, the queue stops at MaxQueuedBytes:
// messages past it are dropped and counted. When the peer goes, the drain
// ends and later messages are refused.
func TestSocketWriteQueueBound(t *testing.T) {
	const bound = 256 << 10
	c, peer := socketPair(t, Config{MaxQueuedBytes: bound})
	fillQueue(t, c, bound)
	peer.Close()
	waitDrained(t, c)
	// The failed write closed the socket: nothing more is taken.
	m := getOut()
	m.b = append(m.b, "late"...)
	if c.enqueue(m, connRef{}, 0, nil) {
		t.Fatal("a message was taken for a socket whose peer is gone")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dead || len(c.queue) != 0 || c.queuedBytes != 0 {
		t.Fatalf("after the peer went: dead %v, %d queued, %d bytes", c.dead, len(c.queue), c.queuedBytes)
	}
}

// A peer that sends pings and reads nothing fills the queue with pongs
// (control frames, written by writeRaw: wsread.go): past the bound
// and its room for control frames, the socket is closed.
func TestSocketPongFlood(t *testing.T) {
	const bound = 256 << 10
	c, _ := socketPair(t, Config{MaxQueuedBytes: bound})
	fillQueue(t, c, bound)
	pong := []byte{0x8a, 4, 'p', 'o', 'n', 'g'}
	var err error
	for i := 0; i < 2*controlFrameRoom && err == nil; i++ {
		_, err = c.writeRaw(pong)
	}
	c.mu.Lock()
	queued, dead := c.queuedBytes, c.dead
	c.mu.Unlock()
	if err == nil || !dead || queued > bound+controlFrameRoom {
		t.Fatalf("after a flood of pongs: err %v, dead %v, %d bytes queued", err, dead, queued)
	}
	waitDrained(t, c)
}

// fillQueue writes 24 MB of messages to c, whose peer reads nothing: more
// than the kernel's buffers and the queue's bound, so that the queue stops
// at the bound and the rest are dropped and counted.
func fillQueue(t *testing.T, c *wsConn, bound int) {
	t.Helper()
	big := make([]byte, 60000)
	dropped := 0
	for range 400 {
		m := getOut()
		m.b = append(m.b, big...)
		if !c.enqueue(m, connRef{}, 0, nil) {
			dropped++
		}
	}
	c.mu.Lock()
	queued := c.queuedBytes
	c.mu.Unlock()
	if dropped == 0 || queued > bound {
		t.Fatalf("%d dropped, %d bytes queued (bound %d)", dropped, queued, bound)
	}
	if got := c.s.ctr.dropped.Load(); got != uint64(dropped) {
		t.Fatalf("counted %d drops, dropped %d", got, dropped)
	}
}

// waitDrained waits for c's drain goroutine to end.
func waitDrained(t *testing.T, c *wsConn) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.drains.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("the drain outlived the socket")
	}
}
