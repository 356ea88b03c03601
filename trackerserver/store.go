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
	conn    *wsConn        // WebSocket peers on this instance; nil for others
	ref     connRef        // WebSocket peers: the socket, cluster-wide; zero for HTTP and UDP
}

// connRef names a WebSocket across a cluster: the instance that holds it
// and the socket's number there. A single tracker's instance is 0. Socket
// numbers start at 1, so the zero connRef is no socket.
type connRef struct {
	inst uint64
	id   uint64
}

// setKey is what a peer is indexed by in its set: a WebSocket peer by its
// peer ID (the ID is bound to its socket), an HTTP or UDP peer by its
// ip:port, as opentracker and bittorrent-tracker do. Keying those by peer ID
// let one ip:port fill a swarm with copies of itself by announcing many IDs,
// and counted a client that restarts with a new ID twice.
func (p *peer) setKey() [20]byte {
	if p.ref.id != 0 {
		return p.id
	}
	return addrKey(p.addr)
}

// addrKey is an ip:port as a set key: 16 bytes of address, 2 of port.
func addrKey(a netip.AddrPort) [20]byte {
	var k [20]byte
	ip := a.Addr().As16()
	copy(k[:], ip[:])
	binary.BigEndian.PutUint16(k[16:], a.Port())
	return k
}

// hostKey is what MaxPeersPerIP counts by: an IPv4 address, or an IPv6
// address's /64, since one host (or one customer of an ISP) holds a whole
// /64 and could otherwise fill a swarm from addresses it never runs out of.
func hostKey(a netip.Addr) [16]byte {
	k := a.As16()
	if !a.Is4() {
		clear(k[8:])
	}
	return k
}

// swarm is the state of one torrent.
type swarm struct {
	infoHash   [20]byte
	ihJSON     []byte // the info hash as a JSON binary string, for WebSocket messages
	sets       [numKinds]peerSet
	seeders    int // over all sets
	downloaded int64
	emptySince int64 // server clock when the last peer left; 0 while it has peers
	// perIP counts the HTTP and UDP entries of each IPv4 address and IPv6
	// /64 (hostKey), for maxPeersPerIP, once the swarm has more than
	// perIPAbove of them; nil while it has fewer (see hostCount).
	perIP map[[16]byte]uint16
}

// hostCount is how many HTTP and UDP entries of sw the host hk has.
func (sw *swarm) hostCount(hk [16]byte) int {
	if sw.perIP != nil {
		return int(sw.perIP[hk])
	}
	n := 0
	for _, k := range []setKind{kindV4, kindV6} {
		for i := range sw.sets[k].list {
			if hostKey(sw.sets[k].list[i].addr.Addr()) == hk {
				n++
			}
		}
	}
	return n
}

func (sw *swarm) size() int {
	return len(sw.sets[kindWS].list) + len(sw.sets[kindV4].list) + len(sw.sets[kindV6].list)
}

// shardStats are counters kept under the shard lock, so that the hot path
// touches no shared cache line; Stats sums them.
type shardStats struct {
	announces     [numProtos]uint64
	scrapes       [numProtos]uint64
	peers         [numProtos]int64
	seeders       [numProtos]int64
	swarms        int64
	active        int64  // swarms with at least one peer, kept as peers come and go
	evicted       uint64 // peers evicted from full swarms for newcomers
	perIPFull     uint64 // newcomers not stored: their IP had maxPeersPerIP entries
	emptyDropped  uint64 // empty swarms dropped early to make room for a new one
	sourceLimited uint64 // new torrents refused by the per-source token buckets
}

type shard struct {
	mu     sync.Mutex
	swarms map[[20]byte]*swarm
	stats  shardStats
	_      [64]byte // keep neighbouring shards' locks off one cache line
}

// Bounds on what one address can take of a swarm, and where they come from.
const (
	// evictSamples: a full swarm makes room for a newcomer by evicting the
	// least recently announced of this many random entries, Redis's
	// approximate LRU (it samples 5): O(1) per newcomer instead of a scan of
	// 5,000, and the entry evicted is, on average, among the oldest
	// 1/(evictSamples+1) of the swarm.
	evictSamples = 8
	// dropEmptyScan bounds how many of a shard's swarms a new torrent looks
	// at for an empty one to replace when the tracker is full (a shard holds
	// 4,096 swarms at DefaultMaxTorrents).
	dropEmptyScan = 64
	// dropEmptyShards is how many other shards a new torrent looks in when
	// its own has no empty swarm to give up: a few, to bound the work of an
	// announce that will be refused anyway.
	dropEmptyShards = 8
)

