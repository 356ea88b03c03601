package trackerserver

import (
	"sync"
	"sync/atomic"
)

// connRegistry is the set of open sockets, sharded by a counter.
type connRegistry struct {
	shards [16]struct {
		mu sync.Mutex
		m  map[uint64]*wsConn // by regID
	}
	next  atomic.Uint64
	count atomic.Int64 // sockets open or being upgraded, kept by serveWebSocket
}

func (r *connRegistry) init() {
	for i := range r.shards {
		r.shards[i].m = make(map[uint64]*wsConn)
	}
}

func (r *connRegistry) shardOf(id uint64) int {
	return int(id % uint64(len(r.shards)))
}

// newID numbers a socket: its regID, never zero (see connRef).
func (r *connRegistry) newID() uint64 { return r.next.Add(1) }

func (r *connRegistry) add(c *wsConn) {
	sh := &r.shards[r.shardOf(c.regID)]
	sh.mu.Lock()
	sh.m[c.regID] = c
	sh.mu.Unlock()
}

func (r *connRegistry) remove(c *wsConn) {
	sh := &r.shards[r.shardOf(c.regID)]
	sh.mu.Lock()
	delete(sh.m, c.regID)
	sh.mu.Unlock()
}

// get returns the open socket numbered id, or nil.
func (r *connRegistry) get(id uint64) *wsConn {
	sh := &r.shards[r.shardOf(id)]
	sh.mu.Lock()
	c := sh.m[id]
	sh.mu.Unlock()
	return c
}

// each calls f for every socket, holding one shard's lock at a time.
func (r *connRegistry) each(f func(*wsConn)) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for _, c := range sh.m {
			f(c)
		}
		sh.mu.Unlock()
	}
}

// idRegistry binds each WebSocket peer ID to the socket that first
// announced it, so no other socket can announce or answer as that peer.
type idRegistry struct {
	shards [64]idShard
}

type idShard struct {
	mu sync.Mutex
	m  map[[20]byte]*wsConn
}

func (r *idRegistry) init() {
	for i := range r.shards {
		r.shards[i].m = make(map[[20]byte]*wsConn)
	}
}

func (r *idRegistry) shard(id *[20]byte) *idShard {
	return &r.shards[int(id[0]^id[19])%len(r.shards)]
}

// bind binds id to c; it reports false when another socket owns it.
func (r *idRegistry) bind(id *[20]byte, c *wsConn) bool {
	sh := r.shard(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if owner, ok := sh.m[*id]; ok && owner != c {
		return false
	}
	sh.m[*id] = c
	return true
}

func (r *idRegistry) unbind(id *[20]byte, c *wsConn) {
	sh := r.shard(id)
	sh.mu.Lock()
	if sh.m[*id] == c {
		delete(sh.m, *id)
	}
	sh.mu.Unlock()
}
