//go:build !js

package webrtc

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	pion "github.com/pion/webrtc/v4"
)

// readChunk is the smallest read buffer that Read hands to the data channel
// directly; smaller buffers read through Conn's own buffer of this size, so
// that a message is never larger than the buffer it is read into (pion
// refuses such reads). 64 KiB holds any message WebTorrent or swarmcast
// sends.
const readChunk = 64 << 10

// closeDrainTimeout bounds how long Close waits for queued data to leave.
// On a LAN or loopback a full send buffer (2 MiB) drains in tens of
// milliseconds; a slower peer loses what is left, and BitTorrent does not
// depend on the last bytes before a close.
const closeDrainTimeout = 250 * time.Millisecond

// Send thresholds of the native build. pion's BufferedAmount counts the
// bytes sent but not yet acknowledged as well as those queued, so the data
// in flight, up to the peer's SCTP receive window, is part of it. Write
// resumes once less than that window is buffered, so the window can always
// be filled, and blocks when more than sendQueueAbove waits beyond it.
// Resuming at a fixed 512 KiB instead (half of a 1 MiB buffer) left the link
// idle for half of the peer's 1 MiB window every round trip: across
// emulated paths (BenchmarkLink, old and new side by side in one run)
// 10.1-10.9 -> 15.9 MB/s at 41 ms and 4.7 -> 8.2 MB/s at 101 ms.
const (
	// sendQueueAbove is how many bytes may wait queued beyond the peer's
	// receive window before Write blocks: 1 MiB, the whole buffer before
	// this change, which kept loopback at full speed (BenchmarkConn).
	sendQueueAbove = 1 << 20

	// minSendWindow and maxSendWindow bound the peer's advertised receive
	// window as the resume threshold. 512 KiB is the old threshold, in
	// case a peer advertises a tiny window; 16 MiB bounds the memory one
	// connection holds whatever a peer claims (stock pion and
	// libdatachannel advertise 1 MiB, as issue 16 found; we advertise
	// receiveWindow).
	minSendWindow = 512 << 10
	maxSendWindow = 16 << 20
)

// sendThresholds returns the buffered amounts at which a blocked Write
// resumes (low) and above which Write blocks (high), from the peer's
// receive window rwnd.
func sendThresholds(rwnd uint32) (low, high uint64) {
	low = min(max(uint64(rwnd), minSendWindow), maxSendWindow)
	return low, low + sendQueueAbove
}

// Conn is an open data channel read and written as a byte stream. Write
// splits data into messages of at most MaxWriteMessage bytes and blocks
// while the peer's receive window and 1 MiB more wait to be sent or
// acknowledged. Read returns the bytes of the peer's messages in order,
// whatever their sizes. Read and Write may be called concurrently with each
// other and with Close.
type Conn struct {
	pc       *pion.PeerConnection
	flushLog func() // the peer's; after the pc closes
	dc       *pion.DataChannel
	outbound bool
	remote   string

	mu  sync.Mutex
	raw datachannel.ReadWriteCloser // the detached channel; nil until open

	rmu        sync.Mutex // serializes Read
	rbuf       []byte     // a message read whole when the caller's buffer was small
	roff, rend int        // the part of rbuf not yet returned

	wmu   sync.Mutex    // serializes Write
	wrote bool          // Write sent data; guarded by wmu
	low   chan struct{} // signalled when the send buffer drains to sendLow
	done  chan struct{} // closed by Close

	// sendLow and sendHigh are the send thresholds (sendThresholds), set
	// when the channel opens.
	sendLow, sendHigh uint64

	closing atomic.Bool
}

