//go:build !js

package webrtc

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	ptransport "github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	pion "github.com/pion/webrtc/v4"
)

// udpSocketBuffer is the kernel receive and send buffer asked for each ICE
// UDP socket. Linux's default (208 KiB) overflows on loopback when the
// peer sends a full SCTP window (1 MiB) in one burst, and every dropped
// packet halves SCTP's congestion window: TestBulk and BenchmarkConn ran
// 2-3 times faster with 4 MiB. The kernel caps it at net.core.rmem_max.
const udpSocketBuffer = 4 << 20

// initialCwnd is the SCTP congestion window a connection starts with: ten
// packets of pion/sctp's 1,191-byte initial MTU, as TCP's initial window
// (RFC 6928) is ten segments. pion starts at 4,380 bytes (RFC 4960), so a
// 16 KiB block took three round trips to arrive over a fresh channel; with
// ten packets it takes two (BenchmarkLink, 101 ms: 321 -> 210 ms).
// pion's only knob is a floor (SetSCTPMinCwnd), so the window also never
// falls below ten packets after a loss, where RFC 4960 allows one packet
// after a timeout: 12 kB per round trip, well under what a sender backing
// off for a shared link gives up.
const initialCwnd = 10 * 1191

// receiveWindow is the SCTP receive buffer each connection advertises to
// its peer: what may be in flight on a path at once. pion's default, 1 MiB,
// caps a path at 1 MiB per round trip (~25 MB/s at 41 ms, ~10 at 101 ms);
// across emulated paths (BenchmarkLink, 32 MiB, with the sctp fixes below)
// 4 MiB moved 101 ms from 8.3 to 11.3-14.6 MB/s and 41 ms from 17.8 to
// 18-26, and 8 MiB moved neither further. A bigger window means bigger bursts after a loss, which
// stock pion/sctp recovered from slowly enough to collapse behind a
// drop-tail queue; the copy in third_party/pion/sctp recovers in a round
// trip or two (third_party/README.md). It bounds memory too: pion holds
// at most this much of a peer's data that the engine has not read, per
// connection.
const receiveWindow = 4 << 20

// newAPI returns a pion API for one peer connection: detached data
// channels, no media, pion's logs sent to the Logger. Call flushLog once
// the peer connection is closed: it logs the packet drops not yet reported.
func newAPI(cfg *Config) (api *pion.API, flushLog func()) {
	var se pion.SettingEngine
	se.DetachDataChannels()
	se.SetSCTPMaxMessageSize(MaxReadMessage)
	se.SetSCTPMinCwnd(initialCwnd)
	se.SetSCTPMaxReceiveBufferSize(receiveWindow)
	// Three round trips fewer before the channel opens between two
	// swarmcast peers (BenchmarkLink, 101 ms: 657 -> 373 ms). SNAP carries the SCTP INIT in the SDP (sctp-init,
	// draft-hancke-tsvwg-snap), which removes SCTP's four-way handshake
	// when both peers offer it, as two swarmcast peers do; with any other
	// peer the attribute is ignored and SCTP shakes hands as before. The
	// DTLS cookie exchange (HelloVerifyRequest) guards a server against
	// spoofed source addresses; here DTLS starts only after ICE's
	// authenticated checks have proved the peer's address, so it adds a
	// round trip and nothing else.
	se.EnableSctpSnap(true)
	se.SetDTLSInsecureSkipHelloVerify(true)
	logs := newPionLoggerFactory(cfg.logger())
	se.LoggerFactory = logs
	if n, err := stdnet.NewNet(); err == nil {
		se.SetNet(bufferedNet{n})
	}
	if cfg.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	// An empty media engine and interceptor registry: pion's defaults
	// register audio and video codecs and start four RTP interceptor
	// goroutines per connection, none of which a data channel uses.
	api = pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(&pion.MediaEngine{}),
		pion.WithInterceptorRegistry(&interceptor.Registry{}))
	return api, func() { logs.drops.flush(logs.log) }
}

// pionLoggerFactory sends pion's log to a slog.Logger. Most of pion's
// warnings and errors go at debug level: a peer that vanishes makes pion log
// errors that are routine for us. What says that data was lost or that the
// peer broke the protocol goes at warning level, so it shows in a normal
// log: received packets pion dropped because a buffer was full (its mux
// logs each as info, its ICE agent each as a warning; they are counted and
// reported at most once per pionDropReportInterval), and SCTP packets it
// could not parse or validate. pion's debug and trace output, per packet, is
// dropped.
type pionLoggerFactory struct {
	log   *slog.Logger
	drops *dropReport // shared by the loggers of one peer connection
}

