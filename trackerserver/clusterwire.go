package trackerserver

import (
	"encoding/binary"
	"net/netip"
)

// The messages instances of a cluster send each other over NATS. They are a
// small binary encoding of what the owner's store and the socket's instance
// need, nothing more: a request to a swarm's owner (announce, scrape,
// removal of a socket's peer), the owner's reply, a message for a socket
// (offer or answer, its JSON relayed as received) and a heartbeat. Every
// message starts with the version and the operation. The decoders take
// bytes from the network: they check every length and every enumerated
// value, and fail with errClusterMessage.

// wireVersion 2: a forwarded WebSocket announce carries its offers, and
// its reply how many the owner relayed (flagOffers, flagRelayed).
// wireVersion 3: a forwarded WebSocket announce may ask for near-first picks
// (flagNear, with the number of far picks), and then carries only that many
// offers, the last ones; the reply names the picks the owner did not relay
// (those near the announcing socket, then any far ones left over) for the
// announcing instance to relay with its first offers.
// wireVersion 4: a near-first announce may ask for far picks only
// (flagFarOnly: the announcing instance picked and relayed its near peers
// itself, from its near set), and the reply says whether the peer is in
// the swarm (flagMember), which is what puts it in that near set.
const wireVersion = 4

// Operations.
const (
	opAnnounce  = 1  // request: announce; reply: announceResult
	opScrape    = 2  // request: scrape counts
	opRemove    = 3  // request, no reply: a closed socket's peer leaves a swarm
	opOffer     = 4  // route: an offer for a socket
	opAnswer    = 5  // route: an answer for a socket
	opHeartbeat = 6  // membership: alive
	opLeaving   = 7  // membership: shutting down
	opHello     = 8  // membership: just joined, heartbeat now please
	opBatch     = 9  // route: several route messages for one instance, in order
	opCall      = 10 // route: a request (announce, scrape) to be answered by an opReply
	opReply     = 11 // route: the reply to an opCall
)

// Reply status.
const (
	replyOK      = 0
	replyFailure = 1
)

// Flags of an announce request and reply.
const (
	flagMayInsert   = 1 << 0
	flagToPeer      = 1 << 1
	flagOffers      = 1 << 2 // a WebSocket announce's offers follow, for the owner to relay
	flagNear        = 1 << 3 // near-first picks, with this many far: a byte follows
	flagFarOnly     = 1 << 4 // with flagNear: far picks only, as many as numwant
	flagExists      = 1 << 0
	flagInserted    = 1 << 1
	flagAnswerFound = 1 << 2
	flagRelayed     = 1 << 3 // the count of offers the owner relayed follows
	flagMember      = 1 << 4 // the peer is in the swarm
)

// maxRawOfferID bounds an offer_id as it arrived (JSON-escaped, quotes
// included): every decoded byte can take six characters (\u00XX).
const maxRawOfferID = 6*maxOfferIDLen + 2

// maxWirePicks bounds the peers of one reply: an announce asks for at most
// MaxNumWant or MaxOffers, both far below it.
const maxWirePicks = 255

const errClusterMessage = errMsg("trackerserver: malformed cluster message")

// wireReader reads a message, remembering the first error.
type wireReader struct {
	b   []byte
	bad bool
}

func (r *wireReader) take(n int) []byte {
	if r.bad || n < 0 || len(r.b) < n {
		r.bad = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *wireReader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *wireReader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *wireReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *wireReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *wireReader) id(dst *[20]byte) {
	if v := r.take(20); v != nil {
		copy(dst[:], v)
	}
}

func (r *wireReader) ref() connRef {
	return connRef{inst: r.u64(), id: r.u64()}
}

// addr reads an address: a length (0, 4 or 16) and its bytes.
func (r *wireReader) addr() netip.Addr {
	switch n := r.u8(); n {
	case 0:
		return netip.Addr{}
	case 4:
		if v := r.take(4); v != nil {
			return netip.AddrFrom4([4]byte(v))
		}
	case 16:
		if v := r.take(16); v != nil {
			return netip.AddrFrom16([16]byte(v))
		}
	default:
		r.bad = true
	}
	return netip.Addr{}
}

func (r *wireReader) addrPort() netip.AddrPort {
	a := r.addr()
	p := r.u16()
	if !a.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, p)
}

func appendRef(b []byte, c connRef) []byte {
	b = binary.BigEndian.AppendUint64(b, c.inst)
	return binary.BigEndian.AppendUint64(b, c.id)
}

func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(b, 0)
	case a.Is4():
		v := a.As4()
		return append(append(b, 4), v[:]...)
	default:
		v := a.As16()
		return append(append(b, 16), v[:]...)
	}
}

