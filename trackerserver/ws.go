package trackerserver

import (
	"bufio"
	"context"
	"errors"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
)

// offerRingSize is how many relayed offers a socket remembers, so that its
// answers can be checked against them. A WebTorrent peer answers within
// seconds (its offers time out after 50), and in a swarm each peer receives
// about as many offers per interval as it sends (5): 64 leaves a wide margin.
const offerRingSize = 64

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
	msg         wsMessage
	picks       []pickedPeer
	counts      []scrapeCounts
	batches     []offerBatch // offers for other instances, while an announce is handled
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
	c.msg.offers = make([]wsOffer, 0, s.cfg.MaxOffers)
	c.picks = make([]pickedPeer, 0, s.cfg.MaxOffers)
	return c
}

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
	// through brw.Writer, which net/http made on the plain conn.
	w := wrapConn(conn)
	brw.Writer = bufio.NewWriter(w)
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
	m := &c.msg
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

// announce handles an announce: it updates the swarm, answers, relays the
// offers to random peers and the answer to the peer it is for.
func (c *wsConn) announce(m *wsMessage, now int64) {
	s := c.s
	idx, err := c.bind(&m.peerID)
	if err != nil {
		c.sendFailure(actionAnnounce, err.Error(), &m.infoHash)
		return
	}
	if m.event == eventInvalid {
		c.sendFailure(actionAnnounce, errInvalidEvent.Error(), &m.infoHash)
		return
	}
	if m.answer != nil && len(m.offers) == 0 && s.cluster != nil && c.memberships[m.infoHash]&(1<<idx) != 0 &&
		!s.ownsLocally(&m.infoHash) {
		c.answerDirect(m, idx)
		return
	}
	p := announceParams{
		infoHash:  &m.infoHash,
		peerID:    &m.peerID,
		kind:      kindWS,
		proto:     protoWS,
		event:     m.event,
		left:      m.left,
		conn:      c,
		ref:       c.ref(),
		now:       now,
		ttl:       s.ttlWS,
		source:    c.source,
		numWant:   len(m.offers),
		otherKind: -1,
		mayInsert: len(c.memberships) < s.cfg.MaxTorrentsPerConn || c.pruneMemberships(),
	}
	if m.answer != nil {
		p.toPeerID = &m.toPeerID
	}
	res, err := s.announce(&p, c.picks[:0])
	if err != nil {
		c.sendFailure(actionAnnounce, err.Error(), &m.infoHash)
		return
	}
	if res.inserted {
		if c.memberships == nil {
			c.memberships = make(map[[20]byte]uint8)
		}
		c.memberships[m.infoHash] |= 1 << idx
	}
	if !res.exists {
		// A stop for a torrent the tracker does not know.
		c.sendAnnounceReply(&m.infoHash, nil, 0, 0)
		return
	}
	// bittorrent-tracker sends no reply to an answer.
	if m.answer == nil {
		c.sendAnnounceReply(&m.infoHash, res.ihJSON, res.complete, res.incomplete)
	}
	from := c.ids[idx].json
	for i, t := range res.picked {
		o := &m.offers[i]
		out := getOut()
		out.b = append(out.b, `{"action":"announce","offer":`...)
		out.b = append(out.b, o.offer...)
		out.b = append(out.b, `,"offer_id":`...)
		out.b = append(out.b, o.offerID...)
		out.b = append(out.b, `,"peer_id":`...)
		out.b = append(out.b, from...)
		out.b = append(out.b, `,"info_hash":`...)
		out.b = append(out.b, res.ihJSON...)
		out.b = append(out.b, '}')
		if c.relayOffer(t, out, m, o.offerID) {
			s.ctr.offersRelayed.Add(1)
		}
	}
	if len(c.batches) > 0 {
		c.batches = s.cluster.flushOffers(c.batches)
	}
	clear(res.picked) // keep no other socket alive from here
	if m.answer != nil {
		c.relayAnswer(m, res, from)
	}
}

