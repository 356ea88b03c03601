package trackerserver

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
)

// numShards splits the store so that announces for different torrents
// rarely wait for one another: 256 locks keep contention negligible on any
// core count we run on, for 256 small maps' worth of memory.
const (
	shardBits = 8
	numShards = 1 << shardBits
)

// setKind says which of a swarm's three peer sets a peer is in. Peers are
// handed out only within their kind: WebRTC peers to WebRTC peers (as
// bittorrent-tracker does), and over UDP only addresses of the packet's
// family (BEP 15).
type setKind uint8

const (
	kindWS setKind = iota // WebSocket (WebRTC) peers, reached through their connection
	kindV4                // HTTP and UDP peers with an IPv4 address
	kindV6                // HTTP and UDP peers with an IPv6 address
	numKinds
)

// proto is the protocol a peer announced over, for statistics.
type proto uint8

const (
	protoHTTP proto = iota
	protoUDP
	protoWS
	numProtos
)

// peer is one peer of one swarm, stored by value in its set's list.
type peer struct {
	id      [20]byte
	seeder  bool
	proto   proto
	key     uint32         // the BEP 7 "key" of HTTP and UDP peers; 0 if none
	expires int64          // server clock, nanoseconds
	addr    netip.AddrPort // HTTP and UDP peers
	conn    *wsConn        // WebSocket peers
}

// peerSet is a dense list of peers, for random picks in O(1) each, and an
// index from peer ID to position, for announces in O(1).
type peerSet struct {
	index map[[20]byte]int32
	list  []peer
}

func (ps *peerSet) lookup(id *[20]byte) (int32, bool) {
	if ps.index == nil {
		return 0, false
	}
	i, ok := ps.index[*id]
	return i, ok
}

func (ps *peerSet) add(p peer) {
	if ps.index == nil {
		ps.index = make(map[[20]byte]int32)
	}
	ps.index[p.id] = int32(len(ps.list))
	ps.list = append(ps.list, p)
}

// remove deletes the peer at i by moving the last peer into its place.
func (ps *peerSet) remove(i int32) {
	last := int32(len(ps.list) - 1)
	delete(ps.index, ps.list[i].id)
	if i != last {
		ps.list[i] = ps.list[last]
		ps.index[ps.list[i].id] = i
	}
	ps.list[last] = peer{}
	ps.list = ps.list[:last]
	// Give memory back after a crowd has left.
	if c := cap(ps.list); c > 64 && len(ps.list) < c/4 {
		ps.list = append(make([]peer, 0, c/2), ps.list...)
	}
	if len(ps.list) == 0 {
		ps.index = nil // maps never shrink; a fresh one will
	}
}

