package trackerserver

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Calls across the cluster: an announce or scrape forwarded to the swarm's
// owner and its reply (cluster.go: membership and ownership).

// callTable holds this instance's calls waiting for their replies.
type callTable struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]*call
	pool sync.Pool
}

// call is one request waiting for its reply; calls are pooled.
type call struct {
	seq   uint64
	reply chan []byte // the reply message; it aliases a NATS message, which is not reused
	timer *time.Timer
}

func (ct *callTable) start() *call {
	c, _ := ct.pool.Get().(*call)
	if c == nil {
		c = &call{reply: make(chan []byte, 1), timer: time.NewTimer(time.Hour)}
		c.timer.Stop()
	}
	ct.mu.Lock()
	ct.next++
	c.seq = ct.next
	ct.m[c.seq] = c
	ct.mu.Unlock()
	return c
}

// cancel forgets a call; it reports false when its reply was taken first
// (and is, or will at once be, in c.reply).
func (ct *callTable) cancel(c *call) bool {
	ct.mu.Lock()
	_, ok := ct.m[c.seq]
	delete(ct.m, c.seq)
	ct.mu.Unlock()
	return ok
}

// finish hands a reply to its call, if it still waits.
func (ct *callTable) finish(seq uint64, reply []byte) bool {
	ct.mu.Lock()
	c := ct.m[seq]
	delete(ct.m, seq)
	ct.mu.Unlock()
	if c == nil {
		return false
	}
	c.reply <- reply // never blocks: one reply per call, and the call took the last
	return true
}

// request sends the call msg (made with c's number) to inst in the next
// batch for it and waits for the reply, which travels back in a batch too,
// until the timeout or the server's shutdown. The call is done when it
// returns. A request costs no NATS message of its own: it travels with
// whatever else goes to that instance meanwhile, and so does its reply.
func (cl *cluster) request(inst uint64, c *call, msg []byte) ([]byte, error) {
	cl.ctr.forwarded.Add(1)
	start := time.Now()
	var reply []byte
	var err error = errClusterUnavailable
	sent := cl.nc.IsConnected() && cl.queue(inst, msg)
	if sent {
		c.timer.Reset(cl.cfg.Timeout)
		select {
		case reply = <-c.reply:
			err = nil
		case <-c.timer.C:
		case <-cl.s.done:
		}
		c.timer.Stop()
	}
	if err != nil && !cl.calls.cancel(c) {
		// The reply came as the wait ended (or, never sent, a stray reply
		// with its number): take it, so that the pooled call is clean.
		if r := <-c.reply; sent {
			reply, err = r, nil
		}
	}
	cl.calls.pool.Put(c)
	if err != nil {
		cl.ctr.forwardFailed.Add(1)
		cl.s.log.Debug("trackerserver: forward failed", "instance", strconv.FormatUint(inst, 16))
		return nil, err
	}
	cl.latency.observe(time.Since(start))
	return reply, nil
}

// forwardAnnounce sends p to the swarm's owner and returns its reply. For a
// WebSocket announce with offers, this instance chooses how many far peers
// it gets (pickNear), and the request carries only that many offers, its
// last: the owner relays those to far peers it picks, and names the others
// in its reply, near ones first, for this instance to relay with the first
// offers. The offers for its own sockets do not cross the cluster.
func (cl *cluster) forwardAnnounce(owner uint64, p *announceParams, dst []pickedPeer) (announceResult, error) {
	c := cl.calls.start()
	bp := cl.getBuf()
	*bp = appendCallHeader((*bp)[:0], c.seq, cl.s.inst)
	if len(p.offers) > 0 && !p.farOnly {
		cl.pickNear(p)
	}
	*bp = appendAnnounceRequest(*bp, p)
	reply, err := cl.request(owner, c, *bp)
	cl.putBuf(bp)
	if err != nil {
		return announceResult{picked: dst}, err
	}
	res, err := decodeAnnounceReply(reply, dst)
	if errors.Is(err, errClusterMessage) {
		cl.ctr.bad.Add(1)
		return res, errClusterUnavailable
	}
	if res.exists {
		res.ihJSON = appendBinaryString(nil, p.infoHash[:])
	}
	return res, err
}