func appendAddrPort(b []byte, a netip.AddrPort) []byte {
	b = appendAddr(b, a.Addr())
	return binary.BigEndian.AppendUint16(b, a.Port())
}

// wireAnnounce is an announce request as it crosses the cluster.
type wireAnnounce struct {
	infoHash, peerID, toPeerID [20]byte
	kind                       setKind
	proto                      proto
	event                      event
	left                       leftState
	mayInsert, hasToPeer       bool
	nearFirst, farOnly         bool
	far                        int // far picks, with nearFirst
	numWant                    int
	otherKind                  int
	key                        uint32
	ttl                        int64
	ref                        connRef
	addr                       netip.AddrPort
	source                     netip.Addr
	offers                     []wsOffer // alias the message
}

func appendAnnounceRequest(b []byte, p *announceParams) []byte {
	b = append(b, wireVersion, opAnnounce)
	b = append(b, p.infoHash[:]...)
	b = append(b, p.peerID[:]...)
	var flags byte
	if p.mayInsert {
		flags |= flagMayInsert
	}
	if p.toPeerID != nil {
		flags |= flagToPeer
	}
	offers := p.offers[:min(len(p.offers), maxBatchOffers)]
	near := p.nearFirst && p.kind == kindWS
	switch {
	case p.kind != kindWS:
		offers = nil
	case near:
		// Only the far picks' offers, the last ones: the announcing
		// instance relays the others to the near peers the reply names.
		offers = offers[len(offers)-min(max(p.farPicks, 0), len(offers)):]
	}
	if len(offers) > 0 {
		flags |= flagOffers
	}
	if near {
		flags |= flagNear
		if p.farOnly {
			flags |= flagFarOnly
		}
	}
	b = append(b, byte(p.kind), byte(p.proto), byte(p.event), byte(p.left), flags, byte(int8(p.otherKind)))
	b = binary.BigEndian.AppendUint16(b, uint16(min(max(p.numWant, 0), maxWirePicks)))
	b = binary.BigEndian.AppendUint32(b, p.key)
	b = binary.BigEndian.AppendUint64(b, uint64(p.ttl))
	b = appendRef(b, p.ref)
	b = appendAddrPort(b, p.addr)
	b = appendAddr(b, p.source)
	if p.toPeerID != nil {
		b = append(b, p.toPeerID[:]...)
	}
	if near {
		b = append(b, byte(min(max(p.farPicks, 0), maxWirePicks)))
	}
	if len(offers) > 0 {
		b = append(b, byte(len(offers)))
		for i := range offers {
			b = binary.BigEndian.AppendUint16(b, uint16(len(offers[i].offerID)))
			b = append(b, offers[i].offerID...)
			b = binary.BigEndian.AppendUint32(b, uint32(len(offers[i].offer)))
			b = append(b, offers[i].offer...)
		}
	}
	return b
}

// decodeAnnounceRequest decodes the body of an announce request (after
// version and operation); its offers are appended to a.offers[:0] and alias b.
func decodeAnnounceRequest(b []byte, a *wireAnnounce) error {
	a.offers = a.offers[:0]
	r := wireReader{b: b}
	r.id(&a.infoHash)
	r.id(&a.peerID)
	a.kind = setKind(r.u8())
	a.proto = proto(r.u8())
	a.event = event(r.u8())
	a.left = leftState(r.u8())
	flags := r.u8()
	a.otherKind = int(int8(r.u8()))
	a.numWant = int(r.u16())
	a.key = r.u32()
	a.ttl = int64(r.u64())
	a.ref = r.ref()
	a.addr = r.addrPort()
	a.source = r.addr()
	a.mayInsert = flags&flagMayInsert != 0
	a.hasToPeer = flags&flagToPeer != 0
	if a.hasToPeer {
		r.id(&a.toPeerID)
	}
	a.nearFirst, a.farOnly, a.far = flags&flagNear != 0, flags&flagFarOnly != 0, 0
	if a.nearFirst {
		a.far = int(r.u8())
	}
	if flags&flagOffers != 0 {
		n := int(r.u8())
		if n == 0 || a.kind != kindWS {
			r.bad = true
		}
		for i := 0; i < n && !r.bad; i++ {
			idLen := int(r.u16())
			if idLen == 0 || idLen > maxRawOfferID {
				r.bad = true
			}
			id := r.take(idLen)
			offer := r.take(int(r.u32()))
			if len(offer) == 0 {
				r.bad = true
			}
			a.offers = append(a.offers, wsOffer{offer: offer, offerID: id})
		}
	}
	switch {
	case r.bad, len(r.b) != 0, flags&^(flagMayInsert|flagToPeer|flagOffers|flagNear|flagFarOnly) != 0,
		a.nearFirst && (a.kind != kindWS || a.far > a.numWant || len(a.offers) > a.far),
		a.farOnly && (!a.nearFirst || a.far != a.numWant),
		len(a.offers) > a.numWant,
		a.kind >= numKinds, a.proto >= numProtos, a.event >= eventInvalid, a.left > leftSome,
		a.otherKind < -1, a.otherKind >= int(numKinds), a.numWant > maxWirePicks, a.ttl <= 0,
		a.kind == kindWS && a.ref.id == 0, a.kind != kindWS && !a.addr.IsValid():
		return errClusterMessage
	}
	return nil
}