// store holds every swarm.
type store struct {
	shards [numShards]shard
	seed   uint64 // spreads info hashes over shards unpredictably

	maxPeersPerSwarm int
	maxPeersPerIP    uint16
	maxPeers         int64
	maxSwarms        int64
	peers            atomic.Int64 // all peers, for maxPeers
	swarms           atomic.Int64
	sources          sourceLimiter // new torrents per address and network
}

func newStore(cfg *Config) *store {
	st := &store{
		seed:             rand.Uint64() | 1,
		maxPeersPerSwarm: cfg.MaxPeersPerTorrent,
		maxPeersPerIP:    uint16(min(cfg.MaxPeersPerIP, 1<<16-1)),
		maxPeers:         int64(cfg.MaxPeers),
		maxSwarms:        int64(cfg.MaxTorrents),
	}
	st.sources.init(cfg)
	for i := range st.shards {
		st.shards[i].swarms = make(map[[20]byte]*swarm)
	}
	return st
}

func (st *store) shardFor(ih *[20]byte) *shard {
	return &st.shards[shardIndex(ih, st.seed, shardBits)]
}

// shardIndex spreads info hashes over 1<<bits shards by a multiplicative
// hash with seed (odd, random per process), so that a client choosing info
// hashes cannot pile its torrents into one shard.
func shardIndex(ih *[20]byte, seed uint64, bits uint) uint64 {
	h := binary.LittleEndian.Uint64(ih[:8]) ^ binary.LittleEndian.Uint64(ih[8:16])
	return (h * seed) >> (64 - bits)
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
	conn     *wsConn // the announcing socket, when it is on this instance
	ref      connRef // the announcing socket, cluster-wide
	now      int64   // server clock
	ttl      int64   // how long the entry lives without another announce
	// source is the address the request came from (not the "ip"
	// parameter), for the per-source limits on new torrents; invalid for
	// none.
	source netip.Addr

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
	// nearFirst, in a cluster, picks WebSocket peers whose sockets are on
	// the announcing socket's instance (ref.inst) first: all but farPicks
	// of the numWant come from there when it has enough (pickNear).
	nearFirst bool
	farPicks  int
	// farOnly, with nearFirst, picks only far peers, farPicks of them: the
	// announcing instance picked the near ones itself (relayNear).
	farOnly bool
	// offers are a WebSocket announce's offers. The store ignores them; an
	// announce forwarded to the swarm's owner carries them, and the owner
	// relays them to the peers it picks (clusterroute.go).
	offers []wsOffer
}

// announceResult is what the store answers.
type announceResult struct {
	sw                   *swarm // the local store's swarm; nil when forwarded or when it does not exist
	exists               bool   // false when the swarm does not exist (a stop for an unknown torrent)
	ihJSON               []byte // the info hash as a JSON binary string, when exists
	complete, incomplete int
	inserted             bool         // the peer joined the swarm
	member               bool         // the peer is in the swarm after the announce (joined now or before)
	picked               []pickedPeer // dst, with the picks appended
	answerTo             pickedPeer   // toPeerID's socket; a zero ref if not in the swarm
	// relayed is how many of a forwarded announce's offers its owner
	// relayed; picked then holds only the peers on the announcing
	// instance, which that instance gives the first offers (clustercall.go).
	relayed int
}