func (cl *cluster) forwardScrape(owner uint64, pr proto, hashes [][20]byte, dst []scrapeCounts) ([]scrapeCounts, error) {
	c := cl.calls.start()
	bp := cl.getBuf()
	*bp = appendCallHeader((*bp)[:0], c.seq, cl.s.inst)
	*bp = appendScrapeRequest(*bp, pr, hashes)
	reply, err := cl.request(owner, c, *bp)
	cl.putBuf(bp)
	if err != nil {
		return dst, err
	}
	dst, err = decodeScrapeReply(reply, len(hashes), dst)
	if err != nil {
		cl.ctr.bad.Add(1)
		return dst, errClusterUnavailable
	}
	return dst, nil
}

// requestScratch is one request subscriber's memory.
type requestScratch struct {
	a      wireAnnounce
	picks  []pickedPeer
	hashes [][20]byte
	counts []scrapeCounts
	out    []byte
	call   []byte // a reply with its call's header
	// relayOffers's: the announcing peer's ID as JSON, and the offers for
	// each other instance.
	fromJSON []byte
	batches  []offerBatch
	// onRoute's: a batch's messages (at most maxBatchItems) and one
	// message's offers (at most maxBatchOffers), kept between batches so
	// that reading them allocates nothing.
	items  [][]byte
	offers []routeOffer
}

// serveRequest serves a request sent alone on the request subject, with a
// NATS reply subject. Instances send theirs in batches (opCall); this
// subject serves whoever asks with a plain NATS request.
func (cl *cluster) serveRequest(m *nats.Msg, sc *requestScratch) {
	if reply, ok := cl.serve(m.Data, sc); ok && m.Reply != "" {
		m.Respond(reply)
	}
}

// serve serves another instance's request for a swarm this one owns, and
// returns the reply to send, if any (in sc). It serves it whoever owns the
// swarm by now: during a change of membership two instances may briefly
// disagree, and an answer from the old owner is better than none.
func (cl *cluster) serve(b []byte, sc *requestScratch) ([]byte, bool) {
	s := cl.s
	if len(b) < 2 || b[0] != wireVersion {
		cl.ctr.bad.Add(1)
		return nil, false
	}
	cl.ctr.served.Add(1)
	switch b[1] {
	case opAnnounce:
		a := &sc.a
		if err := decodeAnnounceRequest(b[2:], a); err != nil {
			cl.ctr.bad.Add(1)
			sc.out = appendAnnounceReply(sc.out[:0], nil, err)
			break
		}
		p := announceParams{
			infoHash:  &a.infoHash,
			peerID:    &a.peerID,
			kind:      a.kind,
			proto:     a.proto,
			event:     a.event,
			left:      a.left,
			addr:      a.addr,
			key:       a.key,
			ref:       a.ref,
			now:       s.now(),
			ttl:       min(a.ttl, max(s.ttlHTTP, s.ttlWS)),
			source:    a.source,
			numWant:   min(a.numWant, max(s.cfg.MaxNumWant, s.cfg.MaxOffers)),
			otherKind: a.otherKind,
			mayInsert: a.mayInsert,
		}
		if a.kind != kindWS {
			p.ref = connRef{}
		}
		if a.hasToPeer {
			p.toPeerID = &a.toPeerID
		}
		switch {
		case a.nearFirst:
			// The announcing instance chose the far share, and sent that
			// many offers (and with farOnly picked its near peers itself).
			p.nearFirst, p.farOnly, p.farPicks = true, a.farOnly, a.far
		case len(a.offers) > 0:
			p.numWant = min(p.numWant, len(a.offers))
		}
		res, err := s.store.announce(&p, sc.picks[:0])
		sc.picks = res.picked
		if err == nil && (len(a.offers) > 0 || a.nearFirst) {
			// Peers on the announcing instance come back in the reply,
			// for that instance to relay with its first offers: their
			// offers need not cross the cluster twice. The owner relays
			// the offers it was sent, its last ones, to far peers; far
			// peers beyond them (the announcing instance had too few
			// near ones) come back in the reply too, after the near ones.
			home := partitionPicks(res.picked, a.ref.inst)
			u := min(len(res.picked)-home, len(a.offers))
			res.relayed = cl.relayOffers(a, res.picked[home:home+u], a.offers[len(a.offers)-u:], &res, sc)
			n := copy(res.picked[home:], res.picked[home+u:])
			res.picked = res.picked[:home+n]
		}
		sc.out = appendAnnounceReply(sc.out[:0], &res, err)
		clear(sc.picks[:cap(sc.picks)]) // keep no socket alive from here
	case opScrape:
		pr, hashes, err := decodeScrapeRequest(b[2:], sc.hashes[:0], max(s.cfg.MaxScrapeHashes, UDPMaxScrapeHashes))
		sc.hashes = hashes
		if err != nil {
			cl.ctr.bad.Add(1)
			return nil, false
		}
		sc.counts = sc.counts[:0]
		for i := range hashes {
			sc.counts = append(sc.counts, s.store.scrape(&hashes[i], pr))
		}
		sc.out = appendScrapeReply(sc.out[:0], sc.counts)
	case opRemove:
		ih, id, ref, err := decodeRemoveRequest(b[2:])
		if err != nil {
			cl.ctr.bad.Add(1)
			return nil, false
		}
		s.store.removeConn(&ih, &id, ref, s.now())
		return nil, false
	default:
		cl.ctr.bad.Add(1)
		return nil, false
	}
	return sc.out, true
}

