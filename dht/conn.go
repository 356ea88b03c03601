package dht

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmcast/swarmcast/internal/utprefuse"
)

// Limits on what other nodes can make us do, whatever they send.
const (
	// queriesPerIP and queryBurstPerIP bound the queries one IP address
	// gets handled. libtorrent blocks a node past 5 queries a second
	// (dht_block_ratelimit); we allow four times that, so that an honest
	// node running several lookups at once (one per torrent) is not cut.
	queriesPerIP    = 20
	queryBurstPerIP = 40
	// maxQueriesPerSecond bounds the queries handled from all nodes
	// together: each costs a reply, and replies are limited anyway by the
	// library's send limiter (sendRate).
	maxQueriesPerSecond = 500
	// maxTrackedIPs bounds the per-IP rate table. When it is full, the
	// entries of addresses quiet for a second (a full bucket again) are
	// dropped; if none is, a query from a new address waits for room.
	maxTrackedIPs = 4096
)

// dropCounters counts the datagrams a filterConn dropped, by reason, and
// the uTP connection attempts it refused.
type dropCounters struct {
	oversize, malformed, rate atomic.Int64
	utpRefused                atomic.Int64
}

// filterConn is the DHT's UDP socket as the library sees it: datagrams that
// are too big, not KRPC, or queries past the rate limits are dropped before
// the library decodes them.
type filterConn struct {
	net.PacketConn
	drops *dropCounters

	mu     sync.Mutex
	perIP  map[netip.Addr]*tokenBucket
	global tokenBucket
	resets utprefuse.Limiter // uTP RESETs sent
}

func newFilterConn(c net.PacketConn, drops *dropCounters) *filterConn {
	return &filterConn{
		PacketConn: c,
		drops:      drops,
		perIP:      map[netip.Addr]*tokenBucket{},
		global:     tokenBucket{tokens: maxQueriesPerSecond},
	}
}

// readErrorPause is the wait after a read error other than a closed
// socket, so that a persistent one cannot spin a core.
const readErrorPause = 10 * time.Millisecond

// ReadFrom returns the next datagram that passes the filters. Errors other
// than a closed socket are retried: the library panics on any read error
// while it is open.
func (c *filterConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if errors.Is(err, net.ErrClosed) {
			return n, addr, err
		}
		if err != nil {
			time.Sleep(readErrorPause)
			continue
		}
		if n > MaxPacket {
			c.drops.oversize.Add(1)
			continue
		}
		if utprefuse.IsSyn(b[:n]) {
			// The DHT owns the UDP side of the engine's port, where
			// libtorrent clients try uTP first: a RESET sends them to TCP.
			c.drops.utpRefused.Add(1)
			utprefuse.Refuse(c.PacketConn, &c.resets, b[:n], addr)
			continue
		}
		m, err := CheckMessage(b[:n])
		if err != nil {
			c.drops.malformed.Add(1)
			continue
		}
		if m.Y == "q" && !c.allowQuery(addr, time.Now()) {
			c.drops.rate.Add(1)
			continue
		}
		return n, addr, nil
	}
}

// allowQuery takes a token from the sender's bucket and the global one.
func (c *filterConn) allowQuery(addr net.Addr, now time.Time) bool {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ua.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.perIP[ip]
	if b == nil {
		if len(c.perIP) >= maxTrackedIPs {
			c.evictQuiet(now)
			if len(c.perIP) >= maxTrackedIPs {
				return false
			}
		}
		b = &tokenBucket{tokens: queryBurstPerIP, last: now}
		c.perIP[ip] = b
	}
	if !c.global.take(now, maxQueriesPerSecond, maxQueriesPerSecond) {
		return false
	}
	return b.take(now, queriesPerIP, queryBurstPerIP)
}

// evictQuiet forgets addresses whose bucket has refilled: they are no
// different from addresses never seen.
func (c *filterConn) evictQuiet(now time.Time) {
	for ip, b := range c.perIP {
		b.refill(now, queriesPerIP, queryBurstPerIP)
		if b.tokens >= queryBurstPerIP {
			delete(c.perIP, ip)
		}
	}
}

// tokenBucket is a rate limiter: rate tokens a second, at most burst.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) refill(now time.Time, rate, burst float64) {
	if !b.last.IsZero() {
		b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
}

func (b *tokenBucket) take(now time.Time, rate, burst float64) bool {
	b.refill(now, rate, burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
