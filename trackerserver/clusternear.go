package trackerserver

import (
	"math/rand/v2"
	"sync"
)

// Near sets: an instance's own WebRTC peers in swarms other instances own,
// so that it picks a WebSocket announce's near peers itself and relays
// their offers at once, instead of after the owner's reply (which waits
// for two batches: the call and the reply). The owner is then asked only
// for far peers. Only a socket the owner has accepted into the swarm under
// that peer ID (its last reply said so) is served from the near set, so a
// peer ID that is not the socket's to use gets no offer relayed before the
// owner has checked it.
//
// Who fills them: a forwarded WebSocket announce whose reply says the peer
// is in the swarm, and only while the socket's memberships hold that swarm
// for that ID (MaxTorrentsPerConn per socket, MaxConns sockets). What
// empties them: the reply of a later announce that says otherwise (or a
// failure), a stop, the socket's close, and expiry (the owner's TTL for
// WebSocket peers, refreshed by each announce).

// nearShardBits: 64 shards, so that sockets announcing in different swarms
// rarely wait for each other.
const nearShardBits = 6

type nearSets struct {
	shards [1 << nearShardBits]nearShard
	seed   uint64
}

type nearShard struct {
	mu     sync.Mutex
	swarms map[[20]byte]*peerSet
}

func newNearSets() *nearSets {
	ns := &nearSets{seed: rand.Uint64() | 1}
	for i := range ns.shards {
		ns.shards[i].swarms = make(map[[20]byte]*peerSet)
	}
	return ns
}

func (ns *nearSets) shard(ih *[20]byte) *nearShard {
	return &ns.shards[shardIndex(ih, ns.seed, nearShardBits)]
}

// put records peer id of socket c in swarm ih, until expires (server clock).
func (ns *nearSets) put(ih, id *[20]byte, c *wsConn, expires int64) {
	sh := ns.shard(ih)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ps := sh.swarms[*ih]
	if ps == nil {
		ps = &peerSet{}
		sh.swarms[*ih] = ps
	}
	if i, ok := ps.lookup(id); ok {
		// One peer ID is bound to one socket of this instance at a time
		// (Server.ids), but the socket may have closed and another taken
		// the ID since.
		ps.list[i].conn, ps.list[i].ref, ps.list[i].expires = c, c.ref(), expires
		return
	}
	ps.add(peer{id: *id, proto: protoWS, expires: expires, conn: c, ref: c.ref()})
}

// drop removes peer id of socket ref from swarm ih, if it is there.
func (ns *nearSets) drop(ih, id *[20]byte, ref connRef) {
	sh := ns.shard(ih)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ps := sh.swarms[*ih]
	if ps == nil {
		return
	}
	if i, ok := ps.lookup(id); ok && ps.list[i].ref == ref {
		ps.remove(i)
		if len(ps.list) == 0 {
			delete(sh.swarms, *ih)
		}
	}
}

// pick appends up to n random peers of swarm ih's near set to dst, not peer
// id itself, and reports whether peer id of socket c is in it (unexpired
// at now): if not, it picks none.
func (ns *nearSets) pick(ih, id *[20]byte, c *wsConn, now int64, dst []pickedPeer, n int) ([]pickedPeer, bool) {
	sh := ns.shard(ih)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	ps := sh.swarms[*ih]
	if ps == nil {
		return dst, false
	}
	self, ok := ps.lookup(id)
	if !ok || ps.list[self].conn != c || ps.list[self].expires <= now {
		return dst, false
	}
	return ps.pick(dst, n, self), true
}

// expire removes the entries whose time is up, and empty sets. It holds one
// shard's lock at a time.
func (ns *nearSets) expire(now int64) (removed int) {
	for s := range ns.shards {
		sh := &ns.shards[s]
		sh.mu.Lock()
		for ih, ps := range sh.swarms {
			for i := len(ps.list) - 1; i >= 0; i-- {
				if ps.list[i].expires <= now {
					ps.remove(int32(i))
					removed++
				}
			}
			if len(ps.list) == 0 {
				delete(sh.swarms, ih)
			}
		}
		sh.mu.Unlock()
	}
	return removed
}

