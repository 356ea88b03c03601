package trackerserver

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// offerRingSize is how many relayed offers a socket remembers, so that its
// answers can be checked against them. A WebTorrent peer answers within
// seconds (its offers time out after 50), and in a swarm each peer receives
// about as many offers per interval as it sends (5): 64 leaves a wide margin.
// The ring starts at offerRingStart and doubles, up to offerRingSize, only
// when the offer it would forget has not been answered: a socket that
// answers what it gets keeps 8 records (192 bytes) instead of 64 (1.5 KiB).
const (
	offerRingSize  = 64
	offerRingStart = 8
)

// boundID is a peer ID a socket owns, with its JSON form for relayed messages.
type boundID struct {
	id   [20]byte
	json []byte
}

// offerRecord remembers that the socket was sent an offer by socket from
// (on this instance or another), identified by a keyed hash of info hash,
// sender and offer_id.
type offerRecord struct {
	from connRef
	key  uint64
}

// outMsg is a message waiting to be written, with its frame's header once
// framed (hn bytes of hdr; none for a control frame, framed whole in b);
// it is pooled.
type outMsg struct {
	b   []byte
	hdr [10]byte
	hn  uint8
}

// maxPooledMsg keeps huge buffers out of the pool.
const maxPooledMsg = 128 << 10

var outPool = sync.Pool{New: func() any { return &outMsg{b: make([]byte, 0, 1024)} }}

func getOut() *outMsg { m := outPool.Get().(*outMsg); m.b = m.b[:0]; m.hn = 0; return m }

func putOut(m *outMsg) {
	if cap(m.b) <= maxPooledMsg {
		outPool.Put(m)
	}
}

// inPool holds read buffers; a socket holds one only while it has read
// frames to handle, or part of a frame (wsread.go).
var inPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// wsConn is one WebSocket. Its reader goroutine (serve) owns the fields in
// the first group; whoever sends it a message writes it (wswrite.go).
type wsConn struct {
	s       *Server
	sink    func([]byte) // benchmarks: where messages go when w is nil
	netConn net.Conn     // the socket; nil in benchmarks that drive handle directly
	w       sockWriter   // writes netConn; nil in benchmarks
	r       pooledReader // reads netConn (wsread.go)
	early   *[]byte      // what the client sent after its upgrade request, which net/http had read (from inPool); nil for none
	remote  netip.AddrPort
	source  netip.Addr // the client's address for per-source limits (X-Forwarded-For with TrustProxy)
	regID   uint64     // the socket's number: the registry's key and connRef.id

	// Owned by the reader goroutine.
	ids         []boundID
	memberships map[[20]byte]uint8 // swarms joined, by info hash, with a bit per index in ids
	sc          *wsScratch         // while a message is handled; from wsScratchPool
	tokens      float64
	tokensAt    int64

	// Read by the housekeeping goroutine.
	connectedAt  int64
	greeted      atomic.Bool // it sent a valid request
	lastMessage  atomic.Int64
	lastActivity atomic.Int64 // a message or a pong
	writeSince   atomic.Int64 // since when the queue has waited for room (or last made progress); 0 when empty
	pingSent     atomic.Int64 // when the last ping went, until its pong; 0 for none
	closeSent    atomic.Bool  // the tracker's close frame is sent: the socket only waits for the peer's

	// What waits to be written (wswrite.go), and what was relayed to this
	// socket.
	mu          sync.Mutex
	queue       []*outMsg // frames the socket has not taken yet, oldest first
	queueSent   int       // bytes of queue[0]'s frame already written
	queuedBytes int
	closed      bool          // the reader is gone: no more messages
	dead        bool          // a write failed or the socket was closed: no more writes
	offers      []offerRecord // ring, allocated on the first offer
	offerNext   int

	drains  sync.WaitGroup // a drain goroutine writing the queue out, while one runs
	byeOnce sync.Once
}

func (s *Server) newConn(remote netip.AddrPort) *wsConn {
	now := s.now()
	c := &wsConn{
		s:           s,
		remote:      remote,
		regID:       s.conns.newID(),
		connectedAt: now,
		tokens:      float64(s.cfg.MessageBurst),
		tokensAt:    now,
	}
	c.lastMessage.Store(now)
	c.lastActivity.Store(now)
	return c
}

// wsScratch is the memory a socket's reader uses while it handles one
// message. It is taken from wsScratchPool for the message and given back
// after, instead of each socket keeping its own: 2 KiB of every socket's
// memory, most of them idle at any moment. What it holds is bounded by the
// limits on one message (MaxOffers, MaxScrapeHashes).
type wsScratch struct {
	msg     wsMessage
	picks   []pickedPeer
	counts  []scrapeCounts
	batches []offerBatch // offers for other instances, while an announce is handled
	spare   []pickedPeer // near peers beyond the near share (relayNear)
}