// relayAnswer sends an answer to the peer whose offer it answers, after
// checking that this socket was sent that offer by that peer.
func (c *wsConn) relayAnswer(m *wsMessage, res announceResult, from []byte) {
	s := c.s
	// to may be this very socket: WebTorrent clients of one page or process
	// share their tracker socket, each with its own peer ID.
	to := res.answerTo
	if to.ref.id == 0 {
		s.ctr.answersRefused.Add(1)
		c.sendFailure(actionAnnounce, "no peer with that `to_peer_id` in this swarm", &m.infoHash)
		return
	}
	if !c.takeOffer(to.ref, s.offerKey(&m.infoHash, &m.toPeerID, m.offerID)) {
		s.ctr.answersRefused.Add(1)
		c.sendFailure(actionAnnounce, "no offer with that `offer_id` from that peer", &m.infoHash)
		return
	}
	out := getOut()
	out.b = append(out.b, `{"action":"announce","answer":`...)
	out.b = append(out.b, m.answer...)
	out.b = append(out.b, `,"offer_id":`...)
	out.b = append(out.b, m.offerID...)
	out.b = append(out.b, `,"peer_id":`...)
	out.b = append(out.b, from...)
	out.b = append(out.b, `,"info_hash":`...)
	out.b = append(out.b, res.ihJSON...)
	out.b = append(out.b, '}')
	if to.conn == nil && to.ref.inst == s.inst {
		to.conn = s.conns.get(to.ref.id)
	}
	var ok bool
	switch {
	case to.conn != nil:
		ok = to.conn.send(out)
	case to.ref.inst != s.inst && s.cluster != nil:
		ok = s.cluster.routeAnswer(to.ref, out)
	default:
		putOut(out)
		s.ctr.dropped.Add(1)
	}
	if ok {
		s.ctr.answersRelayed.Add(1)
	}
}

// answerDirect relays an answer without asking the swarm's owner, which is
// on another instance: the owner has accepted this socket into the swarm
// under this peer_id (memberships), and this socket's record of the offer
// names the offering socket, so the round trip would tell nothing new. (The
// answer's own peer entry is refreshed by its next announce.) An answer
// from a peer_id the owner has not accepted here goes the long way, where
// the owner's binding refuses a spoofer.
func (c *wsConn) answerDirect(m *wsMessage, idx int) {
	s := c.s
	to, ok := c.takeOfferKey(s.offerKey(&m.infoHash, &m.toPeerID, m.offerID))
	if !ok {
		s.ctr.answersRefused.Add(1)
		c.sendFailure(actionAnnounce, "no offer with that `offer_id` from that peer", &m.infoHash)
		return
	}
	out := getOut()
	out.b = append(out.b, `{"action":"announce","answer":`...)
	out.b = append(out.b, m.answer...)
	out.b = append(out.b, `,"offer_id":`...)
	out.b = append(out.b, m.offerID...)
	out.b = append(out.b, `,"peer_id":`...)
	out.b = append(out.b, c.ids[idx].json...)
	out.b = append(out.b, `,"info_hash":`...)
	out.b = appendBinaryString(out.b, m.infoHash[:])
	out.b = append(out.b, '}')
	var sent bool
	switch {
	case to.inst == s.inst:
		if tc := s.conns.get(to.id); tc != nil {
			sent = tc.send(out)
		} else {
			putOut(out)
			s.ctr.dropped.Add(1)
		}
	default:
		sent = s.cluster.routeAnswer(to, out)
	}
	if sent {
		s.ctr.answersRelayed.Add(1)
	}
}

// batchOffer adds an offer for a socket of another instance to that
// instance's batch, sent when the announce's offers are all made.
func (c *wsConn) batchOffer(to connRef, m *wsMessage, offerID []byte, out *outMsg) {
	i := 0
	for i < len(c.batches) && c.batches[i].inst != to.inst {
		i++
	}
	if i == len(c.batches) {
		if i < cap(c.batches) {
			c.batches = c.batches[:i+1]
		} else {
			c.batches = append(c.batches, offerBatch{})
		}
		c.batches[i].inst = to.inst
		c.batches[i].b = appendOffersHeader(c.batches[i].b[:0], c.ref(), &m.infoHash, &m.peerID)
	}
	c.batches[i].b = appendOfferItem(c.batches[i].b, to.id, offerID, out.b)
	putOut(out)
}

// ref is the socket's name across a cluster.
func (c *wsConn) ref() connRef { return connRef{inst: c.s.inst, id: c.regID} }

// relayOffer sends the offer out, built from m's offer with raw offer_id
// offerID, to the picked peer t: straight to its socket when it is on this
// instance, else through the cluster to the instance that holds it, which
// remembers the offer for the answer as this one would.
func (c *wsConn) relayOffer(t pickedPeer, out *outMsg, m *wsMessage, offerID []byte) bool {
	s := c.s
	if t.conn == nil && t.ref.inst == s.inst {
		t.conn = s.conns.get(t.ref.id)
	}
	switch {
	case t.conn != nil:
		return t.conn.sendOffer(out, c.ref(), s.offerKey(&m.infoHash, &m.peerID, offerID))
	case t.ref.inst != s.inst && s.cluster != nil:
		c.batchOffer(t.ref, m, offerID, out)
		return true
	}
	putOut(out)
	s.ctr.dropped.Add(1)
	return false
}