// size is the number of entries, for tests and stats.
func (ns *nearSets) size() (n int) {
	for s := range ns.shards {
		sh := &ns.shards[s]
		sh.mu.Lock()
		for _, ps := range sh.swarms {
			n += len(ps.list)
		}
		sh.mu.Unlock()
	}
	return n
}

// relayNear relays the first offers of m, a WebSocket announce in a swarm
// another instance owns, to near peers it picks from this instance's near
// set, before the owner is asked, and sets p to ask the owner for far peers
// only, for the offers left (their share, ClusterConfig.NearPicks, or more
// when the near set has too few). It picks up to one near peer per offer:
// those beyond the near share stay in c.sc.spare, after the ones used, for
// the offers the owner finds no far peer for (relaySpare). It returns how
// many offers it relayed; none, and p unchanged, when the socket is not in
// the swarm's near set under m's peer ID (a first announce: the owner
// picks then, as before).
func (c *wsConn) relayNear(m *wsMessage, p *announceParams, from []byte) int {
	cl := c.s.cluster
	if cl.cfg.NearPicks < 0 {
		return 0
	}
	picks, ok := cl.near.pick(&m.infoHash, &m.peerID, c, p.now, c.sc.spare[:0], len(m.offers))
	c.sc.spare = picks
	if !ok {
		return 0
	}
	cl.pickNear(p)
	k := min(len(m.offers)-p.farPicks, len(picks))
	var ihBuf [2 + 6*20]byte // the longest JSON string of 20 bytes: each one \u00XX
	ihJSON := appendBinaryString(ihBuf[:0], m.infoHash[:])
	for i := range k {
		if c.relayOffer(picks[i], m, &m.offers[i], from, ihJSON) {
			cl.ctr.nearRelayed.Add(1)
		}
	}
	clear(picks[:k]) // keep no other socket alive from here; picks[k:] are the spares
	p.farOnly = true
	p.farPicks = len(m.offers) - k
	p.numWant = p.farPicks
	p.offers = m.offers[k:]
	return k
}

// relaySpare relays the offers of m that neither the near share nor the
// owner found a peer for (the owner relayed the last `relayed` of those it
// was sent, m.offers[near:]) to the spare near peers relayNear kept, and
// forgets the spares.
func (c *wsConn) relaySpare(m *wsMessage, near, relayed int, from, ihJSON []byte) {
	if ihJSON == nil { // the swarm does not exist: nobody to relay to
		c.dropSpare()
		return
	}
	left := m.offers[near : len(m.offers)-min(relayed, len(m.offers)-near)]
	spare := c.sc.spare[min(near, len(c.sc.spare)):]
	for i := range min(len(left), len(spare)) {
		if c.relayOffer(spare[i], m, &left[i], from, ihJSON) {
			c.s.cluster.ctr.nearRelayed.Add(1)
		}
	}
	c.dropSpare() // keep no other socket alive from here
}

// keepNear, after an announce forwarded to the swarm's owner, keeps the
// socket's peer in the swarm's near set while the owner holds it there
// (member) and the socket's memberships say so, until expires (the
// announce's time and the peer's TTL); otherwise it takes the peer out.
func (c *wsConn) keepNear(m *wsMessage, idx int, expires int64, member bool) {
	cl := c.s.cluster
	if member && m.event != eventStopped && c.memberships[m.infoHash]&(1<<idx) != 0 {
		cl.near.put(&m.infoHash, &m.peerID, c, expires)
		return
	}
	cl.near.drop(&m.infoHash, &m.peerID, c.ref())
}

// dropSpare forgets the spare near picks relayNear kept.
func (c *wsConn) dropSpare() {
	clear(c.sc.spare)
	c.sc.spare = c.sc.spare[:0]
}
