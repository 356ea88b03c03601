package tcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/mse"
	"github.com/swarmcast/swarmcast/transport"
)

// protocolHeader opens every plain BitTorrent handshake (BEP 3).
const protocolHeader = "\x13BitTorrent protocol"

// btHandshakeHeader is the part of a BitTorrent handshake up to and
// including the info hash, which is MSE's SKEY.
const btHandshakeHeader = len(protocolHeader) + 8 + 20

// Errors of encrypted connections.
var (
	// ErrPlainRefused: a peer opened a plain connection while we require
	// encryption.
	ErrPlainRefused = errors.New("tcp: plain connection refused: encryption is required (--encryption require)")
	// ErrEncryptedRefused: a peer opened an encrypted connection while
	// encryption is off, or the listener knows no torrents to decrypt for.
	ErrEncryptedRefused = errors.New("tcp: encrypted connection refused: encryption is off")
	// ErrBusy: too many encrypted handshakes began in the last moments
	// (a flood); this one was refused before its key exchange.
	ErrBusy = errors.New("tcp: encrypted connection refused: too many key exchanges at once")
	// ErrNotHandshake: with encryption required, the first write on a
	// dialled connection was not a BitTorrent handshake, which MSE needs
	// for its key.
	ErrNotHandshake = errors.New("tcp: first write is not a BitTorrent handshake: cannot encrypt")
)

// mseConn is a TCP connection whose first read (inbound) or write
// (outbound) runs the handshake that decides whether it is encrypted.
type mseConn struct {
	outbound bool
	remote   string

	// handshake runs once, by the first Read or Write; other calls wait
	// for it (or for Close).
	once   sync.Once
	ready  chan struct{} // closed once rw or err is set
	rw     io.ReadWriter // the stream after the handshake
	err    error
	method mse.Method // 0 for a plain connection

	mu     sync.Mutex
	c      net.Conn // the current socket (a fallback replaces it)
	closed bool
	done   chan struct{} // closed by Close

	// outbound only
	ctx    context.Context // the Dial's, bounding the fallback's dial
	dialer Dialer
	addr   string // as dialled (the key of Dialer's memory)
	// inbound only
	cfg      ListenConfig
	exchange *rateLimit // nil: no limit
}

var _ transport.Conn = (*mseConn)(nil)

func newOutbound(ctx context.Context, d Dialer, addr string, c net.Conn) *mseConn {
	return &mseConn{outbound: true, remote: c.RemoteAddr().String(), ready: make(chan struct{}),
		c: c, done: make(chan struct{}), ctx: ctx, dialer: d, addr: addr}
}

func newInbound(c net.Conn, cfg ListenConfig, exchange *rateLimit) *mseConn {
	return &mseConn{remote: c.RemoteAddr().String(), ready: make(chan struct{}),
		c: c, done: make(chan struct{}), cfg: cfg, exchange: exchange}
}

func (c *mseConn) Network() string    { return transport.TCP }
func (c *mseConn) RemoteAddr() string { return c.remote }
func (c *mseConn) Outbound() bool     { return c.outbound }

// Encryption returns the crypto method the handshake chose: mse.RC4,
// mse.Plaintext (an MSE handshake, then plain bytes), or 0 for a plain
// BitTorrent connection or one whose handshake has not run.
func (c *mseConn) Encryption() mse.Method {
	select {
	case <-c.ready:
		return c.method
	default:
		return 0
	}
}

// Encrypted reports whether the stream is RC4-encrypted (Torrent.Peers
// shows it).
func (c *mseConn) Encrypted() bool { return c.Encryption() == mse.RC4 }

func (c *mseConn) Read(p []byte) (int, error) {
	if !c.outbound {
		c.once.Do(c.accept)
	}
	if err := c.wait(); err != nil {
		return 0, err
	}
	return c.rw.Read(p)
}

func (c *mseConn) Write(p []byte) (int, error) {
	if c.outbound {
		first := false
		c.once.Do(func() { first = true; c.initiate(p) })
		if first {
			if c.err != nil {
				return 0, c.err
			}
			return len(p), nil // p went out as the initial payload (or plain after a fallback)
		}
	}
	if err := c.wait(); err != nil {
		return 0, err
	}
	return c.rw.Write(p)
}

// wait waits for the handshake.
func (c *mseConn) wait() error {
	select {
	case <-c.ready:
		return c.err
	case <-c.done:
		return net.ErrClosed
	}
}

func (c *mseConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	close(c.done)
	return c.c.Close()
}

func (c *mseConn) socket() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c
}

func (c *mseConn) finish(rw io.ReadWriter, m mse.Method, err error) {
	c.rw, c.method, c.err = rw, m, err
	close(c.ready)
}

