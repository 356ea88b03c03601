// Package tcp is the TCP transport: BitTorrent connections, plain or
// encrypted with MSE (package mse) by policy. A listener accepts both on one
// port and tells them apart by their first bytes.
package tcp

import (
	"context"
	"net"
	"time"

	"github.com/swarmcast/swarmcast/mse"
	"github.com/swarmcast/swarmcast/transport"
)

// DialTimeout bounds a connection attempt when the caller's context has no
// deadline. Peers that do not answer in 10 s rarely answer at all, and the
// engine has other addresses to try.
const DialTimeout = 10 * time.Second

// HandshakeTimeout bounds an inbound encrypted handshake (the engine bounds
// the whole BitTorrent handshake too, by closing the connection; this is a
// second line for programs that do not). 20 s is the engine's handshake
// timeout.
const HandshakeTimeout = 20 * time.Second

// Each MSE key exchange costs the receiver two 768-bit modular
// exponentiations (~0.3 ms of a core here, BenchmarkHandshake in package
// mse), which a peer buys with 96 bytes. A listener begins at most
// keyExchangeRate a second (bursts of keyExchangeBurst), a quarter of a core
// at most; past that, encrypted connections are refused (a Prefer peer then
// connects plain) and plain ones are served as ever.
const (
	keyExchangeRate  = 1000
	keyExchangeBurst = 128
)

// socketBuffer is the kernel send and receive buffer asked for each
// connection: 4 MiB covers the bandwidth-delay product of a gigabit link with
// 30 ms of latency, and lets loopback transfers run without stalls.
const socketBuffer = 4 << 20

type conn struct {
	net.Conn
	outbound bool
}

var _ transport.Conn = (*conn)(nil)

func (c *conn) Network() string    { return transport.TCP }
func (c *conn) RemoteAddr() string { return c.Conn.RemoteAddr().String() }
func (c *conn) Outbound() bool     { return c.outbound }

// Wrap turns a net.Conn into a transport.Conn of network "tcp" that carries
// bytes as they are (no encryption).
func Wrap(c net.Conn, outbound bool) transport.Conn {
	tune(c)
	return &conn{Conn: c, outbound: outbound}
}

func tune(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(socketBuffer)
		tc.SetWriteBuffer(socketBuffer)
		tc.SetNoDelay(true)
	}
}

// Dialer dials TCP peers.
type Dialer struct {
	// LocalAddr, if set, is the local address to dial from.
	LocalAddr *net.TCPAddr
	// Encryption is the MSE policy for connections we open: mse.Off (the
	// zero value) dials plain, mse.Prefer tries an encrypted handshake
	// first and dials plain when the peer refuses it, mse.Require
	// encrypts or fails.
	Encryption mse.Policy

	plain *plainPeers // addresses that refused MSE; nil remembers none
}

// NewDialer returns a Dialer with the given policy that remembers, for an
// hour, the addresses (at most 4,096) that refused an encrypted handshake,
// and dials them plain at once next time. A Dialer made as a literal does
// not remember.
func NewDialer(policy mse.Policy) Dialer {
	return Dialer{Encryption: policy, plain: newPlainPeers()}
}

var _ transport.Dialer = Dialer{}

// Dial connects to addr ("host:port"). With encryption, the MSE handshake
// runs when the caller writes its BitTorrent handshake (which names the
// torrent, the key MSE needs), and carries it as the initial payload; a
// refused handshake falls back to a new plain connection (mse.Prefer) or is
// an error (mse.Require) returned by that Write.
func (d Dialer) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	c, err := d.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if d.Encryption == mse.Off || d.Encryption == mse.Prefer && d.plain != nil && d.plain.has(addr, time.Now()) {
		return Wrap(c, true), nil
	}
	tune(c)
	return newOutbound(ctx, d, addr, c), nil
}

func (d Dialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: DialTimeout}
	if d.LocalAddr != nil {
		nd.LocalAddr = d.LocalAddr
	}
	return nd.DialContext(ctx, "tcp", addr)
}

// ListenConfig configures a listener.
type ListenConfig struct {
	// Encryption is the MSE policy for connections peers open: mse.Off
	// (the zero value) accepts plain ones only, mse.Prefer plain and
	// encrypted ones, mse.Require only those that choose RC4.
	Encryption mse.Policy
	// InfoHash finds the torrent an encrypted connection asks for by
	// skeyHash, which is mse.SKeyHash of its info hash, and returns the info
	// hash. Nil refuses encrypted connections. It is called once per
	// encrypted connection, from the goroutine that first reads it.
	InfoHash func(skeyHash [20]byte) (infoHash [20]byte, ok bool)
}

type listener struct {
	l        net.Listener
	cfg      ListenConfig
	exchange *rateLimit // MSE key exchanges begun
}

// Listen listens for TCP peers on addr (":6881", "127.0.0.1:0") with the
// zero ListenConfig: plain connections only.
func Listen(addr string) (transport.Listener, error) {
	return ListenConfig{}.Listen(addr)
}

// Listen listens for TCP peers on addr. Accept returns at once; an
// accepted connection finds out whether it is plain or encrypted (and runs
// the MSE handshake) on its first Read, in the caller's goroutine.
func (lc ListenConfig) Listen(addr string) (transport.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &listener{l: l, cfg: lc, exchange: newRateLimit(keyExchangeRate, keyExchangeBurst)}, nil
}

func (l *listener) Accept() (transport.Conn, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	if l.cfg.Encryption == mse.Off {
		// Nothing to tell apart: the engine refuses what is not a
		// BitTorrent handshake.
		return Wrap(c, false), nil
	}
	tune(c)
	return newInbound(c, l.cfg, l.exchange), nil
}

func (l *listener) Addr() string { return l.l.Addr().String() }
func (l *listener) Close() error { return l.l.Close() }