func newPionLoggerFactory(log *slog.Logger) pionLoggerFactory {
	return pionLoggerFactory{log: log, drops: &dropReport{now: time.Now}}
}

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log, scope: scope, drops: f.drops}
}

// pionDropReportInterval is how often at most the count of packets pion's
// mux dropped is logged: the mux drops packet by packet, hundreds a second
// when it overflows (issue 16 saw 32 to 1,024 per 64 MiB transfer).
const pionDropReportInterval = time.Second

// pionMuxDropMsg is how pion/webrtc's mux (internal/mux, v4.2) logs a packet
// it dropped because the endpoint's 1 MB buffer was full.
const pionMuxDropMsg = "mux: endpoint buffer is full, dropping packet"

// pionICEDropFmt is how pion/ice's agent (v4.4) logs a received packet it
// could not hand on, which it then drops: its own 1 MB buffer, in front of
// the mux, was full (packetio.ErrFull). With the mux's buffer made larger
// (the pion/webrtc patch in pionpatches), the drops moved there.
const pionICEDropFmt = "Failed to write packet: %s"

// pionDropMsg is the warning that reports the counted drops.
const pionDropMsg = "webrtc: pion dropped received packets: a buffer was full (the receiver lags; the sender will retransmit)"

// pionSCTPWarnings are the pion/sctp warnings that mean a peer's packet was
// refused, as opposed to routine ones when a peer goes away (failed
// writes and closes).
var pionSCTPWarnings = []string{"protocol violation", "unable to parse SCTP packet", "failed validating packet"}

// dropReport counts the received packets pion dropped (in its mux or its
// ICE agent) and logs the count at most once per pionDropReportInterval.
type dropReport struct {
	now   func() time.Time
	mu    sync.Mutex
	n     int // dropped since the last report
	total int
	last  time.Time // of the last report
}

func (d *dropReport) add(log *slog.Logger) {
	d.mu.Lock()
	d.n++
	d.total++
	now := d.now()
	if !d.last.IsZero() && now.Sub(d.last) < pionDropReportInterval {
		d.mu.Unlock()
		return
	}
	n, total := d.n, d.total
	d.n, d.last = 0, now
	d.mu.Unlock()
	log.Warn(pionDropMsg, "dropped", n, "total", total)
}

// flush logs the drops not yet reported.
func (d *dropReport) flush(log *slog.Logger) {
	d.mu.Lock()
	n, total := d.n, d.total
	d.n = 0
	d.mu.Unlock()
	if n > 0 {
		log.Warn(pionDropMsg, "dropped", n, "total", total)
	}
}

type pionLogger struct {
	log   *slog.Logger
	scope string
	drops *dropReport
}

func (l pionLogger) emit(level, msg string) {
	if l.scope == "sctp" && level == "warning" {
		for _, w := range pionSCTPWarnings {
			if strings.Contains(msg, w) {
				l.log.Warn("webrtc: pion: "+msg, "scope", l.scope)
				return
			}
		}
	}
	l.log.Debug("pion "+level+": "+msg, "scope", l.scope)
}

func (l pionLogger) emitf(level, format string, args ...any) {
	if l.scope == "sctp" || l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.emit(level, fmt.Sprintf(format, args...))
	}
}

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (l pionLogger) Info(msg string) {
	if msg == pionMuxDropMsg {
		l.drops.add(l.log)
	}
}
func (l pionLogger) Infof(format string, args ...any) {
	if format == pionMuxDropMsg {
		l.drops.add(l.log)
	}
}
func (l pionLogger) Warn(msg string) { l.emit("warning", msg) }
func (l pionLogger) Warnf(format string, args ...any) {
	if l.scope == "ice" && format == pionICEDropFmt {
		l.drops.add(l.log)
		return
	}
	l.emitf("warning", format, args...)
}
func (l pionLogger) Error(msg string) { l.emit("error", msg) }
func (l pionLogger) Errorf(format string, args ...any) {
	l.emitf("error", format, args...)
}

// bufferedNet is the host's network with larger UDP socket buffers.
type bufferedNet struct{ *stdnet.Net }

func (n bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (ptransport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	if uc, ok := c.(*net.UDPConn); ok {
		uc.SetReadBuffer(udpSocketBuffer)
		uc.SetWriteBuffer(udpSocketBuffer)
	}
	return c, nil
}