// Store errors, sent as failure reasons.
const (
	errTrackerFull   = errMsg("tracker is full: too many torrents")
	errPeerIDInUse   = errMsg("peer_id is in use by another connection")
	errAddrInUse     = errMsg("ip and port are in use by another peer")
	errTooManySwarms = errMsg("too many torrents on one connection")
	errSourceLimited = errMsg("too many new torrents from your network: try again later")
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
		if err := st.roomForSwarm(sh, p); err != nil {
			return res, err
		}
		sw = &swarm{infoHash: *p.infoHash, ihJSON: appendBinaryString(nil, p.infoHash[:])}
		sh.swarms[*p.infoHash] = sw
		sh.stats.swarms++
		st.swarms.Add(1)
	}
	res.sw, res.exists, res.ihJSON = sw, true, sw.ihJSON
	set := &sw.sets[p.kind]
	key := *p.peerID
	if p.kind != kindWS {
		key = addrKey(p.addr)
	}
	self, found := set.lookup(&key)
	if found {
		old := &set.list[self]
		switch {
		case p.kind == kindWS && old.ref != p.ref:
			return res, errPeerIDInUse
		case p.kind != kindWS && p.source.IsValid() && p.addr.Addr() != p.source && old.id != *p.peerID &&
			(p.key == 0 || p.key != old.key):
			// An address named by a trusted "ip" parameter, not the one the
			// request came from: another peer's entry there is changed or
			// stopped only by its peer ID or its BEP 7 key.
			return res, errAddrInUse
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
		res.member = true
		old := &set.list[self]
		// A client that restarts on the same ip:port with a new peer ID
		// takes its old entry over: one address, one entry.
		old.id = *p.peerID
		old.expires = p.now + p.ttl
		old.key = p.key
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
		switch p.left {
		case leftZero:
			if p.event == eventCompleted && !seeder {
				sw.downloaded++
			}
			seeder = true
		case leftSome:
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
		if !st.roomForPeer(sh, sw, p) {
			break // the peer gets peers but is not handed out itself
		}
		np := peer{id: *p.peerID, proto: p.proto, key: p.key, expires: p.now + p.ttl, addr: p.addr, conn: p.conn, ref: p.ref}
		if p.left == leftZero {
			// "completed" counts a download only when the peer says it has
			// everything: a completed with bytes left is a confused client.
			np.seeder = true
			if p.event == eventCompleted {
				sw.downloaded++
			}
		}
		st.insert(sh, sw, p.kind, np)
		self = int32(len(set.list) - 1)
		res.inserted, res.member = true, true
	}
	if p.event != eventStopped && p.numWant > 0 {
		n := len(res.picked)
		switch {
		case p.farOnly && p.kind == kindWS:
			res.picked = set.pickFar(res.picked, p.farPicks, self, p.ref.inst)
		case p.nearFirst && p.kind == kindWS:
			res.picked = set.pickNear(res.picked, p.numWant, self, p.ref.inst, p.farPicks)
		default:
			res.picked = set.pick(res.picked, p.numWant, self)
		}
		if p.otherKind >= 0 {
			res.picked = sw.sets[p.otherKind].pick(res.picked, p.numWant-(len(res.picked)-n), -1)
		}
	}
	if p.toPeerID != nil {
		if i, ok := sw.sets[kindWS].lookup(p.toPeerID); ok {
			t := &sw.sets[kindWS].list[i]
			res.answerTo = pickedPeer{id: t.id, conn: t.conn, ref: t.ref}
		}
	}
	res.complete = sw.seeders
	res.incomplete = sw.size() - sw.seeders
	return res, nil
}

// roomForSwarm decides whether p may create a new swarm in sh: the table
// must have room, or an empty swarm of this shard to give up, and p's source
// must have a token for a new torrent.
func (st *store) roomForSwarm(sh *shard, p *announceParams) error {
	if st.swarms.Load() >= st.maxSwarms && !st.dropEmpty(sh) {
		return errTrackerFull
	}
	if !st.sources.allow(p.source, p.now) {
		sh.stats.sourceLimited++
		return errSourceLimited
	}
	return nil
}

// dropEmpty deletes one swarm that has no peers, if it finds one among
// dropEmptyScan swarms of sh (map order is random, so successive calls look
// at different swarms), or else of up to dropEmptyShards other shards whose
// locks are free: TryLock, because waiting for a second shard lock while
// holding one could deadlock.
func (st *store) dropEmpty(sh *shard) bool {
	if st.dropEmptyIn(sh) {
		return true
	}
	start := rand.IntN(numShards)
	for i := range dropEmptyShards {
		other := &st.shards[(start+i)%numShards]
		if other == sh || !other.mu.TryLock() {
			continue
		}
		ok := st.dropEmptyIn(other)
		other.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

// dropEmptyIn is dropEmpty within one shard, whose lock the caller holds.
func (st *store) dropEmptyIn(sh *shard) bool {
	n := 0
	for ih, sw := range sh.swarms {
		if sw.size() == 0 {
			delete(sh.swarms, ih)
			sh.stats.swarms--
			sh.stats.emptyDropped++
			st.swarms.Add(-1)
			return true
		}
		if n++; n == dropEmptyScan {
			break
		}
	}
	return false
}

// roomForPeer decides whether p's new entry may be stored in sw. An IP
// address with maxPeersPerIP entries in the swarm gets no more; a full
// swarm evicts an old entry for the newcomer, so that nobody can lock
// newcomers out by filling it; when the whole tracker is full, newcomers
// are not stored.
func (st *store) roomForPeer(sh *shard, sw *swarm, p *announceParams) bool {
	if p.kind != kindWS && sw.hostCount(hostKey(p.addr.Addr())) >= int(st.maxPeersPerIP) {
		sh.stats.perIPFull++
		return false
	}
	if sw.size() >= st.maxPeersPerSwarm {
		return st.evictOne(sh, sw, p.kind)
	}
	return st.peers.Load() < st.maxPeers
}

// evictOne removes the least recently announced of evictSamples random
// entries of sw: from the set of kind when it has any, else from the
// largest set.
func (st *store) evictOne(sh *shard, sw *swarm, kind setKind) bool {
	if len(sw.sets[kind].list) == 0 {
		for k := range sw.sets {
			if len(sw.sets[k].list) > len(sw.sets[kind].list) {
				kind = setKind(k)
			}
		}
	}
	list := sw.sets[kind].list
	if len(list) == 0 {
		return false
	}
	victim := int32(-1)
	for range evictSamples {
		i := int32(rand.IntN(len(list)))
		if victim < 0 || list[i].expires < list[victim].expires {
			victim = i
		}
	}
	st.removeAt(sh, sw, kind, victim)
	sh.stats.evicted++
	return true
}

// insert adds np to sw's set kind and keeps the counters.
func (st *store) insert(sh *shard, sw *swarm, kind setKind, np peer) {
	if sw.size() == 0 {
		sh.stats.active++
		sw.emptySince = 0
	}
	sw.sets[kind].add(np)
	if kind != kindWS {
		switch n := len(sw.sets[kindV4].list) + len(sw.sets[kindV6].list); {
		case sw.perIP != nil:
			sw.perIP[hostKey(np.addr.Addr())]++
		case n > perIPAbove:
			sw.perIP = make(map[[16]byte]uint16)
			for _, k := range []setKind{kindV4, kindV6} {
				for i := range sw.sets[k].list {
					sw.perIP[hostKey(sw.sets[k].list[i].addr.Addr())]++
				}
			}
		}
	}
	st.peers.Add(1)
	sh.stats.peers[np.proto]++
	if np.seeder {
		sw.seeders++
		sh.stats.seeders[np.proto]++
	}
}

// removeAt removes the peer at i of sw's set kind and keeps the counters.
func (st *store) removeAt(sh *shard, sw *swarm, kind setKind, i int32) {
	p := &sw.sets[kind].list[i]
	sh.stats.peers[p.proto]--
	if p.seeder {
		sw.seeders--
		sh.stats.seeders[p.proto]--
	}
	if kind != kindWS && sw.perIP != nil {
		ip := hostKey(p.addr.Addr())
		if n := sw.perIP[ip]; n > 1 {
			sw.perIP[ip] = n - 1
		} else {
			delete(sw.perIP, ip)
		}
	}
	sw.sets[kind].remove(i)
	if sw.perIP != nil && len(sw.sets[kindV4].list)+len(sw.sets[kindV6].list) < perIPAbove/2 {
		sw.perIP = nil // maps never shrink, and a scan will do
	}
	st.peers.Add(-1)
	if sw.size() == 0 {
		sh.stats.active--
	}
}

// removeConn removes the WebSocket peer id of socket c from the swarm of
// ih, if it is there.
func (st *store) removeConn(ih *[20]byte, id *[20]byte, c connRef, now int64) {
	sh := st.shardFor(ih)
	sh.mu.Lock()
	if sw := sh.swarms[*ih]; sw != nil {
		if i, ok := sw.sets[kindWS].lookup(id); ok && sw.sets[kindWS].list[i].ref == c {
			st.removeAt(sh, sw, kindWS, i)
			if sw.size() == 0 {
				sw.emptySince = now
			}
		}
	}
	sh.mu.Unlock()
}

// hasConn reports whether socket c is still a peer of the swarm of ih under id.
func (st *store) hasConn(ih *[20]byte, id *[20]byte, c connRef) bool {
	sh := st.shardFor(ih)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sw := sh.swarms[*ih]
	if sw == nil {
		return false
	}
	i, ok := sw.sets[kindWS].lookup(id)
	return ok && sw.sets[kindWS].list[i].ref == c
}

// removeInstance removes every WebSocket peer whose socket is on instance
// inst (a cluster instance that died), one shard lock at a time.
func (st *store) removeInstance(inst uint64, now int64) (peers int) {
	for s := range st.shards {
		sh := &st.shards[s]
		sh.mu.Lock()
		for _, sw := range sh.swarms {
			list := sw.sets[kindWS].list
			for i := len(list) - 1; i >= 0; i-- {
				if sw.sets[kindWS].list[i].ref.inst == inst {
					st.removeAt(sh, sw, kindWS, int32(i))
					peers++
					if sw.size() == 0 {
						sw.emptySince = now
					}
				}
			}
		}
		sh.mu.Unlock()
	}
	return peers
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
// for emptyTTL, or at once when the table is more than 7/8 full (so that a
// crowd of torrents that came and went does not keep new ones out). It
// holds one shard lock at a time.
func (st *store) expire(now, emptyTTL int64) (peers int) {
	if st.swarms.Load() > st.maxSwarms/8*7 {
		emptyTTL = 0
	}
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

// sumStats adds up the shards' counters: O(shards), whatever the number of
// torrents, since every counter is kept as swarms change.
func (st *store) sumStats() (sum shardStats) {
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
		sum.active += sh.stats.active
		sum.evicted += sh.stats.evicted
		sum.perIPFull += sh.stats.perIPFull
		sum.emptyDropped += sh.stats.emptyDropped
		sum.sourceLimited += sh.stats.sourceLimited
		sh.mu.Unlock()
	}
	return sum
}