func newConn(p *peer, dc *pion.DataChannel) *Conn {
	return &Conn{
		pc:       p.pc,
		flushLog: p.flushLog,
		dc:       dc,
		outbound: p.outbound,
		remote:   "webrtc",
		low:      make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
}

// open detaches the data channel once it is open.
func (c *Conn) open() error {
	raw, err := c.dc.Detach()
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing.Load() {
		raw.Close()
		return ErrClosed
	}
	c.raw = raw
	c.remote = remoteAddr(c.pc)
	// When the channel opens, the peer has acknowledged the channel's open
	// handshake, so the window left is (within a few bytes) the whole
	// window the peer advertises.
	var rwnd uint32
	if sctp := c.pc.SCTP(); sctp != nil {
		rwnd = sctp.Stats().ReceiverWindow
	}
	c.sendLow, c.sendHigh = sendThresholds(rwnd)
	c.dc.SetBufferedAmountLowThreshold(c.sendLow)
	c.dc.OnBufferedAmountLow(c.signalLow)
	return nil
}

func (c *Conn) signalLow() {
	select {
	case c.low <- struct{}{}:
	default:
	}
}

// Read reads the next bytes the peer sent.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.roff < c.rend {
		n := copy(p, c.rbuf[c.roff:c.rend])
		c.roff += n
		return n, nil
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(p) >= readChunk {
			n, err := c.raw.Read(p)
			if err == nil {
				if n == 0 {
					continue // an empty message
				}
				return n, nil
			}
			if !errors.Is(err, io.ErrShortBuffer) {
				return 0, c.readErr(err)
			}
		}
		n, err := c.readMessage()
		if err != nil {
			return 0, c.readErr(err)
		}
		if n == 0 {
			continue
		}
		m := copy(p, c.rbuf[:n])
		c.roff, c.rend = m, n
		return m, nil
	}
}

// readMessage reads one message into rbuf, growing it up to MaxReadMessage.
func (c *Conn) readMessage() (int, error) {
	if c.rbuf == nil {
		c.rbuf = make([]byte, readChunk)
	}
	for {
		n, err := c.raw.Read(c.rbuf)
		if !errors.Is(err, io.ErrShortBuffer) {
			return n, err
		}
		if len(c.rbuf) >= MaxReadMessage {
			return 0, ErrMessageTooLarge
		}
		c.rbuf = make([]byte, min(2*len(c.rbuf), MaxReadMessage))
	}
}

func (c *Conn) readErr(err error) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if errors.Is(err, ErrMessageTooLarge) {
		c.Close()
		return err
	}
	// The peer reset the stream or closed the connection: the stream
	// ended, as a TCP FIN ends one.
	return io.EOF
}

// Write sends p as one or more messages, blocking while the send buffer is
// full.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n := 0
	for n < len(p) {
		if err := c.waitSendBuffer(); err != nil {
			return n, err
		}
		m := min(len(p)-n, MaxWriteMessage)
		if _, err := c.raw.Write(p[n : n+m]); err != nil {
			if c.closing.Load() {
				return n, ErrClosed
			}
			return n, err
		}
		n += m
		c.wrote = true
	}
	return n, nil
}

func (c *Conn) waitSendBuffer() error {
	for c.dc.BufferedAmount() > c.sendHigh {
		select {
		case <-c.low:
		case <-c.done:
			return ErrClosed
		}
	}
	if c.closing.Load() {
		return ErrClosed
	}
	return nil
}

// Close closes the data channel and its peer connection, which unblocks
// Read and Write on both sides. Data still queued is given up to 250 ms to
// leave. Close releases every goroutine the connection started.
func (c *Conn) Close() error {
	if !c.closing.CompareAndSwap(false, true) {
		return nil
	}
	close(c.done)
	c.mu.Lock()
	raw := c.raw
	c.mu.Unlock()
	if raw != nil {
		c.drain()
		raw.Close()
	}
	closePeerConnection(c.pc)
	c.flushLog()
	return nil
}

// drain waits, up to closeDrainTimeout, for the send buffer to empty.
//
// pion counts the channel's own open handshake in the buffered amount until
// a data chunk after it is acknowledged, so a channel that never carried
// data is not drained: it would wait for bytes that never leave.
func (c *Conn) drain() {
	c.wmu.Lock() // no Write adds to the buffer meanwhile
	defer c.wmu.Unlock()
	if !c.wrote || c.dc.BufferedAmount() == 0 || c.pc.ConnectionState() != pion.PeerConnectionStateConnected {
		return
	}
	c.dc.SetBufferedAmountLowThreshold(0)
	timer := time.NewTimer(closeDrainTimeout)
	defer timer.Stop()
	for c.dc.BufferedAmount() > 0 {
		select {
		case <-c.low:
		case <-timer.C:
			return
		}
	}
}

func closePeerConnection(pc *pion.PeerConnection) {
	// GracefulClose waits for pion's goroutines, so none outlives Close.
	pc.GracefulClose()
}
