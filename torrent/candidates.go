package torrent

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/swarmcast/swarmcast/internal/hostport"
	"github.com/swarmcast/swarmcast/transport"
)

// PeerSource says where an address to dial came from. It decides how many
// addresses of that kind are kept, how a failing one is retried, and when
// it is forgotten.
type PeerSource uint8

// The sources of addresses. The zero value is SourceUser.
const (
	// SourceUser is an address the user gave (--peer, a magnet's x.pe):
	// retried soon and for as long as the torrent runs.
	SourceUser PeerSource = iota
	SourceTracker
	SourceDHT
	SourcePEX
	SourceLSD
	numSources
)

var sourceNames = [numSources]string{"user", "tracker", "dht", "pex", "lsd"}

// String returns the source's name as Stats and the JSON API show it.
func (s PeerSource) String() string {
	if s < numSources {
		return sourceNames[s]
	}
	return "unknown"
}

// sourceLimits bounds the addresses kept from each source, so that one
// source (PEX, fed by any connected peer) cannot push out the others
// (trackers, LSD, the user's). A tracker answers with at most 50-200; a
// DHT get_peers walk with a few hundred; PEX with at most 50 per message.
var sourceLimits = [numSources]int{
	SourceUser:    256,
	SourceTracker: 512,
	SourceDHT:     512,
	SourcePEX:     256,
	SourceLSD:     128,
}

// Redial timing. A peer that refused us is often just not listening yet (a
// client still starting); libtorrent retries after a few seconds, growing.
// Addresses the user gave start sooner and are never given up; discovered
// ones back off further and are dropped after maxDiscoveredFailures.
const (
	userRedialFirst       = 1 * time.Second
	userRedialMax         = 30 * time.Second
	redialFirst           = 2 * time.Second
	redialMax             = 5 * time.Minute
	maxDiscoveredFailures = 8 // 2+4+...+256 s ≈ 8.5 min of trying
	// redialAfterClose is the pause before redialling a peer whose
	// connection ended after a healthy while (it closed on us, or we
	// dropped it).
	redialAfterClose = 30 * time.Second
	// shortConnection: a connection that ended sooner than this counts as
	// a failed attempt, so a peer that accepts and hangs up at once is
	// redialled with the growing backoff, not every second.
	shortConnection = 30 * time.Second
)

// candidate is an address we may dial.
type candidate struct {
	network, addr string
	source        PeerSource
	added         time.Time
	nextTry       time.Time
	failures      int
	lastErr       string
	connected     bool
	dialing       bool
	everConnected bool
	self          bool // our own address: never dialled
	local         bool // on a local network (Config.LocalNetworks): dialled first
}

// candidateList is the bounded set of addresses to dial. Owner state.
type candidateList struct {
	byAddr  map[string]*candidate
	perSrc  [numSources]int
	limits  [numSources]int
	rng     *rand.Rand
	isLocal func(netip.Addr) bool // nil: private, loopback and link-local
	failing int                   // candidates whose last dial failed
	lastErr string
}

func newCandidateList(rng *rand.Rand) *candidateList {
	return &candidateList{byAddr: map[string]*candidate{}, limits: sourceLimits, rng: rng}
}

func (l *candidateList) get(addr string) *candidate { return l.byAddr[addr] }

func (l *candidateList) len() int { return len(l.byAddr) }

// add records an address: "host:port" (TCP) or "network://host:port". It
// reports the candidate, or nil when the address is malformed or the
// source's share is full of addresses worth more than a new one.
func (l *candidateList) add(src PeerSource, a string, now time.Time) *candidate {
	network, addr := transport.TCP, a
	if n, rest, ok := strings.Cut(a, "://"); ok {
		network, addr = n, rest
	}
	host, port, err := hostport.Split(addr)
	if err != nil || host == "" || port == "" || port == "0" {
		return nil
	}
	if src >= numSources {
		src = SourcePEX
	}
	if c := l.byAddr[addr]; c != nil {
		// A user's word or a better source upgrades what is known; a
		// failing address another source vouches for again gets a new try.
		if src < c.source {
			l.perSrc[c.source]--
			c.source = src
			l.perSrc[src]++
		}
		if src == SourceUser && c.failures > 0 && !c.dialing {
			c.nextTry = now
		}
		return c
	}
	if l.perSrc[src] >= l.limits[src] && !l.evict(src) {
		return nil
	}
	c := &candidate{network: network, addr: addr, source: src, added: now}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		ip := ap.Addr().Unmap()
		if l.isLocal != nil {
			c.local = l.isLocal(ip)
		} else {
			c.local = ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast()
		}
	}
	l.byAddr[addr] = c
	l.perSrc[src]++
	return c
}

