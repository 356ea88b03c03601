package trackerserver

import (
	"net/netip"
	"sync"
	"time"
)

// maxSourceBuckets bounds the token buckets kept for new torrents: one per
// IP address and one per network, 40 bytes each with the map's overhead,
// so at most about 2.5 MiB. When it is reached, buckets that have filled up
// again (their source has been quiet for a burst's worth of time) are
// dropped; if none has, sources without a bucket are let through rather
// than refused, since refusing them would let one crowd of addresses shut
// everyone else out.
const maxSourceBuckets = 1 << 16

// sourceKey names a token bucket: an address, or a network (the address
// with its host bits cleared), told apart by the prefix length.
type sourceKey struct {
	addr [16]byte
	bits uint8
}

// tokenBucket holds tokens as of last (server clock).
type tokenBucket struct {
	tokens float64
	last   int64
}

// bucketRule is the rate (tokens per second) and burst of one kind of bucket.
type bucketRule struct {
	rate  float64
	burst float64
}

// refill adds the tokens earned since b.last, up to the burst.
func (r bucketRule) refill(b *tokenBucket, now int64) {
	b.tokens = min(r.burst, b.tokens+r.rate*float64(now-b.last)/float64(time.Second))
	b.last = now
}

// full reports whether b would be full at now: its source has been quiet
// long enough that forgetting the bucket changes nothing.
func (r bucketRule) full(b *tokenBucket, now int64) bool {
	return b.tokens+r.rate*float64(now-b.last)/float64(time.Second) >= r.burst
}

// sourceLimiter is a token bucket per IP address and per network (/24 for
// IPv4, /64 for IPv6: what one customer of an ISP or a hosting provider
// usually has) for creating torrents, so that no single source can fill the
// torrent table. Announces to torrents that exist take no token.
type sourceLimiter struct {
	ip, net  bucketRule
	off      bool
	mu       sync.Mutex
	buckets  map[sourceKey]*tokenBucket
	lastFull int64 // server clock of the last sweep of full buckets
}

func (l *sourceLimiter) init(cfg *Config) {
	l.off = cfg.NewTorrentRate < 0
	l.ip = bucketRule{rate: cfg.NewTorrentRate, burst: float64(cfg.NewTorrentBurst)}
	l.net = bucketRule{rate: cfg.NewTorrentNetRate, burst: float64(cfg.NewTorrentNetBurst)}
	l.buckets = make(map[sourceKey]*tokenBucket)
}

// netBits is the prefix length of a source's network bucket.
func netBits(a netip.Addr) int {
	if a.Is4() {
		return 24
	}
	return 64
}

// allow takes a token from src's address and network buckets; it reports
// false, taking nothing, when either is empty. An invalid src (a caller
// that cannot tell) is allowed.
func (l *sourceLimiter) allow(src netip.Addr, now int64) bool {
	if l.off || !src.IsValid() {
		return true
	}
	src = src.Unmap()
	pfx, _ := src.Prefix(netBits(src))
	ipKey := sourceKey{addr: src.As16(), bits: uint8(src.BitLen())}
	netKey := sourceKey{addr: pfx.Addr().As16(), bits: uint8(pfx.Bits())}
	l.mu.Lock()
	defer l.mu.Unlock()
	ib, nb := l.bucket(ipKey, l.ip, now), l.bucket(netKey, l.net, now)
	if ib == nil || nb == nil {
		return true // the table is full of busy sources; see maxSourceBuckets
	}
	l.ip.refill(ib, now)
	l.net.refill(nb, now)
	// Both must have a token before either gives one: a refusal costs nothing.
	if ib.tokens < 1 || nb.tokens < 1 {
		return false
	}
	ib.tokens--
	nb.tokens--
	return true
}

// bucket returns the bucket of k, making a full one if there is room.
func (l *sourceLimiter) bucket(k sourceKey, r bucketRule, now int64) *tokenBucket {
	if b := l.buckets[k]; b != nil {
		return b
	}
	if len(l.buckets) >= maxSourceBuckets && !l.sweep(now) {
		return nil
	}
	b := &tokenBucket{tokens: r.burst, last: now}
	l.buckets[k] = b
	return b
}

// sweep forgets the buckets that are full again, at most once a second (a
// sweep walks every bucket); it reports whether there is room now.
func (l *sourceLimiter) sweep(now int64) bool {
	if now-l.lastFull >= int64(time.Second) {
		l.lastFull = now
		for k, b := range l.buckets {
			r := l.ip
			if k.bits == 24 || k.bits == 64 { // a network's bucket; an address's are /32 and /128
				r = l.net
			}
			if r.full(b, now) {
				delete(l.buckets, k)
			}
		}
	}
	return len(l.buckets) < maxSourceBuckets
}
