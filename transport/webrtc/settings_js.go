//go:build js

package webrtc

import pion "github.com/pion/webrtc/v4"

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
)

// newAPI returns a pion API for one peer connection, and a function that
// does nothing (the native build logs there what pion's logs left
// unreported). In the browser, ICE settings are the browser's own;
// Config.Loopback has no effect.
func newAPI(*Config) (*pion.API, func()) { return pion.NewAPI(), func() {} }

func closePeerConnection(pc *pion.PeerConnection) { pc.Close() }
