// Package webrtc is the WebRTC transport: one ordered, reliable data channel
// per peer, seen by the engine as a byte stream (a transport.Conn of network
// "webrtc"). It is what WebTorrent peers, in browsers and in Node, speak.
//
// Signalling is not this package's job: it produces and consumes complete
// SDP texts, and the caller carries them (a WebSocket tracker, see
// tracker/wstracker). As WebTorrent does, the SDP carries every ICE candidate
// (no trickle), so one message each way is enough: NewOffer gathers the
// offerer's candidates, NewAnswer the answerer's, and both sides then wait for
// the data channel to open (Offer.Accept, Answer.Wait).
//
// Unlike simple-peer, which waits up to 5 s for ICE gathering on each side,
// the SDP is handed out as soon as gathering completes: on loopback that is a
// few milliseconds.
//
// Natively the data channel is detached from pion's callbacks and read as a
// stream; under js/wasm the browser's RTCDataChannel is used through pion's
// wrappers, with the same API.
package webrtc

import (
	"errors"
	"log/slog"
	"strings"
	"time"
)

// Sizes and limits of the data channel.
const (
	// MaxWriteMessage is the largest data channel message Write sends: a
	// write is split into messages of at most this size. 16 KiB is what
	// every browser accepts in both directions (RFC 8831 section 6.6), and it
	// is one BitTorrent block.
	MaxWriteMessage = 16 << 10

	// MaxReadMessage is the largest message accepted from the peer, and
	// the max-message-size this side announces in its SDP. Chromium
	// announces 256 KiB and sends at most that; simple-peer sends every
	// BitTorrent message as one data channel message (16 KiB + 13 bytes for
	// a piece).
	MaxReadMessage = 256 << 10
)

// DefaultGatherTimeout bounds ICE candidate gathering when
// Config.GatherTimeout is zero. Gathering host candidates takes
// milliseconds; the bound matters only when a STUN server does not answer,
// and matches simple-peer's upper bound, after which the SDP is sent with the
// candidates found so far.
const DefaultGatherTimeout = 5 * time.Second

// Errors of the transport.
var (
	// ErrClosed is returned by a Conn's Read and Write after Close, and by
	// an Offer's or Answer's methods after their Close.
	ErrClosed = errors.New("webrtc: connection closed")

	// ErrFailed is returned when ICE or DTLS fails before the data channel
	// opens: the peers could not reach each other (different networks
	// without a STUN server, or a firewall between them).
	ErrFailed = errors.New("webrtc: connection failed: the peers could not reach each other (check ICE servers and network)")

	// ErrBadSDP wraps pion's reason when a remote SDP cannot be used.
	ErrBadSDP = errors.New("webrtc: unusable session description")

	// ErrMessageTooLarge is returned by Read when the peer sends a message
	// larger than MaxReadMessage, which it was told not to.
	ErrMessageTooLarge = errors.New("webrtc: peer sent a message larger than the announced max-message-size")
)

// Config configures the peer connections this package opens. The zero value
// gathers host candidates on every non-loopback interface and uses no ICE
// server, which connects peers on one network.
type Config struct {
	// ICEServers are STUN server URLs ("stun:host:port") used to find this
	// host's public address. TURN servers are not supported yet.
	ICEServers []string

	// Loopback restricts ICE to IPv4 loopback host candidates
	// (127.0.0.1, UDP) with mDNS off: for tests and for machines whose only
	// network is loopback, where pion would otherwise offer no candidate at
	// all. Peers on other hosts cannot reach a loopback-only offer. It is
	// ignored under js/wasm, where the browser decides.
	Loopback bool

	// GatherTimeout bounds ICE gathering; zero means DefaultGatherTimeout.
	GatherTimeout time.Duration

	// Logger receives debug logs, pion's warnings and errors among them;
	// nil means no logging.
	Logger *slog.Logger
}

func (cfg *Config) gatherTimeout() time.Duration {
	if cfg.GatherTimeout > 0 {
		return cfg.GatherTimeout
	}
	return DefaultGatherTimeout
}

func (cfg *Config) logger() *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// filterTrickle removes the ice-options:trickle attribute from an SDP, as
// simple-peer does for its non-trickle peers: the SDP already holds every
// candidate and none will follow.
func filterTrickle(sdp string) string {
	if !strings.Contains(sdp, "a=ice-options:trickle") {
		return sdp
	}
	lines := strings.SplitAfter(sdp, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.TrimRight(l, "\r\n") == "a=ice-options:trickle" {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}

// dropEchoedSCTPInit removes from an answer an a=sctp-init line that repeats
// the offer's own. libdatachannel (WebTorrent in Node, through
// node-datachannel) copies the application section's attributes it does not
// know into its answer, our SCTP INIT among them; pion then takes that INIT
// for the answerer's and skips the SCTP handshake (SNAP) with a verification
// tag the answerer never chose, and the answerer drops every packet of the
// data channel: it opened on our side and never on theirs. Without the line
// SCTP shakes hands as with any peer that does not speak SNAP.
func dropEchoedSCTPInit(offer, answer string) string {
	const attr = "a=sctp-init:"
	ours := ""
	for _, l := range strings.Split(offer, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), attr); ok {
			ours = v
			break
		}
	}
	if ours == "" || !strings.Contains(answer, attr+ours) {
		return answer
	}
	lines := strings.SplitAfter(answer, "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.TrimRight(l, "\r\n") == attr+ours {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "")
}
