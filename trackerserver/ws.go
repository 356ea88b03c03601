package trackerserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
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

// outMsg is a message waiting to be written; its buffer is pooled.
type outMsg struct{ b []byte }

// maxPooledMsg keeps huge buffers out of the pool.
const maxPooledMsg = 128 << 10

var outPool = sync.Pool{New: func() any { return &outMsg{b: make([]byte, 0, 1024)} }}

func getOut() *outMsg { m := outPool.Get().(*outMsg); m.b = m.b[:0]; return m }

func putOut(m *outMsg) {
	if cap(m.b) <= maxPooledMsg {
		outPool.Put(m)
	}
}

// inPool holds read buffers; a socket holds one only while it handles a message.
var inPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// wsConn is one WebSocket. Its reader goroutine (the HTTP handler's) owns
// the fields in the first group; a writer goroutine writes what others queue.
type wsConn struct {
	s       *Server
	ws      *websocket.Conn // nil in benchmarks that drive handle directly
	sink    func([]byte)    // benchmarks: where writes go when ws is nil
	netConn net.Conn        // what ws runs on
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
	writeSince   atomic.Int64 // when the write in progress began; 0 when none
	pinging      atomic.Bool

	// The outbound queue, and what was relayed to this socket.
	mu          sync.Mutex
	queue       []*outMsg
	spare       []*outMsg
	queuedBytes int
	closed      bool
	offers      []offerRecord // ring, allocated on the first offer
	offerNext   int

	wake    chan struct{} // a message was queued
	bye     chan struct{} // Shutdown: say goodbye
	byeOnce sync.Once
	done    chan struct{} // the reader is gone: writer, stop
}

func (s *Server) newConn(ws *websocket.Conn, remote netip.AddrPort) *wsConn {
	now := s.now()
	c := &wsConn{
		s:           s,
		ws:          ws,
		remote:      remote,
		regID:       s.conns.newID(),
		connectedAt: now,
		tokens:      float64(s.cfg.MessageBurst),
		tokensAt:    now,
		wake:        make(chan struct{}, 1),
		bye:         make(chan struct{}),
		done:        make(chan struct{}),
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
	defer s.connWG.Done()
	if !s.start() {
		http.Error(w, "503 tracker is shutting down", http.StatusServiceUnavailable)
		return
	}
	// Reserve a slot before the upgrade, so concurrent upgrades cannot
	// overshoot MaxConns.
	defer s.conns.count.Add(-1)
	if s.conns.count.Add(1) > int64(s.cfg.MaxConns) {
		s.ctr.wsRejected.Add(1)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "503 too many connections", http.StatusServiceUnavailable)
		return
	}
	hr := &hijackRecorder{ResponseWriter: w}
	ws, err := websocket.Accept(hr, r, &websocket.AcceptOptions{
		// Trackers serve pages of every origin, as bittorrent-tracker does.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.log.Debug("trackerserver: websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(s.cfg.MaxMessageSize)
	remote, _ := netip.ParseAddrPort(r.RemoteAddr)
	c := s.newConn(ws, remote)
	c.source = s.clientAddr(r)
	c.netConn = hr.conn
	s.ctr.wsAccepted.Add(1)
	s.conns.add(c)
	defer s.conns.remove(c)
	s.mu.Lock()
	late := s.shuttingDown // Shutdown may have missed this socket
	s.mu.Unlock()
	if late {
		c.goodbye()
	}

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	code, reason := c.readLoop()
	c.detach()
	if code != 0 {
		// Close sends the close frame and reads until the peer's; its own
		// 5-second timeouts bound it, and closing the socket also ends a
		// write the writer may be stuck in.
		c.ws.Close(code, reason)
	}
	c.kill()
	<-writerDone
	c.ws.CloseNow()
}

// hijackRecorder keeps the connection that coder/websocket hijacks, so that
// a socket can be closed at once, whatever its close handshake is doing, and
// hands coder/websocket the connection with raw socket calls (rawConn).
type hijackRecorder struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	h.conn = conn
	if err != nil {
		return conn, brw, err
	}
	// coder/websocket reads through brw.Reader, which it resets onto the
	// conn returned here (keeping what net/http had buffered), and writes
	// through brw.Writer, net/http's own writer (4 KiB) set on the plain
	// conn. It is set on ours instead of replaced by another, which would
	// leave net/http's in memory, unused, for the socket's life: 4 KiB of
	// the 36 each socket cost with 15,000 open.
	w := wrapConn(conn)
	brw.Writer.Reset(w)
	return w, brw, nil
}

func (h *hijackRecorder) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// readLoop reads and handles messages until the socket fails or closes, or
// a message breaks a rule; then it returns the close status to send.
// Reads use a context that is never done, so that coder/websocket sets up
// no timer per frame; the housekeeping goroutine enforces the timeouts by
// closing the socket.
func (c *wsConn) readLoop() (websocket.StatusCode, string) {
	ctx := context.Background()
	limit := int(c.s.cfg.MaxMessageSize)
	for {
		_, r, err := c.ws.Reader(ctx)
		if err != nil {
			return 0, ""
		}
		bp := inPool.Get().(*[]byte)
		b, err := readMessage(r, (*bp)[:0], limit)
		if err != nil {
			*bp = b[:0]
			inPool.Put(bp)
			return 0, ""
		}
		// Both text and binary frames are taken: bittorrent-tracker runs
		// JSON.parse on either.
		ok := c.handle(b, c.s.now())
		*bp = b[:0]
		if cap(b) <= maxPooledMsg {
			inPool.Put(bp)
		}
		if !ok {
			return websocket.StatusPolicyViolation, "too many messages"
		}
	}
}

// readMessage reads a whole message into b, growing it up to limit+1 bytes
// (the reader enforces the limit itself).
func readMessage(r io.Reader, b []byte, limit int) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) > limit {
			return b, errMsg("message too big")
		}
	}
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
	return c.enqueue(m, connRef{}, 0)
}

