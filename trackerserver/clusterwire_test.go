package trackerserver

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"
)

// wireSeeds are valid messages of every kind; replies first.
func wireSeeds(tb testing.TB) [][]byte {
	ih, id, to := hash20(1), hash20(2), hash20(3)
	ws := announceParams{infoHash: &ih, peerID: &id, kind: kindWS, proto: protoWS, event: eventStarted,
		left: leftSome, ref: connRef{inst: 7, id: 9}, ttl: 1e9, numWant: 5, otherKind: -1, mayInsert: true,
		source: netip.MustParseAddr("192.0.2.1"), toPeerID: &to,
		offers: []wsOffer{{offer: []byte(`{"type":"offer","sdp":"a"}`), offerID: []byte(`"o1"`)},
			{offer: []byte(`{"type":"offer","sdp":"b"}`), offerID: []byte(`"o2"`)}}}
	httpP := announceParams{infoHash: &ih, peerID: &id, kind: kindV6, proto: protoHTTP, event: eventCompleted,
		left: leftZero, addr: netip.MustParseAddrPort("[2001:db8::1]:6881"), key: 77, ttl: 2e9, numWant: 50,
		otherKind: int(kindV4), source: netip.MustParseAddr("2001:db8::1")}
	near := ws
	near.nearFirst, near.farPicks = true, 2
	farOnly := near
	farOnly.farOnly, farOnly.numWant = true, 2
	res := announceResult{exists: true, inserted: true, member: true, complete: 3, incomplete: 4,
		picked:   []pickedPeer{{id: id, ref: connRef{1, 2}}, {id: to, addr: netip.MustParseAddrPort("192.0.2.9:80")}},
		answerTo: pickedPeer{id: to, ref: connRef{5, 6}}, relayed: 2}
	return [][]byte{
		appendAnnounceReply(nil, &res, nil),
		appendAnnounceReply(nil, nil, errPeerIDInUse),
		appendScrapeReply(nil, []scrapeCounts{{1, 2, 3}, {4, 5, 6}}),
		appendAnnounceRequest(nil, &ws),
		appendAnnounceRequest(nil, &httpP),
		appendScrapeRequest(nil, protoUDP, [][20]byte{ih, id}),
		appendRemoveRequest(nil, &ih, &id, connRef{3, 4}),
		appendOfferItem(appendOfferItem(appendOffersHeader(nil, connRef{3, 4}, &ih, &id), 12, []byte(`"abc"`),
			[]byte(`{"action":"announce"}`)), 13, []byte(`"abd"`), []byte(`{"action":"announce"}`)),
		appendAnswerRoute(nil, 12, []byte(`{"action":"announce"}`)),
		appendHeartbeat(nil, opHeartbeat, 99),
		append(appendCallHeader(nil, 41, 7), appendAnnounceRequest(nil, &ws)...),
		append(appendCallHeader(nil, 42, 7), appendScrapeRequest(nil, protoWS, [][20]byte{ih})...),
		append(appendReplyHeader(nil, 41), appendAnnounceReply(nil, &res, nil)...),
		appendBatchItem(appendBatchItem(appendBatchItem(appendBatchHeader(nil),
			appendAnswerRoute(nil, 12, []byte(`{"action":"announce"}`))),
			append(appendCallHeader(nil, 43, 7), appendAnnounceRequest(nil, &httpP)...)),
			appendRemoveRequest(nil, &ih, &id, connRef{3, 4})),
		appendAnnounceRequest(nil, &farOnly),
		appendAnnounceRequest(nil, &near),
	}
}

