//go:build !js

package webrtc

import (
	"context"
	"fmt"
	"log/slog"
	"net"

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
// ten packets it takes two (BenchmarkLink, 101 ms: 321 -> see the commit).
// pion's only knob is a floor (SetSCTPMinCwnd), so the window also never
// falls below ten packets after a loss, where RFC 4960 allows one packet
// after a timeout: 12 kB per round trip, well under what a sender backing
// off for a shared link gives up.
const initialCwnd = 10 * 1191

// newAPI returns a pion API for one peer connection: detached data
// channels, no media, pion's logs sent to the Logger.
func newAPI(cfg *Config) *pion.API {
	var se pion.SettingEngine
	se.DetachDataChannels()
	se.SetSCTPMaxMessageSize(MaxReadMessage)
	se.SetSCTPMinCwnd(initialCwnd)
	se.LoggerFactory = pionLoggerFactory{cfg.logger()}
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
	return pion.NewAPI(pion.WithSettingEngine(se), pion.WithMediaEngine(&pion.MediaEngine{}),
		pion.WithInterceptorRegistry(&interceptor.Registry{}))
}

// pionLoggerFactory sends pion's warnings and errors to a slog.Logger at
// debug level: a peer that vanishes makes pion log errors that are routine
// for us. pion's debug and trace output, per packet, is dropped.
type pionLoggerFactory struct{ log *slog.Logger }

func (f pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log, scope: scope}
}

type pionLogger struct {
	log   *slog.Logger
	scope string
}

func (l pionLogger) emit(level, msg string) {
	l.log.Debug("pion "+level+": "+msg, "scope", l.scope)
}

func (l pionLogger) emitf(level, format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.emit(level, fmt.Sprintf(format, args...))
	}
}

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (pionLogger) Info(string)           {}
func (pionLogger) Infof(string, ...any)  {}
func (l pionLogger) Warn(msg string)     { l.emit("warning", msg) }
func (l pionLogger) Warnf(format string, args ...any) {
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
