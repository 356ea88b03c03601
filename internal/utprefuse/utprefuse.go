// Package utprefuse answers uTP connection requests (BEP 29) with a RESET.
//
// swarmcast does not speak uTP. libtorrent-based clients (qBittorrent,
// Deluge) try uTP on a peer's port before TCP; unanswered (or answered
// only by an ICMP port-unreachable, which they ignore) they wait out their
// uTP connect timeout, ~5 s, before they try TCP. A RESET makes them fall
// back to TCP at once: libtorrent's connect_failed marks the peer as not
// speaking uTP and reconnects over TCP. The DHT's socket, which owns the
// UDP side of the engine's port when the DHT runs, answers with IsSyn and
// ResetFor; Serve does it on a socket of its own otherwise.
package utprefuse

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"
)

const (
	// HeaderLen is the length of a uTP header, and of the RESET sent.
	HeaderLen = 20
	synByte   = 0x41 // type ST_SYN (4), version 1
	resetByte = 0x31 // type ST_RESET (3), version 1
	// ResetsPerSecond bounds the RESETs a Limiter lets through. A RESET is
	// no larger than the SYN it answers, so a spoofed flood gains no
	// amplification; the bound keeps one from costing much CPU either.
	ResetsPerSecond = 200
)

// IsSyn reports whether datagram b is a uTP connection request. KRPC (DHT)
// messages start with 'd', so the two never clash.
func IsSyn(b []byte) bool { return len(b) >= HeaderLen && b[0] == synByte }

// ResetFor returns the RESET answering SYN syn: it carries the connection
// id of the SYN (the id the initiator receives on) and acknowledges the
// SYN's sequence number.
func ResetFor(syn []byte, now time.Time) []byte {
	r := make([]byte, HeaderLen)
	r[0] = resetByte
	copy(r[2:4], syn[2:4]) // connection_id
	binary.BigEndian.PutUint32(r[4:8], uint32(now.UnixMicro()))
	copy(r[18:20], syn[16:18]) // ack_nr = the SYN's seq_nr
	return r
}

// Limiter is a token bucket of ResetsPerSecond. The zero value is ready.
type Limiter struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// Allow takes a token if there is one.
func (l *Limiter) Allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		l.tokens = ResetsPerSecond
	} else {
		l.tokens = min(ResetsPerSecond, l.tokens+now.Sub(l.last).Seconds()*ResetsPerSecond)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// Refuse answers syn from addr on conn with a RESET if the limiter allows
// it.
func Refuse(conn net.PacketConn, l *Limiter, syn []byte, addr net.Addr) {
	now := time.Now()
	if l.Allow(now) {
		conn.WriteTo(ResetFor(syn, now), addr)
	}
}

// readErrorPause is the wait after a read error other than a closed
// socket, so that a persistent one cannot spin a core.
const readErrorPause = 10 * time.Millisecond

// Serve reads conn until it is closed, answering every uTP SYN with a
// RESET (within ResetsPerSecond) and dropping everything else. It returns
// the number of SYNs seen.
func Serve(conn net.PacketConn) int {
	var l Limiter
	buf := make([]byte, 2048)
	seen := 0
	for {
		n, addr, err := conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return seen
		}
		if err != nil {
			time.Sleep(readErrorPause)
			continue
		}
		if IsSyn(buf[:n]) {
			seen++
			Refuse(conn, &l, buf[:n], addr)
		}
	}
}