// The Server's routing: with no cluster, straight to the store.

// announce records an announce at the swarm's owner.
func (s *Server) announce(p *announceParams, dst []pickedPeer) (announceResult, error) {
	cl := s.cluster
	if cl == nil {
		return s.store.announce(p, dst)
	}
	if owner := cl.owner(p.infoHash); owner != s.inst {
		return cl.forwardAnnounce(owner, p, dst)
	}
	cl.pickNear(p)
	return s.store.announce(p, dst)
}

// scrape appends the counts of hashes, in order, to dst. A torrent whose
// owner could not be reached counts zeros.
func (s *Server) scrape(hashes [][20]byte, pr proto, dst []scrapeCounts) []scrapeCounts {
	cl := s.cluster
	base := len(dst)
	for i := range hashes {
		if cl == nil || cl.owner(&hashes[i]) == s.inst {
			dst = append(dst, s.store.scrape(&hashes[i], pr))
		} else {
			dst = append(dst, scrapeCounts{complete: -1})
		}
	}
	if cl == nil {
		return dst
	}
	// Ask each other owner once, for its torrents.
	var group [][20]byte
	var counts []scrapeCounts
	for {
		owner := uint64(0)
		group = group[:0]
		var idx []int
		for i := range hashes {
			if dst[base+i].complete != -1 {
				continue
			}
			o := cl.owner(&hashes[i])
			if owner == 0 {
				owner = o
			}
			if o == owner {
				group = append(group, hashes[i])
				idx = append(idx, i)
			}
		}
		if owner == 0 {
			return dst
		}
		var err error
		counts, err = cl.forwardScrape(owner, pr, group, counts[:0])
		for j, i := range idx {
			if err != nil {
				dst[base+i] = scrapeCounts{}
			} else {
				dst[base+i] = counts[j]
			}
		}
	}
}

// removeConn removes a closed socket's peer from the swarm of ih, at its owner.
func (s *Server) removeConn(ih, id *[20]byte, c connRef, now int64) {
	cl := s.cluster
	if cl == nil {
		s.store.removeConn(ih, id, c, now)
		return
	}
	cl.near.drop(ih, id, c)
	owner := cl.owner(ih)
	if owner == s.inst {
		s.store.removeConn(ih, id, c, now)
		return
	}
	bp := cl.getBuf()
	*bp = appendRemoveRequest((*bp)[:0], ih, id, c)
	cl.queue(owner, *bp) // no reply: the entry expires anyway if this is lost
	cl.putBuf(bp)
}

// ownsLocally reports whether this instance owns the swarm of ih.
func (s *Server) ownsLocally(ih *[20]byte) bool {
	return s.cluster == nil || s.cluster.owner(ih) == s.inst
}
