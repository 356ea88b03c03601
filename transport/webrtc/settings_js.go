//go:build js

package webrtc

import pion "github.com/pion/webrtc/v4"

// newAPI returns a pion API for one peer connection. In the browser, ICE
// settings are the browser's own; Config.Loopback has no effect.
func newAPI(*Config) *pion.API { return pion.NewAPI() }

func closePeerConnection(pc *pion.PeerConnection) { pc.Close() }