var wsScratchPool = sync.Pool{New: func() any { return new(wsScratch) }}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.shuttingDown {
		s.mu.Unlock()
		http.Error(w, "503 tracker is shutting down", http.StatusServiceUnavailable)
		return
	}
	s.connWG.Add(1)
	s.mu.Unlock()
	c := s.upgrade(w, r)
	if c == nil {
		s.connWG.Done()
		return
	}
	// The socket lives on a goroutine of its own and net/http's handler
	// returns, so that what net/http keeps for a request (the request, its
	// headers and context, a 4 KiB write buffer) goes: 4-5 KiB of each open
	// socket.
	go c.serve()
}

// upgrade admits and upgrades a WebSocket and registers it; nil when it
// was refused or the upgrade failed. The socket's slot in MaxConns is held
// until serve ends.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) *wsConn {
	if !s.start() {
		http.Error(w, "503 tracker is shutting down", http.StatusServiceUnavailable)
		return nil
	}
	// Reserve a slot before the upgrade, so concurrent upgrades cannot
	// overshoot MaxConns.
	if s.conns.count.Add(1) > int64(s.cfg.MaxConns) {
		s.conns.count.Add(-1)
		s.ctr.wsRejected.Add(1)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "503 too many connections", http.StatusServiceUnavailable)
		return nil
	}
	conn, early, err := acceptWebSocket(w, r)
	if err != nil {
		s.conns.count.Add(-1)
		s.log.Debug("trackerserver: websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return nil
	}
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	c := s.newConn(remote)
	c.source = s.clientAddr(r)
	c.netConn = conn
	raw := wrapConn(conn)
	c.w = newSockWriter(raw)
	c.r = newPooledReader(raw)
	c.early = early
	s.ctr.wsAccepted.Add(1)
	s.conns.add(c)
	s.mu.Lock()
	late := s.shuttingDown // Shutdown may have missed this socket
	s.mu.Unlock()
	if late {
		c.goodbye()
	}
	return c
}

// serve reads and handles the socket's messages until it ends, then lets
// it go: it holds the socket's count in connWG and its slot in MaxConns.
func (c *wsConn) serve() {
	s := c.s
	defer s.connWG.Done()
	defer s.conns.count.Add(-1)
	defer s.conns.remove(c)
	var fr frameReader
	if c.early != nil {
		fr.bp, fr.end = c.early, len(*c.early)
		c.early = nil
	}
	code, reason := c.readLoop(&fr)
	c.detach()
	if code != 0 && code != peerClosed {
		// The closing handshake: our close frame, then the peer's, for a
		// while.
		c.sendClose(code, reason)
		t := time.AfterFunc(closeWait, c.kill)
		c.readLoop(&fr)
		t.Stop()
	}
	fr.release()
	if code != 0 {
		// What is queued, the close frame last, goes out, for a while.
		t := time.AfterFunc(closeWait, c.kill)
		c.drains.Wait()
		t.Stop()
	}
	c.kill()
	c.drains.Wait()
}

// handle handles one message. It reports false when the socket must close.
func (c *wsConn) handle(b []byte, now int64) bool {
	s := c.s
	s.ctr.wsMessages.Add(1)
	c.lastMessage.Store(now)
	c.lastActivity.Store(now)
	if !c.allow(now) {
		s.ctr.rateLimited.Add(1)
		return false
	}
	c.sc = wsScratchPool.Get().(*wsScratch)
	defer c.putScratch()
	m := &c.sc.msg
	if err := parseWSMessage(b, m, s.cfg.MaxOffers, s.cfg.MaxScrapeHashes); err != nil {
		s.ctr.wsBadMessages.Add(1)
		c.sendFailure(0, err.Error(), nil)
		return true
	}
	c.greeted.Store(true)
	if m.action == actionScrape {
		c.scrape(m)
		return true
	}
	c.announce(m, now)
	return true
}

// putScratch gives the message's scratch back, holding nothing of the
// message (whose buffer goes back to its pool) or of other sockets.
func (c *wsConn) putScratch() {
	sc := c.sc
	c.sc = nil
	offers, scrape := sc.msg.offers[:0], sc.msg.scrape[:0]
	clear(offers[:cap(offers)])
	sc.msg = wsMessage{offers: offers, scrape: scrape}
	clear(sc.picks[:cap(sc.picks)])
	sc.picks = sc.picks[:0]
	wsScratchPool.Put(sc)
}