// walk returns a random start and a step coprime with n: start, start+step,
// start+2·step, ... (mod n) visits every index once, in an order that is
// different for every announce, without shuffling the list.
func walk(n int) (start, step int) {
	start = rand.IntN(n)
	step = 1
	if n > 2 {
		for {
			step = 1 + rand.IntN(n-1)
			if gcd(step, n) == 1 {
				break
			}
		}
	}
	return start, step
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// pick appends up to n random peers of the set to dst, skipping the one at
// index skip (the announcing peer; -1 for none).
func (ps *peerSet) pick(dst []pickedPeer, n int, skip int32) []pickedPeer {
	size := len(ps.list)
	if n <= 0 || size == 0 {
		return dst
	}
	start, step := walk(size)
	j := start
	for range size {
		if int32(j) != skip {
			p := &ps.list[j]
			dst = append(dst, pickedPeer{id: p.id, addr: p.addr, conn: p.conn})
			if n--; n == 0 {
				break
			}
		}
		if j += step; j >= size {
			j -= size
		}
	}
	return dst
}

// pickedPeer is a peer handed to an announcing peer.
type pickedPeer struct {
	id   [20]byte
	addr netip.AddrPort
	conn *wsConn
}

// swarm is the state of one torrent.
type swarm struct {
	infoHash   [20]byte
	ihJSON     []byte // the info hash as a JSON binary string, for WebSocket messages
	sets       [numKinds]peerSet
	seeders    int // over all sets
	downloaded int64
	emptySince int64 // server clock when the last peer left; 0 while it has peers
}

func (sw *swarm) size() int {
	return len(sw.sets[kindWS].list) + len(sw.sets[kindV4].list) + len(sw.sets[kindV6].list)
}

// shardStats are counters kept under the shard lock, so that the hot path
// touches no shared cache line; Stats sums them.
type shardStats struct {
	announces [numProtos]uint64
	scrapes   [numProtos]uint64
	peers     [numProtos]int64
	seeders   [numProtos]int64
	swarms    int64
}

type shard struct {
	mu     sync.Mutex
	swarms map[[20]byte]*swarm
	stats  shardStats
	_      [64]byte // keep neighbouring shards' locks off one cache line
}

// store holds every swarm.
type store struct {
	shards [numShards]shard
	seed   uint64 // spreads info hashes over shards unpredictably

	maxPeersPerSwarm int
	maxPeers         int64
	maxSwarms        int64
	peers            atomic.Int64 // all peers, for maxPeers
	swarms           atomic.Int64
}

func newStore(cfg *Config) *store {
	st := &store{
		seed:             rand.Uint64() | 1,
		maxPeersPerSwarm: cfg.MaxPeersPerTorrent,
		maxPeers:         int64(cfg.MaxPeers),
		maxSwarms:        int64(cfg.MaxTorrents),
	}
	for i := range st.shards {
		st.shards[i].swarms = make(map[[20]byte]*swarm)
	}
	return st
}

func (st *store) shardFor(ih *[20]byte) *shard {
	h := binary.LittleEndian.Uint64(ih[:8]) ^ binary.LittleEndian.Uint64(ih[8:16])
	return &st.shards[(h*st.seed)>>(64-shardBits)]
}

// announceParams is one announce, whatever protocol it came over.
type announceParams struct {
	infoHash *[20]byte
	peerID   *[20]byte
	kind     setKind
	proto    proto
	event    event
	left     leftState
	addr     netip.AddrPort
	key      uint32
	conn     *wsConn
	now      int64 // server clock
	ttl      int64 // how long the entry lives without another announce

	// numWant is how many peers to pick; other kinds of peers are picked from
	// the set otherKind (kindV4 and kindV6 for HTTP), -1 for none.
	numWant   int
	otherKind int
	// toPeerID, when set, asks for the connection of that WebSocket peer of
	// the swarm (the target of an answer).
	toPeerID *[20]byte
	// mayInsert is false when the announcing connection is in as many
	// swarms as it may be: it can update, not join.
	mayInsert bool
}

// announceResult is what the store answers.
type announceResult struct {
	sw                   *swarm // nil when the swarm does not exist (a stop for an unknown torrent)
	complete, incomplete int
	inserted             bool         // the peer joined the swarm
	picked               []pickedPeer // dst, with the picks appended
	answerTo             *wsConn      // toPeerID's connection, nil if not in the swarm
}

// Store errors, sent as failure reasons.
const (
	errTrackerFull    = errMsg("tracker is full: too many torrents")
	errPeerIDInUse    = errMsg("peer_id is in use by another connection")
	errPeerIDAddrUsed = errMsg("peer_id is in use by another address")
	errTooManySwarms  = errMsg("too many torrents on one connection")
)

// announce records an announce and picks peers for it, appending them to dst.
func (st *store) announce(p *announceParams, dst []pickedPeer) (announceResult, error) {
	sh := st.shardFor(p.infoHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.stats.announces[p.proto]++
	res := announceResult{picked: dst}
	sw := sh.swarms[*p.infoHash]
	if sw == nil {
		if p.event == eventStopped {
			return res, nil
		}
		if st.swarms.Load() >= st.maxSwarms {
			return res, errTrackerFull
		}
		sw = &swarm{infoHash: *p.infoHash, ihJSON: appendBinaryString(nil, p.infoHash[:])}
		sh.swarms[*p.infoHash] = sw
		sh.stats.swarms++
		st.swarms.Add(1)
	}
	res.sw = sw
	set := &sw.sets[p.kind]
	self, found := set.lookup(p.peerID)
	if found {
		old := &set.list[self]
		switch {
		case p.kind == kindWS && old.conn != p.conn:
			return res, errPeerIDInUse
		case p.kind != kindWS && old.addr.Addr() != p.addr.Addr() && (p.key == 0 || p.key != old.key):
			return res, errPeerIDAddrUsed
		}
	}
	switch {
	case p.event == eventStopped:
		if found {
			st.removeAt(sh, sw, p.kind, self)
			if sw.size() == 0 {
				sw.emptySince = p.now
			}
		}
		self = -1
	case found:
		old := &set.list[self]
		old.expires = p.now + p.ttl
		old.addr, old.key = p.addr, p.key
		if old.proto != p.proto {
			sh.stats.peers[old.proto]--
			sh.stats.peers[p.proto]++
			if old.seeder {
				sh.stats.seeders[old.proto]--
				sh.stats.seeders[p.proto]++
			}
			old.proto = p.proto
		}
		seeder := old.seeder
		switch {
		case p.event == eventCompleted:
			if !seeder {
				sw.downloaded++
			}
			seeder = true
		case p.left == leftZero:
			seeder = true
		case p.left == leftSome:
			seeder = false
		}
		if seeder != old.seeder {
			old.seeder = seeder
			d := 1
			if !seeder {
				d = -1
			}
			sw.seeders += d
			sh.stats.seeders[p.proto] += int64(d)
		}
	default:
		self = -1
		if !p.mayInsert {
			return res, errTooManySwarms
		}
		if sw.size() >= st.maxPeersPerSwarm || st.peers.Load() >= st.maxPeers {
			break // the peer gets peers but is not handed out itself
		}
		np := peer{id: *p.peerID, proto: p.proto, key: p.key, expires: p.now + p.ttl, addr: p.addr, conn: p.conn}
		switch {
		case p.event == eventCompleted:
			np.seeder = true
			sw.downloaded++
		case p.left == leftZero:
			np.seeder = true
		}
		set.add(np)
		self = int32(len(set.list) - 1)
		st.peers.Add(1)
		sh.stats.peers[p.proto]++
		if np.seeder {
			sw.seeders++
			sh.stats.seeders[p.proto]++
		}
		sw.emptySince = 0
		res.inserted = true
	}
	if p.event != eventStopped && p.numWant > 0 {
		n := len(res.picked)
		res.picked = set.pick(res.picked, p.numWant, self)
		if p.otherKind >= 0 {
			res.picked = sw.sets[p.otherKind].pick(res.picked, p.numWant-(len(res.picked)-n), -1)
		}
	}
	if p.toPeerID != nil {
		if i, ok := sw.sets[kindWS].lookup(p.toPeerID); ok {
			res.answerTo = sw.sets[kindWS].list[i].conn
		}
	}
	res.complete = sw.seeders
	res.incomplete = sw.size() - sw.seeders
	return res, nil
}

// removeAt removes the peer at i of sw's set kind and keeps the counters.
func (st *store) removeAt(sh *shard, sw *swarm, kind setKind, i int32) {
	p := &sw.sets[kind].list[i]
	sh.stats.peers[p.proto]--
	if p.seeder {
		sw.seeders--
		sh.stats.seeders[p.proto]--
	}
	sw.sets[kind].remove(i)
	st.peers.Add(-1)
}

// removeConn removes the WebSocket peer id of conn c from sw, if it is there.
func (st *store) removeConn(sw *swarm, id *[20]byte, c *wsConn, now int64) {
	sh := st.shardFor(&sw.infoHash)
	sh.mu.Lock()
	if i, ok := sw.sets[kindWS].lookup(id); ok && sw.sets[kindWS].list[i].conn == c {
		st.removeAt(sh, sw, kindWS, i)
		if sw.size() == 0 {
			sw.emptySince = now
		}
	}
	sh.mu.Unlock()
}

// hasConn reports whether conn c is still a peer of sw under id.
func (st *store) hasConn(sw *swarm, id *[20]byte, c *wsConn) bool {
	sh := st.shardFor(&sw.infoHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sw.sets[kindWS].lookup(id)
	return ok && sw.sets[kindWS].list[i].conn == c
}

// scrapeCounts are one torrent's counts.
type scrapeCounts struct {
	complete, incomplete int
	downloaded           int64
}

// scrape returns the counts of one torrent; zeros for a torrent it does not know.
func (st *store) scrape(ih *[20]byte, pr proto) scrapeCounts {
	sh := st.shardFor(ih)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.stats.scrapes[pr]++
	sw := sh.swarms[*ih]
	if sw == nil {
		return scrapeCounts{}
	}
	return scrapeCounts{complete: sw.seeders, incomplete: sw.size() - sw.seeders, downloaded: sw.downloaded}
}

// expire removes peers whose time is up, and swarms that have had no peer
// for emptyTTL. It holds one shard lock at a time.
func (st *store) expire(now, emptyTTL int64) (peers int) {
	for s := range st.shards {
		sh := &st.shards[s]
		sh.mu.Lock()
		for ih, sw := range sh.swarms {
			for k := range sw.sets {
				list := sw.sets[k].list
				for i := len(list) - 1; i >= 0; i-- {
					if sw.sets[k].list[i].expires <= now {
						st.removeAt(sh, sw, setKind(k), int32(i))
						peers++
					}
				}
			}
			if sw.size() == 0 {
				switch {
				case sw.emptySince == 0:
					sw.emptySince = now
				case now-sw.emptySince >= emptyTTL:
					delete(sh.swarms, ih)
					sh.stats.swarms--
					st.swarms.Add(-1)
				}
			}
		}
		sh.mu.Unlock()
	}
	return peers
}

// sumStats adds up the shards' counters.
func (st *store) sumStats() (sum shardStats, active int64) {
	for s := range st.shards {
		sh := &st.shards[s]
		sh.mu.Lock()
		for p := range numProtos {
			sum.announces[p] += sh.stats.announces[p]
			sum.scrapes[p] += sh.stats.scrapes[p]
			sum.peers[p] += sh.stats.peers[p]
			sum.seeders[p] += sh.stats.seeders[p]
		}
		sum.swarms += sh.stats.swarms
		for _, sw := range sh.swarms {
			if sw.size() > 0 {
				active++
			}
		}
		sh.mu.Unlock()
	}
	return sum, active
}