// evict makes room in src's share: the address that failed most goes
// first, then the oldest one never connected. Connected, dialling and
// once-connected addresses stay. It reports whether one went.
func (l *candidateList) evict(src PeerSource) bool {
	var worst *candidate
	for _, c := range l.byAddr {
		if c.source != src || c.connected || c.dialing || c.everConnected {
			continue
		}
		if worst == nil || c.failures > worst.failures ||
			(c.failures == worst.failures && c.added.Before(worst.added)) {
			worst = c
		}
	}
	if worst == nil || (worst.failures == 0 && src == SourceUser) {
		return false
	}
	l.remove(worst)
	return true
}

func (l *candidateList) remove(c *candidate) {
	if l.byAddr[c.addr] != c {
		return
	}
	if c.failures > 0 {
		l.failing--
	}
	delete(l.byAddr, c.addr)
	l.perSrc[c.source]--
}

// backoff is how long to wait after the n-th failure in a row: doubling
// from the first wait, capped, with ±25% jitter so that many addresses that
// failed together are not retried together.
func (l *candidateList) backoff(c *candidate) time.Duration {
	first, most := redialFirst, redialMax
	if c.source == SourceUser {
		first, most = userRedialFirst, userRedialMax
	}
	d := first << min(c.failures-1, 16)
	if d > most || d <= 0 {
		d = most
	}
	jitter := time.Duration(l.rng.Int64N(int64(d)/2+1)) - d/4
	return d + jitter
}

// dialFailed records a failed dial or handshake and schedules the next try,
// or forgets a discovered address that kept failing.
func (l *candidateList) dialFailed(c *candidate, reason string, now time.Time) {
	c.dialing = false
	l.countFailure(c)
	c.lastErr = reason
	l.lastErr = reason
	if c.source != SourceUser && c.failures >= maxDiscoveredFailures {
		l.remove(c)
		return
	}
	c.nextTry = now.Add(l.backoff(c))
}

// countFailure adds one to c's failures in a row (and to the addresses
// failing, at the first).
func (l *candidateList) countFailure(c *candidate) {
	if c.failures == 0 {
		l.failing++
	}
	c.failures++
}

// connected records a connection to the address: its failures are reset.
func (l *candidateList) connectedTo(c *candidate) {
	if c.failures > 0 {
		l.failing--
	}
	c.connected, c.everConnected, c.dialing, c.failures, c.lastErr = true, true, false, 0, ""
}

// disconnected records the end of a connection to the address that began
// at since. A short one counts as a failure (it is redialled soon, then
// less and less often); after a long one the address waits
// redialAfterClose, or only the first backoff if the user gave it.
func (l *candidateList) disconnected(c *candidate, since, now time.Time) {
	c.connected = false
	if now.Sub(since) < shortConnection {
		l.countFailure(c)
		c.nextTry = now.Add(l.backoff(c))
		return
	}
	c.nextTry = now.Add(redialAfterClose)
	if c.source == SourceUser {
		c.nextTry = now.Add(userRedialFirst)
	}
}

// ready returns the candidates that may be dialled now, local ones first,
// user-given ones before discovered ones.
func (l *candidateList) ready(now time.Time, banned func(addr string) bool, out []*candidate) []*candidate {
	out = out[:0]
	for _, c := range l.byAddr {
		if c.connected || c.dialing || c.self || now.Before(c.nextTry) || banned(c.addr) {
			continue
		}
		out = append(out, c)
	}
	rank := func(c *candidate) int {
		r := 0
		if !c.local {
			r += 2
		}
		if c.source != SourceUser {
			r++
		}
		return r
	}
	slices.SortStableFunc(out, func(a, b *candidate) int { return rank(a) - rank(b) })
	return out
}

// countBySource returns how many addresses each source gave.
func (l *candidateList) countBySource() map[string]int {
	m := map[string]int{}
	for s := PeerSource(0); s < numSources; s++ {
		if l.perSrc[s] > 0 {
			m[s.String()] = l.perSrc[s]
		}
	}
	return m
}