// allow takes a token from the socket's bucket.
func (c *wsConn) allow(now int64) bool {
	rate := c.s.cfg.MessageRate
	if rate < 0 {
		return true
	}
	burst := float64(c.s.cfg.MessageBurst)
	c.tokens += float64(now-c.tokensAt) * rate / 1e9
	c.tokensAt = now
	if c.tokens > burst {
		c.tokens = burst
	}
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// bind returns the index of id among the socket's peer IDs, binding it to
// the socket if no other socket owns it.
func (c *wsConn) bind(id *[20]byte) (int, error) {
	for i := range c.ids {
		if c.ids[i].id == *id {
			return i, nil
		}
	}
	if len(c.ids) >= c.s.cfg.MaxPeerIDsPerConn {
		return 0, errMsg("too many peer_ids on one connection")
	}
	if !c.s.ids.bind(id, c) {
		return 0, errPeerIDInUse
	}
	c.ids = append(c.ids, boundID{id: *id, json: appendBinaryString(nil, id[:])})
	return len(c.ids) - 1, nil
}

// send queues a message for the socket. It reports false, and drops the
// message, when the socket is closed or too far behind.
func (c *wsConn) send(m *outMsg) bool {
	return c.enqueue(m, connRef{}, 0, nil)
}

// sendCounted is send, adding one to count when the message is taken:
// before it is written, so that whoever receives it sees it counted.
func (c *wsConn) sendCounted(m *outMsg, count *atomic.Uint64) bool {
	return c.enqueue(m, connRef{}, 0, count)
}

// sendOffer queues an offer from conn from and remembers it for the
// answer; count as sendCounted.
func (c *wsConn) sendOffer(m *outMsg, from connRef, key uint64, count *atomic.Uint64) bool {
	return c.enqueue(m, from, key, count)
}

// rememberOffer records an offer sent to the socket (c.mu held), in the
// place of the oldest record, unless that one is still unanswered and the
// ring can grow.
func (c *wsConn) rememberOffer(r offerRecord) {
	switch {
	case c.offers == nil:
		c.offers = make([]offerRecord, offerRingStart)
	case c.offers[c.offerNext].from.id != 0 && len(c.offers) < offerRingSize:
		// Oldest first, then room: the next records go after the old ones.
		grown := make([]offerRecord, 0, min(2*len(c.offers), offerRingSize))
		grown = append(grown, c.offers[c.offerNext:]...)
		grown = append(grown, c.offers[:c.offerNext]...)
		c.offerNext = len(grown)
		c.offers = grown[:cap(grown)]
	}
	c.offers[c.offerNext] = r
	c.offerNext = (c.offerNext + 1) % len(c.offers)
}

// takeOffer reports whether the socket was sent an offer with key by from,
// and forgets it: an offer is answered once.
func (c *wsConn) takeOffer(from connRef, key uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.offers {
		if r := &c.offers[i]; r.from == from && r.key == key {
			*r = offerRecord{}
			return true
		}
	}
	return false
}

// takeOfferKey is takeOffer by key alone (the key covers the offering peer
// ID): it returns the socket that sent the offer, and forgets the offer.
func (c *wsConn) takeOfferKey(key uint64) (connRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.offers {
		if r := &c.offers[i]; r.from.id != 0 && r.key == key {
			from := r.from
			*r = offerRecord{}
			return from, true
		}
	}
	return connRef{}, false
}

// goodbye closes the socket with a close frame (1001, going away): the
// socket's reader ends at the peer's close frame, or closeWait later.
func (c *wsConn) goodbye() {
	c.byeOnce.Do(func() {
		if c.sendClose(closeGoingAway, "tracker is shutting down") {
			time.AfterFunc(closeWait, c.kill)
		}
	})
}

// kill closes the socket at once: blocked reads and writes fail.
func (c *wsConn) kill() {
	if c.netConn != nil {
		c.netConn.Close()
	}
}

// detach removes the socket from every swarm and from the peer ID registry
// once its reader has ended; no message is queued for it after. What is
// queued still goes, before a close frame.
func (c *wsConn) detach() {
	s := c.s
	now := s.now()
	for ih, bits := range c.memberships {
		for i := range c.ids {
			if bits&(1<<i) != 0 {
				s.removeConn(&ih, &c.ids[i].id, c.ref(), now)
			}
		}
	}
	c.memberships = nil
	for i := range c.ids {
		s.ids.unbind(&c.ids[i].id, c)
	}
	c.mu.Lock()
	c.closed = true
	c.offers = nil
	c.mu.Unlock()
}

// sweepConns enforces the WebSocket timeouts and starts pings.
func (s *Server) sweepConns(now int64) {
	cfg := &s.cfg
	var kill []*wsConn
	s.conns.each(func(c *wsConn) {
		switch {
		case cfg.HandshakeTimeout > 0 && !c.greeted.Load() && now-c.connectedAt > int64(cfg.HandshakeTimeout),
			cfg.IdleTimeout > 0 && now-c.lastMessage.Load() > int64(cfg.IdleTimeout):
			kill = append(kill, c)
		case cfg.WriteTimeout > 0 && c.writeSince.Load() != 0 && now-c.writeSince.Load() > int64(cfg.WriteTimeout):
			kill = append(kill, c)
		case cfg.PingInterval > 0 && now-c.lastActivity.Load() > int64(cfg.PingInterval):
			// A ping outstanding since the last activity, and no pong for
			// PingInterval: closed. Else a ping goes now.
			if sent := c.pingSent.Load(); sent != 0 && sent >= c.lastActivity.Load() {
				if now-sent > int64(cfg.PingInterval) {
					kill = append(kill, c)
				}
				break
			}
			c.pingSent.Store(now)
			c.sendControl(opPing, nil)
		}
	})
	for _, c := range kill {
		s.ctr.timedOut.Add(1)
		c.kill()
	}
}