// sendOffer queues an offer from conn from and remembers it for the answer.
func (c *wsConn) sendOffer(m *outMsg, from connRef, key uint64) bool {
	return c.enqueue(m, from, key)
}

func (c *wsConn) enqueue(m *outMsg, from connRef, key uint64) bool {
	c.mu.Lock()
	if c.closed || c.queuedBytes+len(m.b) > c.s.cfg.MaxQueuedBytes {
		c.mu.Unlock()
		putOut(m)
		c.s.ctr.dropped.Add(1)
		return false
	}
	if from.id != 0 {
		c.rememberOffer(offerRecord{from: from, key: key})
	}
	c.queue = append(c.queue, m)
	c.queuedBytes += len(m.b)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
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

// writeLoop writes queued messages until the reader is gone, or says
// goodbye when the server shuts down. Writes use a context that is never
// done (no timer per message); housekeeping closes a socket whose write
// stalls.
func (c *wsConn) writeLoop() {
	ctx := context.Background()
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		case <-c.bye:
			c.flush(ctx)
			c.ws.Close(websocket.StatusGoingAway, "tracker is shutting down")
			<-c.done
			return
		}
		if !c.flush(ctx) {
			c.kill() // the reader fails and ends the socket
			<-c.done
			return
		}
	}
}

// flush writes what is queued. It reports false when a write failed.
func (c *wsConn) flush(ctx context.Context) bool {
	c.mu.Lock()
	batch := c.queue
	c.queue = c.spare[:0]
	c.queuedBytes = 0
	c.mu.Unlock()
	ok := true
	for i, m := range batch {
		switch {
		case ok && c.ws != nil:
			c.writeSince.Store(max(c.s.now(), 1))
			err := c.ws.Write(ctx, websocket.MessageText, m.b)
			c.writeSince.Store(0)
			ok = err == nil
		case c.sink != nil:
			c.sink(m.b)
		}
		putOut(m)
		batch[i] = nil
	}
	c.mu.Lock()
	c.spare = batch[:0]
	c.mu.Unlock()
	return ok
}

// goodbye asks the writer to close the socket with a close frame.
func (c *wsConn) goodbye() {
	c.byeOnce.Do(func() { close(c.bye) })
}

// kill closes the socket at once: blocked reads and writes fail.
func (c *wsConn) kill() {
	if c.netConn != nil {
		c.netConn.Close()
	}
}

// detach removes the socket from every swarm and from the peer ID registry
// once its reader has ended, drops what it had queued and stops its writer.
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
	for _, m := range c.queue {
		putOut(m)
	}
	c.queue = nil
	c.offers = nil
	c.mu.Unlock()
	close(c.done)
}

// ping pings the socket; no pong within PingInterval closes it.
func (c *wsConn) ping() {
	s := c.s
	defer s.connWG.Done()
	defer c.pinging.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.PingInterval)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		s.ctr.timedOut.Add(1)
		c.kill()
		return
	}
	c.lastActivity.Store(s.now())
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
		case cfg.PingInterval > 0 && now-c.lastActivity.Load() > int64(cfg.PingInterval) && !c.pinging.Load():
			s.mu.Lock()
			if !s.shuttingDown {
				c.pinging.Store(true)
				s.connWG.Add(1)
				go c.ping()
			}
			s.mu.Unlock()
		}
	})
	for _, c := range kill {
		s.ctr.timedOut.Add(1)
		c.kill()
	}
}
