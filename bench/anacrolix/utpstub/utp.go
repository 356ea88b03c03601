// Package utp stands in for github.com/anacrolix/go-utp: it has the API that
// anacrolix/torrent v1.62.0 compiles against, and every constructor returns
// ErrUnavailable, so a client built with it speaks TCP only (run it with
// --no-utp-peers).
package utp

import (
	"context"
	"errors"
	"log/slog"
	"net"
)

// ErrUnavailable is returned by every constructor of this stub.
var ErrUnavailable = errors.New("utp: not available in this build (stub of github.com/anacrolix/go-utp)")

// Default names the implementation, as go-utp's Default does.
const Default = "utp-stub"

// FirewallCallback decides whether to refuse a remote address.
type FirewallCallback = func(net.Addr) bool

// Option configures a Socket.
type Option func(*options)

type options struct{ logger *slog.Logger }

// WithLogger sets the socket's logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Socket is a uTP socket: a packet conn that accepts and dials streams.
type Socket interface {
	net.PacketConn
	Accept() (net.Conn, error)
	Addr() net.Addr
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	SetFirewallCallback(FirewallCallback)
}

// NewSocket always fails with ErrUnavailable.
func NewSocket(network, addr string, opts ...Option) (Socket, error) { return nil, ErrUnavailable }

// NewSocketFromPacketConn always fails with ErrUnavailable.
func NewSocketFromPacketConn(pc net.PacketConn, opts ...Option) (Socket, error) {
	return nil, ErrUnavailable
}
