package trackerserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func sortStrings(s []string) { slices.Sort(s) }

// sdp is an SDP offer of typical size: a data channel with host and
// server-reflexive candidates, as Chromium writes it (about 900 bytes).
func sdp(tag string) string {
	lines := []string{
		"v=0",
		"o=- 4215735397455164130 2 IN IP4 127.0.0.1",
		"s=-",
		"t=0 0",
		"a=group:BUNDLE 0",
		"a=extmap-allow-mixed",
		"a=msid-semantic: WMS",
		"m=application 54400 UDP/DTLS/SCTP webrtc-datachannel",
		"c=IN IP4 203.0.113.7",
		"a=candidate:1467250027 1 udp 2122260223 4a3b1c2d-1e2f-4a5b-8c9d-0e1f2a3b4c5d.local 54400 typ host generation 0 network-id 1",
		"a=candidate:842163049 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-id 1",
		"a=candidate:3567203131 1 tcp 1518280447 4a3b1c2d-1e2f-4a5b-8c9d-0e1f2a3b4c5d.local 9 typ host tcptype active generation 0 network-id 1",
		"a=ice-ufrag:" + tag,
		"a=ice-pwd:asd88fgpdd777uzjYhagZg+x/ab",
		"a=ice-options:trickle",
		"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
		"a=setup:actpass",
		"a=mid:0",
		"a=sctp-port:5000",
		"a=max-message-size:262144",
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

// TestWebSocketSignalling runs the WebTorrent exchange with three clients:
// two announce, the third announces with two offers, which reach the other
// two; one answers, and the answer reaches the offerer.
func TestWebSocketSignalling(t *testing.T) {
	ts := startServer(t, Config{}, false)
	ih := hash20(1)
	a := dialWS(t, ts.wsURL(""), hash20(10))
	b := dialWS(t, ts.wsURL("/announce"), hash20(11))
	c := dialWS(t, ts.wsURL("/any/path"), hash20(12))

	a.announce(ih, nil)
	ra := a.recv()
	if keys(ra) != "action,complete,incomplete,info_hash,interval" {
		t.Fatalf("announce reply keys %s: %v", keys(ra), ra)
	}
	if ra["action"] != "announce" || ra["interval"] != 120.0 || ra["complete"] != 0.0 || ra["incomplete"] != 1.0 {
		t.Fatalf("announce reply %v", ra)
	}
	if got := unbin(t, ra["info_hash"].(string)); !bytes.Equal(got, ih[:]) {
		t.Fatalf("info_hash %x, want %x", got, ih)
	}
	b.announce(ih, map[string]any{"left": 0})
	if rb := b.recv(); rb["complete"] != 1.0 || rb["incomplete"] != 1.0 {
		t.Fatalf("b's reply %v", rb)
	}

	c.announce(ih, nil, sdp("c0"), sdp("c1"))
	if rc := c.recv(); rc["complete"] != 1.0 || rc["incomplete"] != 2.0 {
		t.Fatalf("c's reply %v", rc)
	}
	oa, ob := a.recv(), b.recv()
	for _, o := range []map[string]any{oa, ob} {
		if keys(o) != "action,info_hash,offer,offer_id,peer_id" {
			t.Fatalf("offer keys %s: %v", keys(o), o)
		}
		if got := unbin(t, o["peer_id"].(string)); !bytes.Equal(got, c.peerID[:]) {
			t.Fatalf("offer from %x, want %x", got, c.peerID)
		}
		if got := unbin(t, o["info_hash"].(string)); !bytes.Equal(got, ih[:]) {
			t.Fatalf("offer info_hash %x", got)
		}
	}
	// Each offer went to a different peer.
	sdpA := oa["offer"].(map[string]any)["sdp"].(string)
	sdpB := ob["offer"].(map[string]any)["sdp"].(string)
	if sdpA == sdpB || (sdpA != sdp("c0") && sdpA != sdp("c1")) || (sdpB != sdp("c0") && sdpB != sdp("c1")) {
		t.Fatal("offers not relayed one per peer, verbatim")
	}
	a.answer(ih, oa, sdp("a-answer"))
	ans := c.recv()
	if keys(ans) != "action,answer,info_hash,offer_id,peer_id" {
		t.Fatalf("answer keys %s: %v", keys(ans), ans)
	}
	if ans["offer_id"] != oa["offer_id"] || ans["answer"].(map[string]any)["sdp"] != sdp("a-answer") {
		t.Fatalf("answer %v", ans)
	}
	if got := unbin(t, ans["peer_id"].(string)); !bytes.Equal(got, a.peerID[:]) {
		t.Fatalf("answer from %x, want a", got)
	}
	// The answerer gets no reply to its answer (as bittorrent-tracker).
	if m, err := a.tryRecv(100 * time.Millisecond); err == nil {
		t.Fatalf("answerer got %v", m)
	}
	// The same offer cannot be answered twice.
	a.answer(ih, oa, sdp("again"))
	if f := a.recv(); f["failure reason"] == nil {
		t.Fatalf("second answer: %v", f)
	}
	st := ts.Stats()
	if st.WebSocket.OffersRelayed != 2 || st.WebSocket.AnswersRelayed != 1 || st.PeersByProtocol.WebSocket != 3 || st.SeedersByProtocol.WebSocket != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWebSocketWireFormat checks bytes as bittorrent-tracker writes them:
// key order, binary strings as JSON.stringify writes them.
func TestWebSocketWireFormat(t *testing.T) {
	ts := startServer(t, Config{Interval: 10 * time.Minute}, false)
	var ih [20]byte
	for i := range ih {
		ih[i] = []byte{0x00, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x1F, '"', '\\', '/', 0x7F, 0x80, 0xE9, 0xFF, 'a', 'Z', 0x01, 0x0B, 0xC3, 0xA9}[i]
	}
	a := dialWS(t, ts.wsURL(""), hash20(20))
	a.announce(ih, nil)
	got, err := a.recvRaw(testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	wantIH := `"\u0000\b\t\n\f\r\u001f\"\\/` + "\x7f\u0080\u00e9\u00ff" + `aZ\u0001\u000b` + "\u00c3\u00a9" + `"`
	want := `{"complete":0,"incomplete":1,"action":"announce","interval":120,"info_hash":` + wantIH + `}`
	if string(got) != want {
		t.Fatalf("reply\n got %s\nwant %s", got, want)
	}
	a.send(map[string]any{"action": "scrape", "info_hash": bin(ih[:])})
	got, err = a.recvRaw(testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	want = `{"action":"scrape","files":{` + wantIH + `:{"complete":0,"incomplete":1,"downloaded":0}},"flags":{"min_request_interval":600}}`
	if string(got) != want {
		t.Fatalf("scrape\n got %s\nwant %s", got, want)
	}
	a.sendRaw([]byte(`{"action":"announce","info_hash":"short","peer_id":"x"}`))
	got, _ = a.recvRaw(testTimeout)
	if string(got) != `{"failure reason":"invalid info_hash"}` {
		t.Fatalf("failure %s", got)
	}
	a.announce(ih, map[string]any{"event": "bogus"})
	got, _ = a.recvRaw(testTimeout)
	if want := `{"action":"announce","failure reason":"invalid event","info_hash":` + wantIH + `}`; string(got) != want {
		t.Fatalf("failure\n got %s\nwant %s", got, want)
	}
}

// TestWebSocketBinaryStrings sends IDs in every escaping a client may use
// and checks they are one and the same peer.
func TestWebSocketBinaryStrings(t *testing.T) {
	ts := startServer(t, Config{}, false)
	for seed := range byte(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			ih, id := hash20(100+seed), hash20(200+seed)
			for i := range ih {
				ih[i] ^= 0x80 // mostly bytes ≥ 0x80
			}
			a := dialWS(t, ts.wsURL(""), id)
			// \u escapes for every character: a different, valid spelling.
			var esc strings.Builder
			esc.WriteByte('"')
			for _, c := range ih {
				fmt.Fprintf(&esc, `\u%04X`, c)
			}
			esc.WriteByte('"')
			msg := fmt.Sprintf(`{"action":"announce","info_hash":%s,"peer_id":%s,"left":0}`, esc.String(), mustJSON(t, bin(id[:])))
			a.sendRaw([]byte(msg))
			r := a.recv()
			if got := unbin(t, r["info_hash"].(string)); !bytes.Equal(got, ih[:]) {
				t.Fatalf("info_hash %x, want %x", got, ih)
			}
			a.send(map[string]any{"action": "scrape", "info_hash": []string{bin(ih[:])}})
			files := a.recv()["files"].(map[string]any)
			if len(files) != 1 || files[bin(ih[:])].(map[string]any)["complete"] != 1.0 {
				t.Fatalf("scrape %v", files)
			}
		})
	}
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWebSocketLifecycle covers events and the end of a socket.
func TestWebSocketLifecycle(t *testing.T) {
	ts := startServer(t, Config{}, false)
	ih := hash20(3)
	scrape := func(c *wsClient) map[string]any {
		t.Helper()
		c.send(map[string]any{"action": "scrape", "info_hash": bin(ih[:])})
		return c.recv()["files"].(map[string]any)[bin(ih[:])].(map[string]any)
	}
	a := dialWS(t, ts.wsURL(""), hash20(30))
	b := dialWS(t, ts.wsURL(""), hash20(31))
	a.announce(ih, nil)
	a.recv()
	b.announce(ih, nil)
	b.recv()
	if s := scrape(a); s["incomplete"] != 2.0 || s["complete"] != 0.0 {
		t.Fatalf("scrape %v", s)
	}
	b.announce(ih, map[string]any{"event": "completed", "left": 0})
	if r := b.recv(); r["complete"] != 1.0 || r["incomplete"] != 1.0 {
		t.Fatalf("completed: %v", r)
	}
	if s := scrape(a); s["downloaded"] != 1.0 {
		t.Fatalf("downloaded %v", s)
	}
	b.announce(ih, map[string]any{"event": "stopped"})
	if r := b.recv(); r["complete"] != 0.0 || r["incomplete"] != 1.0 {
		t.Fatalf("stopped: %v", r)
	}
	// A socket that goes away leaves its swarms.
	a.c.CloseNow()
	waitFor(t, "a's peer to leave", func() bool { return ts.Stats().Peers == 0 })
	if s := scrape(b); s["incomplete"] != 0.0 || s["downloaded"] != 1.0 {
		t.Fatalf("after close: %v", s)
	}
	// left: null (a magnet without metadata) is a leecher, not a seeder.
	c := dialWS(t, ts.wsURL(""), hash20(32))
	c.sendRaw([]byte(`{"action":"announce","info_hash":` + mustJSON(t, bin(ih[:])) + `,"peer_id":` + mustJSON(t, bin(c.peerID[:])) + `,"left":null,"event":"started"}`))
	if r := c.recv(); r["complete"] != 0.0 || r["incomplete"] != 1.0 {
		t.Fatalf("left null: %v", r)
	}
}

// TestWebSocketSharedSocket has two peer IDs on one socket, as two
// WebTorrent clients in one page share their tracker socket.
func TestWebSocketSharedSocket(t *testing.T) {
	ts := startServer(t, Config{}, false)
	ih := hash20(4)
	shared := dialWS(t, ts.wsURL(""), hash20(40))
	other := hash20(41)
	shared.announce(ih, nil)
	shared.recv()
	shared.peerID = other
	shared.announce(ih, nil, sdp("o"))
	if r := shared.recv(); r["incomplete"] != 2.0 {
		t.Fatalf("reply %v", r)
	}
	// The offer goes to the socket's other peer ID: the same socket.
	o := shared.recv()
	if o["offer"] == nil || unbin(t, o["peer_id"].(string))[0] != other[0] {
		t.Fatalf("offer %v", o)
	}
	// The first client answers the second one, through the same socket.
	shared.peerID = hash20(40)
	shared.answer(ih, o, sdp("same socket"))
	if a := shared.recv(); a["answer"] == nil || unbin(t, a["peer_id"].(string))[0] != 40 {
		t.Fatalf("answer %v", a)
	}
}

// TestWebSocketOfferLimit relays at most MaxOffers offers.
func TestWebSocketOfferLimit(t *testing.T) {
	ts := startServer(t, Config{MaxOffers: 3}, false)
	ih := hash20(5)
	var peers []*wsClient
	for i := range 5 {
		p := dialWS(t, ts.wsURL(""), hash20(byte(50+i)))
		p.announce(ih, nil)
		p.recv()
		peers = append(peers, p)
	}
	offerer := dialWS(t, ts.wsURL(""), hash20(60))
	offers := make([]string, 10)
	for i := range offers {
		offers[i] = sdp(fmt.Sprint(i))
	}
	offerer.announce(ih, nil, offers...)
	offerer.recv()
	got := 0
	for _, p := range peers {
		if _, err := p.tryRecv(200 * time.Millisecond); err == nil {
			got++
		}
	}
	if got != 3 {
		t.Fatalf("%d offers relayed, want 3", got)
	}
}

// TestOfferRing: a socket remembers every offer it has not answered, up to
// offerRingSize, growing its ring only for them; answered offers free their
// places, and past the size the oldest record goes.
func TestOfferRing(t *testing.T) {
	c := &wsConn{}
	from := connRef{inst: 0, id: 7}
	for k := range uint64(offerRingStart) {
		c.rememberOffer(offerRecord{from: from, key: k})
	}
	for k := range uint64(offerRingStart) { // every one answered
		if !c.takeOffer(from, k) {
			t.Fatalf("offer %d forgotten", k)
		}
	}
	for k := uint64(100); k < 100+offerRingStart; k++ {
		c.rememberOffer(offerRecord{from: from, key: k})
	}
	if len(c.offers) != offerRingStart {
		t.Fatalf("ring of %d records after answered offers, want %d", len(c.offers), offerRingStart)
	}
	// Unanswered: the ring grows and keeps them all.
	for k := uint64(100 + offerRingStart); k < 100+offerRingSize; k++ {
		c.rememberOffer(offerRecord{from: from, key: k})
	}
	if len(c.offers) != offerRingSize {
		t.Fatalf("ring of %d records with %d unanswered offers, want %d", len(c.offers), offerRingSize, offerRingSize)
	}
	// Past the size, the oldest goes, one per new offer.
	c.rememberOffer(offerRecord{from: from, key: 1000})
	if len(c.offers) != offerRingSize {
		t.Fatalf("ring grew past %d", offerRingSize)
	}
	if c.takeOffer(from, 100) {
		t.Fatal("the oldest offer was kept past the ring's size")
	}
	for k := uint64(101); k < 100+offerRingSize; k++ {
		if !c.takeOffer(from, k) {
			t.Fatalf("unanswered offer %d forgotten", k)
		}
	}
	if !c.takeOffer(from, 1000) {
		t.Fatal("the newest offer was forgotten")
	}
}
