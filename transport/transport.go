// Package transport is the contract between the engine and the ways bytes
// reach a peer: TCP, WebRTC data channels, and later uTP. The engine sees
// only byte streams that know which kind they are, so it never imports a
// transport.
package transport

import (
	"context"
	"io"
)

// Network names, used to count bytes by source kind.
const (
	TCP     = "tcp"
	WebRTC  = "webrtc"
	UTP     = "utp"
	WebSeed = "webseed"
)

// Conn is a reliable, ordered byte stream to one peer.
type Conn interface {
	io.ReadWriteCloser
	// Network returns the kind of transport: TCP, WebRTC, UTP.
	Network() string
	// RemoteAddr returns the peer's address as text ("1.2.3.4:6881"); for a
	// WebRTC peer, whatever identifies it best.
	RemoteAddr() string
	// Outbound reports whether we opened the connection.
	Outbound() bool
}

// Dialer opens connections to peers at addresses of its network.
type Dialer interface {
	Dial(ctx context.Context, addr string) (Conn, error)
}

// Listener accepts connections from peers.
type Listener interface {
	// Accept waits for the next connection. After Close it returns an error.
	Accept() (Conn, error)
	// Addr returns the address the listener is bound to ("[::]:6881").
	Addr() string
	Close() error
}

// OriginError is why an HTTP origin presented as a peer (a web seed)
// cannot serve: it ignores Range requests, answers 4xx/5xx, or sends the
// wrong bytes. A web seed's connection ends with it, so that the engine,
// which knows nothing of HTTP, can tell the user what is wrong with the
// origin apart from a connection it closed itself.
type OriginError struct {
	URL string
	Err error
}

// Error says which origin failed and how, starting with "webseed ".
func (e *OriginError) Error() string { return "webseed " + e.URL + ": " + e.Err.Error() }

// Unwrap returns the origin's failure.
func (e *OriginError) Unwrap() error { return e.Err }