// appendAnnounceReply encodes the owner's answer: a failure reason, or the
// counts, the picked peers and the answer's target.
func appendAnnounceReply(b []byte, res *announceResult, err error) []byte {
	b = append(b, wireVersion, opAnnounce)
	if err != nil {
		reason := err.Error()
		reason = reason[:min(len(reason), 255)]
		b = append(b, replyFailure, byte(len(reason)))
		return append(b, reason...)
	}
	var flags byte
	if res.exists {
		flags |= flagExists
	}
	if res.inserted {
		flags |= flagInserted
	}
	if res.member {
		flags |= flagMember
	}
	if res.answerTo.ref.id != 0 {
		flags |= flagAnswerFound
	}
	if res.relayed > 0 {
		flags |= flagRelayed
	}
	b = append(b, replyOK, flags)
	b = binary.BigEndian.AppendUint32(b, uint32(res.complete))
	b = binary.BigEndian.AppendUint32(b, uint32(res.incomplete))
	picks := res.picked[:min(len(res.picked), maxWirePicks)]
	b = append(b, byte(len(picks)))
	for i := range picks {
		b = append(b, picks[i].id[:]...)
		b = appendRef(b, picks[i].ref)
		b = appendAddrPort(b, picks[i].addr)
	}
	if res.answerTo.ref.id != 0 {
		b = append(b, res.answerTo.id[:]...)
		b = appendRef(b, res.answerTo.ref)
	}
	if res.relayed > 0 {
		b = append(b, byte(min(res.relayed, maxBatchOffers)))
	}
	return b
}

// decodeAnnounceReply decodes an owner's answer into res (picks appended to
// dst), or the failure reason it carries.
func decodeAnnounceReply(b []byte, dst []pickedPeer) (announceResult, error) {
	res := announceResult{picked: dst}
	r := wireReader{b: b}
	if r.u8() != wireVersion || r.u8() != opAnnounce {
		return res, errClusterMessage
	}
	switch r.u8() {
	case replyFailure:
		reason := r.take(int(r.u8()))
		if r.bad || len(r.b) != 0 {
			return res, errClusterMessage
		}
		return res, errMsg(reason)
	case replyOK:
	default:
		return res, errClusterMessage
	}
	flags := r.u8()
	res.complete = int(r.u32())
	res.incomplete = int(r.u32())
	n := int(r.u8())
	for range n {
		var pp pickedPeer
		r.id(&pp.id)
		pp.ref = r.ref()
		pp.addr = r.addrPort()
		if r.bad {
			return res, errClusterMessage
		}
		res.picked = append(res.picked, pp)
	}
	if flags&flagAnswerFound != 0 {
		r.id(&res.answerTo.id)
		res.answerTo.ref = r.ref()
		if res.answerTo.ref.id == 0 {
			r.bad = true
		}
	}
	if flags&flagRelayed != 0 {
		// The flag is set only for a count above zero: one encoding per reply.
		if res.relayed = int(r.u8()); res.relayed == 0 {
			r.bad = true
		}
	}
	if r.bad || len(r.b) != 0 || flags&^(flagExists|flagInserted|flagAnswerFound|flagRelayed|flagMember) != 0 {
		return res, errClusterMessage
	}
	res.exists = flags&flagExists != 0
	res.inserted = flags&flagInserted != 0
	res.member = flags&flagMember != 0
	return res, nil
}

func appendScrapeRequest(b []byte, pr proto, hashes [][20]byte) []byte {
	b = append(b, wireVersion, opScrape, byte(pr))
	b = binary.BigEndian.AppendUint16(b, uint16(len(hashes)))
	for i := range hashes {
		b = append(b, hashes[i][:]...)
	}
	return b
}

