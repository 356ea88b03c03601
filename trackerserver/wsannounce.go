package trackerserver

import (
	"hash/maphash"
	"strconv"
	"sync/atomic"
)

// What a WebSocket peer's messages ask of the tracker: announces (the swarm
// updated, offers relayed to random peers, answers relayed to the peer they
// are for) and scrapes. ws.go holds the socket itself: its life, its reads
// and its writes.

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
		offers:    m.offers,
	}
	if m.answer != nil {
		p.toPeerID = &m.toPeerID
	}
	from := c.ids[idx].json
	// In a swarm another instance owns, the near peers' offers go out now,
	// from this instance's near set, and the owner is asked for far peers.
	forwarded := s.cluster != nil && !s.ownsLocally(&m.infoHash)
	near := 0
	if forwarded && len(m.offers) > 0 && m.event != eventStopped {
		near = c.relayNear(m, &p, from)
	}
	res, err := s.announce(&p, c.sc.picks[:0])
	if err != nil {
		if forwarded {
			s.cluster.near.drop(&m.infoHash, &m.peerID, c.ref())
			c.dropSpare()
		}
		c.sendFailure(actionAnnounce, err.Error(), &m.infoHash)
		return
	}
	if res.inserted {
		if c.memberships == nil {
			c.memberships = make(map[[20]byte]uint8)
		}
		c.memberships[m.infoHash] |= 1 << idx
	}
	if forwarded {
		c.keepNear(m, idx, p.now+p.ttl, res.member)
	}
	if p.farOnly {
		// The owner picked far peers only and relayed their offers; those
		// it found none for go to spare near peers.
		c.relaySpare(m, near, res.relayed, from, res.ihJSON)
		clear(res.picked)
		res.picked = res.picked[:0]
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
	s.ctr.offersRelayed.Add(uint64(res.relayed))
	for i, t := range res.picked {
		if i == len(m.offers) {
			break // an owner's reply names no more picks than offers; in case
		}
		c.relayOffer(t, m, &m.offers[i], from, res.ihJSON)
	}
	if len(c.sc.batches) > 0 {
		c.sc.batches = s.cluster.flushOffers(c.sc.batches)
	}
	clear(res.picked) // keep no other socket alive from here
	if cap(res.picked) > cap(c.sc.picks) {
		c.sc.picks = res.picked[:0]
	}
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
	out.b = appendRelayed(out.b, relayedAnswer, m.answer, m.offerID, from, res.ihJSON)
	s.sendAnswer(to.ref, to.conn, out)
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
	var ihBuf [2 + 6*20]byte // the longest JSON string of 20 bytes: each one \u00XX
	ihJSON := appendBinaryString(ihBuf[:0], m.infoHash[:])
	out := getOut()
	out.b = appendRelayed(out.b, relayedAnswer, m.answer, m.offerID, c.ids[idx].json, ihJSON)
	s.sendAnswer(to, nil, out)
}

// The two messages a tracker relays between peers: an offer, from the
// peer that made it to one it picked, and the answer back.
const (
	relayedOffer  = `{"action":"announce","offer":`
	relayedAnswer = `{"action":"announce","answer":`
)

// appendRelayed appends the relayed offer or answer (kind, relayedOffer or
// relayedAnswer), as bittorrent-tracker words it: the SDP and offer_id as
// the sender gave them, its peer_id and the torrent's info_hash as JSON
// strings.
func appendRelayed(b []byte, kind string, sdp, offerID, fromJSON, ihJSON []byte) []byte {
	b = append(b, kind...)
	b = append(b, sdp...)
	b = append(b, `,"offer_id":`...)
	b = append(b, offerID...)
	b = append(b, `,"peer_id":`...)
	b = append(b, fromJSON...)
	b = append(b, `,"info_hash":`...)
	b = append(b, ihJSON...)
	return append(b, '}')
}

// sendAnswer sends a relayed answer to the socket to: conn when the
// caller has it, else the socket of that number on this instance, else
// through the cluster to the instance that holds it.
func (s *Server) sendAnswer(to connRef, conn *wsConn, out *outMsg) {
	if conn == nil && to.inst == s.inst {
		conn = s.conns.get(to.id)
	}
	switch {
	case conn != nil:
		conn.sendCounted(out, &s.ctr.answersRelayed)
	case to.inst != s.inst && s.cluster != nil:
		if s.cluster.routeAnswer(to, out) {
			s.ctr.answersRelayed.Add(1)
		}
	default:
		putOut(out)
		s.ctr.dropped.Add(1)
	}
}

// ref is the socket's name across a cluster.
func (c *wsConn) ref() connRef { return connRef{inst: c.s.inst, id: c.regID} }

// relayOffer relays offer o of m, made by the peer whose peer_id is the
// JSON string from, in the swarm whose info hash is the JSON string ihJSON,
// to the picked peer t (deliverOffer).
func (c *wsConn) relayOffer(t pickedPeer, m *wsMessage, o *wsOffer, from, ihJSON []byte) bool {
	out := getOut()
	out.b = appendRelayed(out.b, relayedOffer, o.offer, o.offerID, from, ihJSON)
	return c.s.deliverOffer(t, out, c.ref(), &m.infoHash, &m.peerID, o.offerID, &c.sc.batches, &c.s.ctr.offersRelayed)
}

// deliverOffer sends the relayed offer out, made by peer fromID of socket
// from in swarm ih, with raw offer_id offerID, to the picked peer t: straight
// to its socket when it is on this instance, else, in a cluster, into
// batches for the instance that holds it (sent by the caller once the
// announce's offers are all made), which remembers the offer for the answer
// as this one would. Whether the announcing socket is on this instance or
// on another that forwarded its announce (relayOffers), the offer goes the
// same way. It reports whether the offer was relayed, adding one to count
// (if not nil) first; one that was not is freed and counted as dropped.
func (s *Server) deliverOffer(t pickedPeer, out *outMsg, from connRef, ih, fromID *[20]byte, offerID []byte, batches *[]offerBatch, count *atomic.Uint64) bool {
	if t.conn == nil && t.ref.inst == s.inst {
		t.conn = s.conns.get(t.ref.id)
	}
	switch {
	case t.conn != nil:
		return t.conn.sendOffer(out, from, s.offerKey(ih, fromID, offerID), count)
	case t.ref.inst != s.inst && s.cluster != nil:
		*batches = addOffer(*batches, t.ref, from, ih, fromID, offerID, out)
		if count != nil {
			count.Add(1)
		}
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
	counts := c.s.scrape(m.scrape, protoWS, c.sc.counts[:0])
	c.sc.counts = counts
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
		if c.s.cluster != nil {
			for i := range c.ids {
				if c.memberships[ih]&^bits&(1<<i) != 0 {
					c.s.cluster.near.drop(&ih, &c.ids[i].id, c.ref())
				}
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