// TestClusterWireRoundTrip: every message decodes to what was encoded, and
// every strict prefix of it is refused.
func TestClusterWireRoundTrip(t *testing.T) {
	for i, b := range wireSeeds(t) {
		reply := i < numReplySeeds
		if err := decodeAny(b, reply); err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		for n := range len(b) {
			if b[1] == opAnswer {
				if n >= len(b)-len(`{"action":"announce"}`)+1 {
					continue // a shorter payload is still a payload
				}
			}
			if err := decodeAny(b[:n], reply); err == nil {
				t.Fatalf("seed %d: prefix of %d bytes accepted", i, n)
			}
		}
	}
	var a wireAnnounce
	b := wireSeeds(t)[3]
	if err := decodeAnnounceRequest(b[2:], &a); err != nil || a.ref != (connRef{7, 9}) || !a.hasToPeer ||
		a.toPeerID != hash20(3) || a.numWant != 5 || a.otherKind != -1 || !a.mayInsert || a.source != netip.MustParseAddr("192.0.2.1") ||
		len(a.offers) != 2 || string(a.offers[1].offerID) != `"o2"` || string(a.offers[1].offer) != `{"type":"offer","sdp":"b"}` {
		t.Fatalf("announce request: %+v, %v", a, err)
	}
	seeds := wireSeeds(t)
	if err := decodeAnnounceRequest(seeds[len(seeds)-1][2:], &a); err != nil || !a.nearFirst || a.far != 2 || len(a.offers) != 2 {
		t.Fatalf("near-first announce request: %+v, %v", a, err)
	}
	if err := decodeAnnounceRequest(seeds[len(seeds)-2][2:], &a); err != nil || !a.nearFirst || !a.farOnly ||
		a.far != 2 || a.numWant != 2 || len(a.offers) != 2 {
		t.Fatalf("far-only announce request: %+v, %v", a, err)
	}
	// A near-first request carries at most its far picks' offers, and asks
	// for no more far picks than peers; a far-only one asks for its far
	// picks alone, and is near-first.
	near := seeds[len(seeds)-1]
	// The encoder sends only the far picks' offers, so a request with more
	// is made by hand: 2 offers, and its far count (the byte before them,
	// last in the same request without offers) patched down to 1.
	twoFar := announceParams{infoHash: &a.infoHash, peerID: &a.peerID, kind: kindWS, ref: connRef{7, 9},
		ttl: 1, numWant: 5, otherKind: -1, nearFirst: true, farPicks: 2, offers: slices.Clone(a.offers)}
	moreOffers := appendAnnounceRequest(nil, &twoFar)
	noOffers := twoFar
	noOffers.offers = nil
	farAt := len(appendAnnounceRequest(nil, &noOffers)) - 1
	if moreOffers[farAt] != 2 {
		t.Fatalf("byte %d of %x is not the far count", farAt, moreOffers)
	}
	moreOffers[farAt] = 1
	for _, bad := range [][]byte{
		moreOffers,
		appendAnnounceRequest(nil, &announceParams{infoHash: &a.infoHash, peerID: &a.peerID, kind: kindWS, ref: connRef{7, 9},
			ttl: 1, numWant: 1, otherKind: -1, nearFirst: true, farPicks: 2}),
		appendAnnounceRequest(nil, &announceParams{infoHash: &a.infoHash, peerID: &a.peerID, kind: kindWS, ref: connRef{7, 9},
			ttl: 1, numWant: 3, otherKind: -1, nearFirst: true, farOnly: true, farPicks: 2}),
		withFlag(appendAnnounceRequest(nil, &twoFar), flagFarOnly),
		withFlag(appendAnnounceRequest(nil, &announceParams{infoHash: &a.infoHash, peerID: &a.peerID, kind: kindWS,
			ref: connRef{7, 9}, ttl: 1, otherKind: -1}), flagFarOnly),
	} {
		if err := decodeAnnounceRequest(bad[2:], &a); err == nil {
			t.Fatalf("accepted %x (of %x)", bad, near)
		}
	}
	// Offers travel only with a WebSocket announce.
	if err := decodeAnnounceRequest(wireSeeds(t)[4][2:], &a); err != nil || len(a.offers) != 0 {
		t.Fatalf("HTTP announce request: %d offers, %v", len(a.offers), err)
	}
	res, err := decodeAnnounceReply(wireSeeds(t)[0], nil)
	if err != nil || !res.exists || !res.inserted || !res.member || res.complete != 3 || res.incomplete != 4 || len(res.picked) != 2 ||
		res.picked[1].addr != netip.MustParseAddrPort("192.0.2.9:80") || res.answerTo.ref != (connRef{5, 6}) || res.relayed != 2 {
		t.Fatalf("announce reply: %+v, %v", res, err)
	}
	if _, err := decodeAnnounceReply(wireSeeds(t)[1], nil); err != errPeerIDInUse {
		t.Fatalf("failure reply: %v", err)
	}
}

// withFlag returns a copy of the announce request b with flag set in its
// flags byte (after the version, operation, two IDs, kind, proto, event
// and left).
func withFlag(b []byte, flag byte) []byte {
	b = slices.Clone(b)
	b[2+20+20+4] |= flag
	return b
}

// numReplySeeds is how many of wireSeeds are replies.
const numReplySeeds = 3