// decodeScrapeRequest decodes the body of a scrape request, appending the
// hashes to dst; it takes at most maxHashes.
func decodeScrapeRequest(b []byte, dst [][20]byte, maxHashes int) (proto, [][20]byte, error) {
	r := wireReader{b: b}
	pr := proto(r.u8())
	n := int(r.u16())
	if r.bad || pr >= numProtos || n == 0 || n > maxHashes || len(r.b) != 20*n {
		return 0, dst, errClusterMessage
	}
	for range n {
		var h [20]byte
		r.id(&h)
		dst = append(dst, h)
	}
	return pr, dst, nil
}

func appendScrapeReply(b []byte, counts []scrapeCounts) []byte {
	b = append(b, wireVersion, opScrape, replyOK)
	b = binary.BigEndian.AppendUint16(b, uint16(len(counts)))
	for _, c := range counts {
		b = binary.BigEndian.AppendUint32(b, uint32(c.complete))
		b = binary.BigEndian.AppendUint32(b, uint32(c.incomplete))
		b = binary.BigEndian.AppendUint64(b, uint64(c.downloaded))
	}
	return b
}

// decodeScrapeReply decodes want counts into dst.
func decodeScrapeReply(b []byte, want int, dst []scrapeCounts) ([]scrapeCounts, error) {
	r := wireReader{b: b}
	if r.u8() != wireVersion || r.u8() != opScrape || r.u8() != replyOK || int(r.u16()) != want ||
		r.bad || len(r.b) != 16*want {
		return dst, errClusterMessage
	}
	for range want {
		c := scrapeCounts{complete: int(r.u32()), incomplete: int(r.u32()), downloaded: int64(r.u64())}
		if c.downloaded < 0 {
			return dst, errClusterMessage
		}
		dst = append(dst, c)
	}
	return dst, nil
}

func appendRemoveRequest(b []byte, ih, id *[20]byte, c connRef) []byte {
	b = append(b, wireVersion, opRemove)
	b = append(b, ih[:]...)
	b = append(b, id[:]...)
	return appendRef(b, c)
}

func decodeRemoveRequest(b []byte) (ih, id [20]byte, c connRef, err error) {
	r := wireReader{b: b}
	r.id(&ih)
	r.id(&id)
	c = r.ref()
	if r.bad || len(r.b) != 0 || c.id == 0 {
		return ih, id, c, errClusterMessage
	}
	return ih, id, c, nil
}

// wireRoute is a message for sockets on the receiving instance: an answer
// for one, or the offers of one announce for one or more.
type wireRoute struct {
	op     uint8
	target uint64 // answers: the socket's number there
	from   connRef
	ih     [20]byte // offers: what the answers will be checked against
	fromID [20]byte
	offers []routeOffer
	// payload is an answer's JSON to send, as built by the sending instance.
	payload []byte
}

// routeOffer is one offer of a batch; its slices alias the message.
type routeOffer struct {
	target  uint64
	offerID []byte // raw, as the offer carried it
	payload []byte
}

// maxBatchOffers bounds the offers of one message: an announce relays at
// most MaxOffers (10 by default).
const maxBatchOffers = 255

// appendOffersHeader starts a batch of the offers of one announce for one
// instance; appendOfferItem adds one, and counts it in the header.
func appendOffersHeader(b []byte, from connRef, ih, fromID *[20]byte) []byte {
	b = append(b, wireVersion, opOffer)
	b = appendRef(b, from)
	b = append(b, ih[:]...)
	b = append(b, fromID[:]...)
	return append(b, 0) // the count
}

// offersCountAt is where appendOffersHeader puts the count.
const offersCountAt = 2 + 16 + 20 + 20

