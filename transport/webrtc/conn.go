package webrtc

import "github.com/swarmcast/swarmcast/transport"

var _ transport.Conn = (*Conn)(nil)

// Network returns transport.WebRTC.
func (c *Conn) Network() string { return transport.WebRTC }

// RemoteAddr returns the remote address of the ICE candidate pair the
// connection uses ("192.0.2.7:50123"), or "webrtc" when it is not known.
func (c *Conn) RemoteAddr() string { return c.remote }

// Outbound reports whether this side made the offer.
func (c *Conn) Outbound() bool { return c.outbound }

// Encrypted reports true: a data channel runs over DTLS.
func (c *Conn) Encrypted() bool { return true }