// initiate runs the outbound handshake with p, the BitTorrent handshake,
// as MSE's initial payload.
func (c *mseConn) initiate(p []byte) {
	sock := c.socket()
	if len(p) < btHandshakeHeader || string(p[:len(protocolHeader)]) != protocolHeader {
		if c.dialer.Encryption == mse.Require {
			c.finish(nil, 0, ErrNotHandshake)
			return
		}
		_, err := sock.Write(p)
		c.finish(sock, 0, err)
		return
	}
	var skey [20]byte
	copy(skey[:], p[btHandshakeHeader-20:btHandshakeHeader])
	dl, ok := c.ctx.Deadline()
	if !ok {
		dl = time.Now().Add(HandshakeTimeout)
	}
	sock.SetDeadline(dl)
	st, err := mse.Initiate(sock, skey, c.dialer.Encryption.Provide(), p, nil)
	sock.SetDeadline(time.Time{})
	if err == nil {
		c.finish(st, st.Method(), nil)
		return
	}
	if c.dialer.Encryption == mse.Require || c.ctx.Err() != nil || isClosed(c) {
		c.finish(nil, 0, fmt.Errorf("tcp: encrypted handshake with %s: %w", c.remote, err))
		return
	}
	// Refused (most likely a peer without MSE that hung up on our key):
	// a new, plain connection, as libtorrent does.
	sock.Close()
	if c.dialer.plain != nil && errors.Is(err, mse.ErrNoPeerKey) {
		c.dialer.plain.add(c.addr, time.Now())
	}
	plain, derr := c.dialer.dial(c.ctx, c.addr)
	if derr != nil {
		c.finish(nil, 0, fmt.Errorf("tcp: encrypted handshake with %s failed (%v), and a plain one could not connect: %w", c.remote, err, derr))
		return
	}
	tune(plain)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		plain.Close()
		c.finish(nil, 0, net.ErrClosed)
		return
	}
	c.c = plain
	c.mu.Unlock()
	_, err = plain.Write(p)
	c.finish(plain, 0, err)
}

func isClosed(c *mseConn) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// accept tells a plain inbound connection from an encrypted one by its
// first bytes, and runs the receiver's MSE handshake for the latter.
func (c *mseConn) accept() {
	sock := c.socket()
	sock.SetDeadline(time.Now().Add(HandshakeTimeout))
	defer sock.SetDeadline(time.Time{})
	// One byte first: anything but 19 cannot be a plain handshake, and an
	// MSE key needs no more sniffing.
	var head [len(protocolHeader)]byte
	n, err := io.ReadFull(sock, head[:1])
	if err == nil && head[0] == protocolHeader[0] {
		var m int
		m, err = io.ReadFull(sock, head[1:])
		n += m
	}
	if err != nil {
		if err == io.ErrUnexpectedEOF || (err == io.EOF && n > 0) {
			err = io.ErrUnexpectedEOF
		}
		c.finish(nil, 0, err)
		return
	}
	if n == len(head) && string(head[:]) == protocolHeader {
		if c.cfg.Encryption == mse.Require {
			c.finish(nil, 0, ErrPlainRefused)
			return
		}
		c.finish(&prefixed{prefix: bytes.Clone(head[:]), ReadWriter: sock}, 0, nil)
		return
	}
	if c.cfg.Encryption == mse.Off || c.cfg.InfoHash == nil {
		c.finish(nil, 0, ErrEncryptedRefused)
		return
	}
	// The whole key first, so that the rate limit counts only key
	// exchanges that will be computed.
	var ya [mse.KeyLen]byte
	copy(ya[:], head[:n])
	if _, err := io.ReadFull(sock, ya[n:]); err != nil {
		c.finish(nil, 0, fmt.Errorf("tcp: encrypted handshake from %s: reading its key: %w", c.remote, err))
		return
	}
	if c.exchange != nil && !c.exchange.allow(time.Now()) {
		c.finish(nil, 0, ErrBusy)
		return
	}
	st, err := mse.Accept(sock, ya[:], mse.AcceptConfig{SKey: c.cfg.InfoHash, Select: c.cfg.Encryption.Select})
	if err != nil {
		c.finish(nil, 0, fmt.Errorf("tcp: encrypted handshake from %s: %w", c.remote, err))
		return
	}
	c.finish(st, st.Method(), nil)
}

// prefixed returns prefix, then reads from the ReadWriter.
type prefixed struct {
	prefix []byte
	io.ReadWriter
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.ReadWriter.Read(b)
}

// rateLimit is a token bucket.
type rateLimit struct {
	mu     sync.Mutex
	rate   float64 // tokens a second
	burst  float64
	tokens float64
	last   time.Time
}

func newRateLimit(rate float64, burst int) *rateLimit {
	return &rateLimit{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// allow takes a token if there is one.
func (r *rateLimit) allow(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() {
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	r.last = now
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}