func appendOfferItem(b []byte, target uint64, offerID, payload []byte) []byte {
	b[offersCountAt]++
	b = binary.BigEndian.AppendUint64(b, target)
	b = binary.BigEndian.AppendUint16(b, uint16(len(offerID)))
	b = append(b, offerID...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

func appendAnswerRoute(b []byte, target uint64, payload []byte) []byte {
	b = append(b, wireVersion, opAnswer)
	b = binary.BigEndian.AppendUint64(b, target)
	return append(b, payload...)
}

// decodeRoute decodes a message for sockets, appending offers to
// m.offers; offer IDs and payloads alias b.
func decodeRoute(b []byte, m *wireRoute) error {
	r := wireReader{b: b}
	if r.u8() != wireVersion {
		return errClusterMessage
	}
	m.op = r.u8()
	switch m.op {
	case opOffer:
		m.from = r.ref()
		r.id(&m.ih)
		r.id(&m.fromID)
		n := int(r.u8())
		if n == 0 || m.from.id == 0 {
			r.bad = true
		}
		for i := 0; i < n && !r.bad; i++ {
			var o routeOffer
			o.target = r.u64()
			idLen := int(r.u16())
			if idLen == 0 || idLen > maxRawOfferID {
				r.bad = true
			}
			o.offerID = r.take(idLen)
			o.payload = r.take(int(r.u32()))
			if o.target == 0 || len(o.payload) == 0 {
				r.bad = true
			}
			m.offers = append(m.offers, o)
		}
		if len(r.b) != 0 {
			r.bad = true
		}
	case opAnswer:
		m.target = r.u64()
		m.payload = r.b
		if m.target == 0 || len(m.payload) == 0 {
			r.bad = true
		}
	default:
		r.bad = true
	}
	if r.bad {
		return errClusterMessage
	}
	return nil
}

// A batch is the version, opBatch, a 16-bit count and that many messages,
// each a 32-bit length and a whole route message (offers or an answer; never
// a batch).

// batchItemOverhead is what a batch adds to each message: its length.
const batchItemOverhead = 4

// batchCountAt is where appendBatchHeader puts the count.
const batchCountAt = 2

func appendBatchHeader(b []byte) []byte { return append(b, wireVersion, opBatch, 0, 0) }

// appendBatchItem adds msg to the batch b, and counts it in the header. The
// caller keeps the count within maxBatchItems.
func appendBatchItem(b []byte, msg []byte) []byte {
	binary.BigEndian.PutUint16(b[batchCountAt:], binary.BigEndian.Uint16(b[batchCountAt:])+1)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	return append(b, msg...)
}

// decodeBatch appends a batch's messages to dst; they alias b. Each is at
// least a version and an operation long; what they hold is decodeRoute's to
// check.
func decodeBatch(b []byte, dst [][]byte) ([][]byte, error) {
	r := wireReader{b: b}
	if r.u8() != wireVersion || r.u8() != opBatch {
		return dst, errClusterMessage
	}
	n := int(r.u16())
	if n == 0 || n > maxBatchItems {
		return dst, errClusterMessage
	}
	for range n {
		msg := r.take(int(r.u32()))
		if r.bad || len(msg) < 2 || msg[1] == opBatch {
			return dst, errClusterMessage
		}
		dst = append(dst, msg)
	}
	if len(r.b) != 0 {
		return dst, errClusterMessage
	}
	return dst, nil
}

// A call is a request sent in a batch: the version, opCall, the caller's
// number for it and the calling instance, then the request message (an
// announce or a scrape, as sent alone). The reply is the version, opReply,
// the call's number and the reply message.
const callHeaderLen = 2 + 8 + 8

func appendCallHeader(b []byte, seq, from uint64) []byte {
	b = append(b, wireVersion, opCall)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint64(b, from)
}

// decodeCall splits a call into its number, caller and request; the
// request aliases b, and only its version and operation are checked.
func decodeCall(b []byte) (seq, from uint64, req []byte, err error) {
	r := wireReader{b: b}
	if r.u8() != wireVersion || r.u8() != opCall {
		return 0, 0, nil, errClusterMessage
	}
	seq, from = r.u64(), r.u64()
	if r.bad || from == 0 || len(r.b) < 2 || r.b[0] != wireVersion || (r.b[1] != opAnnounce && r.b[1] != opScrape) {
		return 0, 0, nil, errClusterMessage
	}
	return seq, from, r.b, nil
}

func appendReplyHeader(b []byte, seq uint64) []byte {
	b = append(b, wireVersion, opReply)
	return binary.BigEndian.AppendUint64(b, seq)
}

// decodeReply splits a reply into its call's number and the reply
// message, which aliases b and is the caller's to check.
func decodeReply(b []byte) (seq uint64, reply []byte, err error) {
	r := wireReader{b: b}
	if r.u8() != wireVersion || r.u8() != opReply {
		return 0, nil, errClusterMessage
	}
	seq = r.u64()
	if r.bad || len(r.b) < 2 {
		return 0, nil, errClusterMessage
	}
	return seq, r.b, nil
}

func appendHeartbeat(b []byte, op uint8, inst uint64) []byte {
	b = append(b, wireVersion, op)
	return binary.BigEndian.AppendUint64(b, inst)
}

func decodeHeartbeat(b []byte) (op uint8, inst uint64, err error) {
	r := wireReader{b: b}
	v := r.u8()
	op = r.u8()
	inst = r.u64()
	if r.bad || len(r.b) != 0 || v != wireVersion || inst == 0 ||
		(op != opHeartbeat && op != opLeaving && op != opHello) {
		return 0, 0, errClusterMessage
	}
	return op, inst, nil
}
