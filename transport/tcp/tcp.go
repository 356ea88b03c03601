// Package tcp is the TCP transport: plain BitTorrent connections.
package tcp

import (
	"context"
	"net"
	"time"

	"github.com/swarmcast/swarmcast/transport"
)

// DialTimeout bounds a connection attempt when the caller's context has no
// deadline. Peers that do not answer in 10 s rarely answer at all, and the
// engine has other addresses to try.
const DialTimeout = 10 * time.Second

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

// Wrap turns a net.Conn into a transport.Conn of network "tcp".
func Wrap(c net.Conn, outbound bool) transport.Conn {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(socketBuffer)
		tc.SetWriteBuffer(socketBuffer)
		tc.SetNoDelay(true)
	}
	return &conn{Conn: c, outbound: outbound}
}

// Dialer dials TCP peers.
type Dialer struct {
	// LocalAddr, if set, is the local address to dial from.
	LocalAddr *net.TCPAddr
}

var _ transport.Dialer = Dialer{}

// Dial connects to addr ("host:port").
func (d Dialer) Dial(ctx context.Context, addr string) (transport.Conn, error) {
	nd := net.Dialer{Timeout: DialTimeout}
	if d.LocalAddr != nil {
		nd.LocalAddr = d.LocalAddr
	}
	c, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return Wrap(c, true), nil
}

type listener struct{ l net.Listener }

// Listen listens for TCP peers on addr (":6881", "127.0.0.1:0").
func Listen(addr string) (transport.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &listener{l}, nil
}

func (l *listener) Accept() (transport.Conn, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c, false), nil
}

func (l *listener) Addr() string { return l.l.Addr().String() }
func (l *listener) Close() error { return l.l.Close() }
