package torrent

import (
	"fmt"
	"time"

	"github.com/swarmcast/swarmcast/peerwire"
)

// event is anything sent to a torrent's owner goroutine.
type event interface{}

type (
	evCall struct {
		fn   func()
		done chan struct{}
	}
	evPeerConn struct{ p *peer }
	evDialDone struct {
		addr string
		p    *peer // nil when the dial or handshake failed
		err  error // why it failed
	}
	evMsg struct {
		p *peer
		m peerwire.Message
	}
	evBlock struct {
		p            *peer
		index, begin uint32
		data         []byte // from the client's block pool
	}
	evPeerGone struct {
		p   *peer
		err error
	}
	evHashed struct {
		piece  int
		ok     bool
		err    error      // reading the piece failed: our disk, not the data
		check  bool       // part of the start-up verification
		absent bool       // check: no data there, nothing hashed
		blocks [][20]byte // per-block SHA-1s of failed data, for smart-ban
	}
	// evDiskError is an I/O error of ours met off the owner goroutine (a
	// writer reading a block to upload).
	evDiskError struct {
		what string
		err  error
	}
	evPeers struct {
		src   PeerSource
		addrs []string
	}
	// evBatch is several events from one connection's reader that arrived
	// together; peers' requests are topped up once after the whole batch.
	evBatch struct {
		p    *peer
		evs  []event
		cost int64 // charged to p's in-flight budget until handled
	}
)

// run is the owner goroutine: the only code that changes the torrent's state.
func (t *Torrent) run() {
	defer close(t.done)
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	t.tick()
	for {
		select {
		case ev := <-t.events:
			t.handle(ev)
		case <-tick.C:
			t.tick()
		case <-t.diskWake:
			t.drainDisk()
		case <-t.ctx.Done():
			t.shutdown()
			return
		}
		if t.changeDue {
			t.changeDue = false
			t.broadcast()
		}
	}
}

func (t *Torrent) handle(ev event) {
	switch ev := ev.(type) {
	case evCall:
		ev.fn()
		close(ev.done)
	case evPeerConn:
		t.onPeerConn(ev.p)
	case evDialDone:
		t.halfOpen--
		if c := t.cands.get(ev.addr); c != nil {
			c.dialing = false
			if ev.p == nil {
				t.c.cfg.Logger.Debug("dial failed", "addr", ev.addr, "source", c.source, "err", ev.err)
				reason := dialErrString(ev.err)
				if c.source == SourceUser {
					t.setNotice("dial "+c.addr, fmt.Sprintf("cannot connect to %s: %s; retrying", c.addr, reason))
				}
				t.cands.dialFailed(c, reason, time.Now())
			}
		}
		if ev.p != nil {
			t.onPeerConn(ev.p)
		}
		t.dialMore()
	case evMsg:
		// A closed peer's messages still in flight are dropped: a flood
		// must not go on costing us after the peer is gone.
		if _, ok := t.peers[ev.p]; ok && !ev.p.closed {
			t.onMessage(ev.p, ev.m)
		}
	case evBlock:
		if _, ok := t.peers[ev.p]; !ok || t.err != nil || !t.onBlock(ev.p, ev.index, ev.begin, ev.data) {
			t.c.blocks.Put(ev.data)
		}
	case evPeerGone:
		t.onPeerGone(ev.p, ev.err)
	case evHashed:
		t.onHashed(ev)
	case evDiskError:
		t.diskError(ev.what, ev.err)
	case evBatch:
		t.inBatch = true
		for _, e := range ev.evs {
			t.handle(e)
		}
		t.inBatch = false
		ev.p.inflight.Add(-ev.cost)
		select {
		case ev.p.drained <- struct{}{}:
		default:
		}
		for p := range t.refill {
			delete(t.refill, p)
			t.fillRequests(p)
		}
	case evPeers:
		for _, a := range ev.addrs {
			t.addCandidate(ev.src, a)
		}
		t.dialMore()
	}
}

// tick runs the owner's timers: pipeline sizes, snubs, choking, dialing.
func (t *Torrent) tick() {
	now := time.Now()
	t.updateOriginHold(now)
	t.updateOriginFollows(now)
	t.peersServing = 0
	clear(t.localServing)
	t.localServing = t.localServing[:0]
	for p := range t.peers {
		if !p.webSeed && !p.peerChoking && p.has.Count() > 0 {
			t.peersServing++
		}
		if p.local && !p.webSeed && !p.peerChoking && len(t.localServing) < maxLocalServing {
			t.localServing = append(t.localServing, p)
		}
	}
	for p := range t.peers {
		p.updateRates(now)
		// A reader held by a slow disk (waitDisk) reads nothing: the idle
		// clock runs only while the disk keeps up.
		if now.Sub(later(p.lastRecvTime(), t.diskCaughtUpAt)) > idleTimeout && !t.diskThrottled.Load() {
			p.close(errIdle)
			continue
		}
		if p.out.stalled(now, writeStallTimeout) {
			p.close(errSlowReader)
			continue
		}
		t.serveMetadata(p)
		if len(p.requests) > 0 && now.Sub(p.lastBlockAt) > snubTimeout && !p.snubbed {
			p.snubbed = true
			t.releaseRequests(p)
			t.rechoke = true
		}
		if p.webSeed && t.info != nil {
			t.withdrawFromOrigin(p, -1)
		}
		if t.expireRequests(p, now) > 0 {
			// Others may have the freed blocks: top them up first.
			for q := range t.peers {
				if q != p {
					t.fillRequests(q)
				}
			}
		}
		if t.info != nil && p.amInterested && len(p.requests) == 0 {
			t.updateInterest(p)
		}
		if t.info != nil {
			t.fillRequests(p)
		}
	}
	t.flushMarks()
	t.maybeRequestMetadata()
	t.metadataNotice(now)
	if t.err == nil {
		for _, i := range t.rehash {
			if st := t.partial[i]; st != nil && st.Hashing {
				t.hashPiece(i, false)
			}
		}
		t.rehash = t.rehash[:0]
	}
	if t.rechoke || now.Sub(t.lastChoke) >= chokeInterval {
		t.runChoker(now)
	}
	t.sendPEX(now)
	t.dialMore()
}

// shutdown closes every peer; Close waits for their goroutines and then
// closes storage. Events still queued are drained: a connection handed over
// just now is closed, not leaked, and blocks go back to the pool.
func (t *Torrent) shutdown() {
	for p := range t.peers {
		p.close(errShutdown)
	}
	// Pieces verified since the last batch are recorded by the disk
	// worker once this goroutine has returned (diskLoop).
	for {
		select {
		case ev := <-t.events:
			t.discard(ev)
		default:
			t.broadcast()
			return
		}
	}
}

// discard releases what an event that will not be handled holds.
func (t *Torrent) discard(ev event) {
	switch ev := ev.(type) {
	case evPeerConn:
		ev.p.conn.Close()
		ev.p.cancel()
	case evDialDone:
		if ev.p != nil {
			ev.p.conn.Close()
			ev.p.cancel()
		}
	case evBlock:
		t.c.blocks.Put(ev.data)
	case evBatch:
		for _, e := range ev.evs {
			t.discard(e)
		}
	case evCall:
		close(ev.done)
	}
}

// later returns the later of two times.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