// decodeAny decodes a message of any kind, as the instance receiving it
// would: a request or a reply (these arrive on different subjects).
func decodeAny(b []byte, reply bool) error {
	if len(b) < 2 || b[0] != wireVersion {
		return errClusterMessage
	}
	switch {
	case reply && b[1] == opAnnounce:
		_, err := decodeAnnounceReply(b, nil)
		if err == errClusterMessage {
			return err
		}
		return nil
	case reply && b[1] == opScrape:
		_, err := decodeScrapeReply(b, 2, nil)
		return err
	case reply:
		return errClusterMessage
	}
	switch b[1] {
	case opAnnounce:
		var a wireAnnounce
		return decodeAnnounceRequest(b[2:], &a)
	case opScrape:
		_, _, err := decodeScrapeRequest(b[2:], nil, 100)
		return err
	case opRemove:
		_, _, _, err := decodeRemoveRequest(b[2:])
		return err
	case opOffer, opAnswer:
		var r wireRoute
		return decodeRoute(b, &r)
	case opCall:
		_, _, req, err := decodeCall(b)
		if err != nil {
			return err
		}
		return decodeAny(req, false)
	case opReply:
		_, reply, err := decodeReply(b)
		if err != nil {
			return err
		}
		return decodeAny(reply, true)
	case opBatch:
		msgs, err := decodeBatch(b, nil)
		for _, m := range msgs {
			if err == nil {
				err = decodeAny(m, false)
			}
		}
		return err
	default:
		_, _, err := decodeHeartbeat(b)
		return err
	}
}

// FuzzClusterWire: the decoders of messages from other instances never
// panic, and what they accept encodes back to the same bytes.
func FuzzClusterWire(f *testing.F) {
	for _, b := range wireSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeAny(b, false)
		decodeAny(b, true)
		if len(b) < 2 {
			return
		}
		var a wireAnnounce
		// The receiver checks the header (version, op) before the body
		// (clustercall.go), so only a right header must round-trip.
		if decodeAnnounceRequest(b[2:], &a) == nil && b[0] == wireVersion && b[1] == opAnnounce {
			p := announceParams{infoHash: &a.infoHash, peerID: &a.peerID, kind: a.kind, proto: a.proto,
				event: a.event, left: a.left, ref: a.ref, ttl: a.ttl, numWant: a.numWant, otherKind: a.otherKind,
				mayInsert: a.mayInsert, key: a.key, addr: a.addr, source: a.source, offers: a.offers,
				nearFirst: a.nearFirst, farOnly: a.farOnly, farPicks: a.far}
			if a.hasToPeer {
				p.toPeerID = &a.toPeerID
			}
			if got := appendAnnounceRequest(nil, &p); !bytes.Equal(got, b) && canonicalAddrs(a) {
				t.Fatalf("announce request does not round-trip:\n%x\n%x", b, got)
			}
		}
		if res, err := decodeAnnounceReply(b, nil); err == nil {
			if got := appendAnnounceReply(nil, &res, nil); !bytes.Equal(got, b) && canonicalPicks(res) {
				t.Fatalf("announce reply does not round-trip:\n%x\n%x", b, got)
			}
		}
		var r wireRoute
		if decodeRoute(b, &r) == nil {
			var got []byte
			if r.op == opOffer {
				got = appendOffersHeader(nil, r.from, &r.ih, &r.fromID)
				for _, o := range r.offers {
					got = appendOfferItem(got, o.target, o.offerID, o.payload)
				}
			} else {
				got = appendAnswerRoute(nil, r.target, r.payload)
			}
			if !bytes.Equal(got, b) {
				t.Fatalf("route does not round-trip:\n%x\n%x", b, got)
			}
		}
		if msgs, err := decodeBatch(b, nil); err == nil {
			got := appendBatchHeader(nil)
			for _, m := range msgs {
				got = appendBatchItem(got, m)
			}
			if !bytes.Equal(got, b) {
				t.Fatalf("batch does not round-trip:\n%x\n%x", b, got)
			}
		}
		if seq, from, req, err := decodeCall(b); err == nil {
			if got := append(appendCallHeader(nil, seq, from), req...); !bytes.Equal(got, b) {
				t.Fatalf("call does not round-trip:\n%x\n%x", b, got)
			}
		}
		if seq, reply, err := decodeReply(b); err == nil {
			if got := append(appendReplyHeader(nil, seq), reply...); !bytes.Equal(got, b) {
				t.Fatalf("reply does not round-trip:\n%x\n%x", b, got)
			}
		}
	})
}

// canonicalAddrs: an absent address may arrive with a port, which does not
// come back; an IPv4-mapped 16-byte address comes back as 16 bytes.
func canonicalAddrs(a wireAnnounce) bool { return a.addr.IsValid() }

func canonicalPicks(res announceResult) bool {
	for _, p := range res.picked {
		if !p.addr.IsValid() {
			return false
		}
	}
	return true
}