// offerKey identifies an offer by a keyed hash of its torrent, the peer
// that made it and its decoded offer_id, so that an answer matches whatever
// escaping it uses.
func (s *Server) offerKey(ih, from *[20]byte, rawOfferID []byte) uint64 {
	var buf [40 + maxOfferIDLen]byte
	copy(buf[:], ih[:])
	copy(buf[20:], from[:])
	n, _ := decodeString(rawOfferID, buf[40:])
	return maphash.Bytes(s.seed, buf[:40+n])
}

// sendAnnounceReply sends bittorrent-tracker's announce response, with its
// keys in its order.
func (c *wsConn) sendAnnounceReply(ih *[20]byte, ihJSON []byte, complete, incomplete int) {
	out := getOut()
	out.b = append(out.b, `{"complete":`...)
	out.b = strconv.AppendInt(out.b, int64(complete), 10)
	out.b = append(out.b, `,"incomplete":`...)
	out.b = strconv.AppendInt(out.b, int64(incomplete), 10)
	out.b = append(out.b, `,"action":"announce","interval":`...)
	out.b = strconv.AppendInt(out.b, ceilSeconds(c.s.cfg.WebSocketInterval), 10)
	out.b = append(out.b, `,"info_hash":`...)
	if ihJSON != nil {
		out.b = append(out.b, ihJSON...)
	} else {
		out.b = appendBinaryString(out.b, ih[:])
	}
	out.b = append(out.b, '}')
	c.send(out)
}

// sendFailure sends a failure reason. Messages that could not be parsed get
// only the reason; others also the action and info hash, as
// bittorrent-tracker sends them.
func (c *wsConn) sendFailure(action int, reason string, ih *[20]byte) {
	out := getOut()
	out.b = append(out.b, '{')
	switch action {
	case actionAnnounce:
		out.b = append(out.b, `"action":"announce",`...)
	case actionScrape:
		out.b = append(out.b, `"action":"scrape",`...)
	}
	out.b = append(out.b, `"failure reason":`...)
	out.b = appendJSONText(out.b, reason)
	if ih != nil {
		out.b = append(out.b, `,"info_hash":`...)
		out.b = appendBinaryString(out.b, ih[:])
	}
	out.b = append(out.b, '}')
	c.send(out)
	c.s.log.Debug("trackerserver: websocket request refused", "remote", c.remote, "reason", reason)
}

// scrape answers a scrape as bittorrent-tracker does, with the real
// "downloaded" count where it sends the seeders.
func (c *wsConn) scrape(m *wsMessage) {
	out := getOut()
	out.b = append(out.b, `{"action":"scrape","files":{`...)
	counts := c.s.scrape(m.scrape, protoWS, c.counts[:0])
	c.counts = counts
	for i := range m.scrape {
		sc := counts[i]
		if i > 0 {
			out.b = append(out.b, ',')
		}
		out.b = appendBinaryString(out.b, m.scrape[i][:])
		out.b = append(out.b, `:{"complete":`...)
		out.b = strconv.AppendInt(out.b, int64(sc.complete), 10)
		out.b = append(out.b, `,"incomplete":`...)
		out.b = strconv.AppendInt(out.b, int64(sc.incomplete), 10)
		out.b = append(out.b, `,"downloaded":`...)
		out.b = strconv.AppendInt(out.b, sc.downloaded, 10)
		out.b = append(out.b, '}')
	}
	out.b = append(out.b, `},"flags":{"min_request_interval":`...)
	out.b = strconv.AppendInt(out.b, ceilSeconds(c.s.cfg.Interval), 10)
	out.b = append(out.b, `}}`...)
	c.send(out)
}

// pruneMemberships forgets swarms the socket is no longer in (its peers
// expired); it reports whether there is room for another.
func (c *wsConn) pruneMemberships() bool {
	for ih, bits := range c.memberships {
		if !c.s.ownsLocally(&ih) {
			continue // asking another instance for each would cost a round trip apiece
		}
		for i := range c.ids {
			if bits&(1<<i) != 0 && !c.s.store.hasConn(&ih, &c.ids[i].id, c.ref()) {
				bits &^= 1 << i
			}
		}
		if bits == 0 {
			delete(c.memberships, ih)
		} else {
			c.memberships[ih] = bits
		}
	}
	return len(c.memberships) < c.s.cfg.MaxTorrentsPerConn
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
		if c.offers == nil {
			c.offers = make([]offerRecord, offerRingSize)
		}
		c.offers[c.offerNext] = offerRecord{from: from, key: key}
		c.offerNext = (c.offerNext + 1) % offerRingSize
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
