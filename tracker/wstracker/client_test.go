package wstracker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/webrtc"
)

// testTimeout bounds every call a test makes, so a bug cannot hang the run.
const testTimeout = 20 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	hashA = metainfo.Hash{0xaa, 0, 1, 2, 0x7f, 0x80, 0xff, '"', '\\', '<'}
	hashB = metainfo.Hash{0xbb, 3}
	idA   = [20]byte([]byte("-SC0001-aaaaaaaaaaa\xff"))
	idB   = [20]byte([]byte("-SC0001-bbbbbbbbbbb\x00"))
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

type gotConn struct {
	infoHash metainfo.Hash
	peerID   [20]byte
	conn     transport.Conn
}

// newClient returns a client on loopback WebRTC whose connections go to the
// returned channel; they are closed when the test ends.
func newClient(t *testing.T, url string, cfg Config) (*Client, chan gotConn) {
	t.Helper()
	ch := make(chan gotConn, 16)
	cfg.WebRTC = webrtc.Config{Loopback: true}
	cfg.OnConn = func(ih metainfo.Hash, id [20]byte, c transport.Conn) {
		select {
		case ch <- gotConn{ih, id, c}:
		default:
			c.Close()
		}
	}
	c, err := New(url, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		close(ch)
		for g := range ch {
			g.conn.Close()
		}
	})
	return c, ch
}

func waitConn(t *testing.T, ch chan gotConn) gotConn {
	t.Helper()
	select {
	case g := <-ch:
		t.Cleanup(func() { g.conn.Close() })
		return g
	case <-time.After(testTimeout):
		t.Fatal("no connection")
		return gotConn{}
	}
}

// TestPeersConnect is the whole flow: A announces alone, B announces, the
// tracker relays B's offer to A, A answers, and both get a connection.
func TestPeersConnect(t *testing.T) {
	tt := newTestTracker(t)
	ctx := testCtx(t)
	a, connsA := newClient(t, tt.url(), Config{})
	b, connsB := newClient(t, tt.url(), Config{Offers: 3})

	resp, err := a.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA, Event: tracker.EventStarted, Left: 100, NumWant: 50})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Interval != 120*time.Second || resp.Leechers != 1 || resp.Seeders != 0 || len(resp.Peers) != 0 {
		t.Errorf("response = %+v", resp)
	}
	resp, err = b.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idB, Event: tracker.EventStarted, Left: 0, Uploaded: 7, Downloaded: 9})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Leechers != 2 {
		t.Errorf("response = %+v", resp)
	}

	// The announces look as bittorrent-tracker's client sends them.
	reqs := tt.waitRequests(ctx, 2)
	for i, want := range []struct {
		peer           [20]byte
		offers         int
		left, up, down float64
	}{{idA, firstOffers, 100, 0, 0}, {idB, firstOffers, 0, 7, 9}} {
		r := reqs[i]
		if r["action"] != "announce" || r["info_hash"] != latin1(hashA[:]) || r["peer_id"] != latin1(want.peer[:]) ||
			r["event"] != "started" || r["left"] != want.left || r["uploaded"] != want.up || r["downloaded"] != want.down {
			t.Errorf("announce %d = %v", i, r)
		}
		offers, _ := r["offers"].([]any)
		if len(offers) != want.offers || r["numwant"] != float64(want.offers) {
			t.Fatalf("announce %d has %d offers, numwant %v; want %d", i, len(offers), r["numwant"], want.offers)
		}
		for _, o := range offers {
			o := o.(map[string]any)
			sdp := o["offer"].(map[string]any)
			if !isBinary20(o["offer_id"]) || sdp["type"] != "offer" || !strings.Contains(sdp["sdp"].(string), "a=candidate:") {
				t.Errorf("offer %v", o)
			}
		}
	}

	ga, gb := waitConn(t, connsA), waitConn(t, connsB)
	if ga.infoHash != hashA || gb.infoHash != hashA || ga.peerID != idB || gb.peerID != idA {
		t.Errorf("A got %x from %q, B got %x from %q", ga.infoHash, ga.peerID, gb.infoHash, gb.peerID)
	}
	if ga.conn.Outbound() || !gb.conn.Outbound() || ga.conn.Network() != transport.WebRTC {
		t.Errorf("A outbound %v, B outbound %v, network %q", ga.conn.Outbound(), gb.conn.Outbound(), ga.conn.Network())
	}
	// The answer went through the tracker with to_peer_id.
	reqs = tt.waitRequests(ctx, 3)
	if ans := reqs[2]; ans["to_peer_id"] != latin1(idB[:]) || ans["peer_id"] != latin1(idA[:]) ||
		ans["answer"].(map[string]any)["type"] != "answer" || !isBinary20(ans["offer_id"]) {
		t.Errorf("answer message = %v", ans)
	}
	exchange(t, ga.conn, gb.conn)
	exchange(t, gb.conn, ga.conn)
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func exchange(t *testing.T, from, to transport.Conn) {
	t.Helper()
	msg := bytes.Repeat([]byte("swarmcast "), 10000)
	go from.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(to, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("data differs")
	}
}

// TestConcurrentTorrentsShareSocket announces several torrents at once
// through one client: one socket, each response to its announce.
func TestConcurrentTorrentsShareSocket(t *testing.T) {
	tt := newTestTracker(t)
	c, _ := newClient(t, tt.url(), Config{Offers: 1})
	ctx := testCtx(t)
	hashes := make([]metainfo.Hash, 8)
	errs := make(chan error, len(hashes))
	for i := range hashes {
		hashes[i] = metainfo.Hash{byte(i), 0xee}
		if i%2 == 1 {
			tt.mu.Lock()
			tt.fail[latin1(hashes[i][:])] = "odd"
			tt.mu.Unlock()
		}
	}
	for i := range hashes {
		go func() {
			_, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashes[i], PeerID: idA})
			var fe *tracker.FailureError
			switch {
			case i%2 == 0 && err != nil:
				errs <- err
			case i%2 == 1 && (!errors.As(err, &fe) || fe.Reason != "odd"):
				errs <- err
			default:
				errs <- nil
			}
		}()
	}
	for range hashes {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	tt.mu.Lock()
	n := len(tt.conns)
	tt.mu.Unlock()
	if n != 1 {
		t.Errorf("%d sockets to the tracker, want 1", n)
	}
}

func TestFailure(t *testing.T) {
	tt := newTestTracker(t)
	tt.fail[latin1(hashA[:])] = "torrent not allowed"
	tt.bareFail[latin1(hashB[:])] = true
	c, _ := newClient(t, tt.url(), Config{})
	ctx := testCtx(t)
	for _, tc := range []struct {
		hash   metainfo.Hash
		reason string
	}{{hashA, "torrent not allowed"}, {hashB, "refused"}} {
		_, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: tc.hash, PeerID: idA})
		var fe *tracker.FailureError
		if !errors.As(err, &fe) || fe.Reason != tc.reason {
			t.Errorf("Announce = %v, want FailureError %q", err, tc.reason)
		}
	}
	// The refused announces' offers were closed, and the torrents are not
	// active.
	c.mu.Lock()
	n, active := len(c.offers), len(c.torrents)
	c.mu.Unlock()
	if n != 0 || active != 0 {
		t.Errorf("%d offers still open and %d torrents active after refusals", n, active)
	}
}

func TestScrape(t *testing.T) {
	tt := newTestTracker(t)
	c, _ := newClient(t, tt.url(), Config{Offers: 1})
	ctx := testCtx(t)
	if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Scrape(ctx, []metainfo.Hash{hashA})
	if err != nil {
		t.Fatal(err)
	}
	if got[hashA] != (tracker.ScrapeResult{Incomplete: 1}) || len(got) != 1 {
		t.Errorf("Scrape(A) = %v", got)
	}
	got, err = c.Scrape(ctx, []metainfo.Hash{hashA, hashB})
	if err != nil {
		t.Fatal(err)
	}
	if got[hashA].Incomplete != 1 || got[hashB] != (tracker.ScrapeResult{}) || len(got) != 2 {
		t.Errorf("Scrape(A, B) = %v", got)
	}
	reqs := tt.waitRequests(ctx, 3)
	if reqs[1]["info_hash"] != latin1(hashA[:]) {
		t.Errorf("single scrape sent info_hash %v, want one string", reqs[1]["info_hash"])
	}
	if l, ok := reqs[2]["info_hash"].([]any); !ok || len(l) != 2 {
		t.Errorf("scrape of two sent info_hash %v, want a list", reqs[2]["info_hash"])
	}
}

// TestUnknownAnswerIgnored: answers to offers we did not make, and offers
// for torrents we did not announce, change nothing.
func TestUnknownAnswerIgnored(t *testing.T) {
	tt := newTestTracker(t)
	c, conns := newClient(t, tt.url(), Config{Offers: 2})
	ctx := testCtx(t)
	if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA}); err != nil {
		t.Fatal(err)
	}
	sdp := `{"type":"answer","sdp":"v=0\r\n"}`
	for _, m := range []string{
		`{"action":"announce","answer":` + sdp + `,"offer_id":"` + strings.Repeat("z", 20) + `","peer_id":"` + strings.Repeat("p", 20) + `","info_hash":"` + latin1(hashA[:]) + `"}`,
		`{"action":"announce","offer":{"type":"offer","sdp":"v=0\r\n"},"offer_id":"` + strings.Repeat("z", 20) + `","peer_id":"` + strings.Repeat("p", 20) + `","info_hash":"` + latin1(hashB[:]) + `"}`,
		// An offer from ourselves, as a confused tracker might relay.
		`{"action":"announce","offer":{"type":"offer","sdp":"v=0\r\n"},"offer_id":"` + strings.Repeat("z", 20) + `","peer_id":"` + latin1(idA[:]) + `","info_hash":"` + latin1(hashA[:]) + `"}`,
	} {
		tt.sendToAll(m)
	}
	// A round trip after them: they have been handled when it returns.
	if _, err := c.Scrape(ctx, []metainfo.Hash{hashA}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	offers, answering := len(c.offers), c.answering
	c.mu.Unlock()
	if offers != 2 || answering != 0 {
		t.Errorf("%d offers pending (want 2), %d answering (want 0)", offers, answering)
	}
	select {
	case g := <-conns:
		t.Errorf("unexpected connection from %q", g.peerID)
	default:
	}
}

// TestMalformedIgnored: garbage from the tracker is skipped and the
// response after it still arrives.
func TestMalformedIgnored(t *testing.T) {
	tt := newTestTracker(t)
	c, _ := newClient(t, tt.url(), Config{Offers: 1})
	ctx := testCtx(t)
	if _, err := c.Scrape(ctx, []metainfo.Hash{hashA}); err != nil { // connects
		t.Fatal(err)
	}
	for _, m := range []string{
		"not json", "[]", "null", `"x"`, `{"action":5}`, `{"action":"announce"}`,
		`{"action":"announce","info_hash":"short","interval":"x"}`,
		`{"action":"announce","offer":"x","peer_id":{},"info_hash":[]}`,
		`{"action":"scrape","files":[1,2]}`, `{"action":"nope","failure reason":7}`,
		`{"action":"announce","answer":{"type":"answer","sdp":"x"},"offer_id":"` + strings.Repeat("\u0100", 20) + `"}`,
	} {
		tt.sendToAll(m)
	}
	if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA}); err != nil {
		t.Fatal(err)
	}
}

// TestOversizedMessageDropsSocket: a message over MaxMessageSize ends the
// socket; the next call dials again.
func TestOversizedMessageDropsSocket(t *testing.T) {
	tt := newTestTracker(t)
	c, _ := newClient(t, tt.url(), Config{Offers: 1, MaxMessageSize: 1000, ReconnectDelay: time.Hour})
	ctx := testCtx(t)
	if _, err := c.Scrape(ctx, []metainfo.Hash{hashA}); err != nil {
		t.Fatal(err)
	}
	tt.sendToAll(`{"x":"` + strings.Repeat("a", 2000) + `"}`)
	deadline := time.Now().Add(testTimeout)
	for {
		c.mu.Lock()
		gone := c.ws == nil
		c.mu.Unlock()
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("socket still open after an oversized message")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := c.Scrape(ctx, []metainfo.Hash{hashA}); err != nil {
		t.Fatalf("Scrape after the drop: %v", err)
	}
}

// TestReconnect: when the tracker drops the socket, the client redials and
// announces its torrents again without being asked.
func TestReconnect(t *testing.T) {
	tt := newTestTracker(t)
	c, _ := newClient(t, tt.url(), Config{Offers: 1, ReconnectDelay: 10 * time.Millisecond})
	ctx := testCtx(t)
	if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA, Event: tracker.EventStarted}); err != nil {
		t.Fatal(err)
	}
	tt.dropAll()
	reqs := tt.waitRequests(ctx, 2)
	if r := reqs[1]; r["action"] != "announce" || r["info_hash"] != latin1(hashA[:]) || len(r["offers"].([]any)) != 1 {
		t.Errorf("re-announce = %v", r)
	}
	if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA}); err != nil {
		t.Fatal(err)
	}
	// A stopped torrent is not announced again.
	if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA, Event: tracker.EventStopped}); err != nil {
		t.Fatal(err)
	}
	reqs = tt.waitRequests(ctx, 4)
	if r := reqs[3]; r["event"] != "stopped" || r["offers"] != nil {
		t.Errorf("stopped announce = %v", r)
	}
	c.mu.Lock()
	n := len(c.offers)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d offers still open after stopped", n)
	}
	tt.dropAll()
	time.Sleep(100 * time.Millisecond) // ten reconnect delays
	tt.mu.Lock()
	got := len(tt.requests)
	tt.mu.Unlock()
	if got != 4 {
		t.Errorf("tracker got %d messages after the stopped torrent's socket dropped, want 4", got)
	}
}

// TestRedialWhenTrackerDown: a tracker that is down makes calls fail, and
// they succeed again once it is back.
func TestRedialWhenTrackerDown(t *testing.T) {
	tt := newTestTracker(t)
	url := tt.url()
	tt.close()
	c, _ := newClient(t, url, Config{Offers: 1})
	ctx := testCtx(t)
	if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA}); err == nil {
		t.Fatal("Announce to a closed tracker succeeded")
	}
}

func TestCloseUnblocksCalls(t *testing.T) {
	defer goleak.VerifyNone(t)
	tt := newTestTracker(t)
	tt.silent = true
	c, err := New(tt.url(), Config{Offers: 2, WebRTC: webrtc.Config{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		_, err := c.Announce(testCtx(t), tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA})
		errs <- err
	}()
	go func() {
		_, err := c.Scrape(testCtx(t), []metainfo.Hash{hashA})
		errs <- err
	}()
	tt.waitRequests(testCtx(t), 2)
	c.Close()
	for range 2 {
		if err := <-errs; !errors.Is(err, tracker.ErrClosed) {
			t.Errorf("call = %v, want ErrClosed", err)
		}
	}
	if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{InfoHash: hashA}); !errors.Is(err, tracker.ErrClosed) {
		t.Errorf("Announce after Close = %v", err)
	}
	tt.close()
}

// TestAnnounceContext: a caller's deadline ends its call, and the client
// stays usable.
func TestAnnounceContext(t *testing.T) {
	tt := newTestTracker(t)
	tt.silent = true
	c, _ := newClient(t, tt.url(), Config{Offers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Announce = %v, want DeadlineExceeded", err)
	}
	c.mu.Lock()
	n := len(c.waiters)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d waiters left after the caller gave up", n)
	}
}

func TestOfferTimeout(t *testing.T) {
	tt := newTestTracker(t)
	c, _ := newClient(t, tt.url(), Config{Offers: 3, OfferTimeout: 50 * time.Millisecond})
	if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testTimeout)
	for {
		c.mu.Lock()
		n := len(c.offers)
		c.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d offers still open after their timeout", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewAndOpener(t *testing.T) {
	for _, u := range []string{"http://x/announce", "udp://x:1", "ws://", "::"} {
		if _, err := New(u, Config{}); !errors.Is(err, ErrBadURL) {
			t.Errorf("New(%q) = %v, want ErrBadURL", u, err)
		}
	}
	cfg := tracker.Config{Schemes: tracker.Schemes{"ws": Opener(Config{}), "wss": Opener(Config{})}, UserAgent: "ua/1"}
	for _, u := range []string{"ws://127.0.0.1:1/announce", "WSS://127.0.0.1:1"} {
		c, err := tracker.New(u, cfg)
		if err != nil {
			t.Fatalf("tracker.New(%q): %v", u, err)
		}
		if c.(*Client).cfg.UserAgent != "ua/1" {
			t.Errorf("UserAgent not taken from tracker.Config")
		}
		c.Close()
	}
}

func TestOfferCount(t *testing.T) {
	c := &Client{cfg: Config{Offers: 10}, offers: map[[20]byte]*pendingOffer{}}
	a, b := metainfo.Hash{1}, metainfo.Hash{2}
	for _, tc := range []struct{ numWant, want int }{{0, 10}, {-1, 10}, {3, 3}, {50, 10}} {
		if got := c.offerCount(a, tc.numWant); got != tc.want {
			t.Errorf("offerCount(%d) = %d, want %d", tc.numWant, got, tc.want)
		}
	}
	// Seven of a's offers wait for answers: a gets three more, b a full
	// batch.
	now := time.Now()
	for i := range 7 {
		c.offers[[20]byte{byte(i)}] = &pendingOffer{infoHash: a, sent: now}
	}
	if got := c.offerCount(a, 0); got != 3 {
		t.Errorf("with 7 of its offers pending, a torrent gets %d more, want 3", got)
	}
	// Offers unanswered for offerAnswerWait found nobody: they no longer
	// hold back a batch (but still count against the client-wide bound).
	for i := range 5 {
		c.offers[[20]byte{byte(i)}].sent = now.Add(-offerAnswerWait - time.Second)
	}
	if got := c.offerCount(a, 0); got != 8 {
		t.Errorf("with 2 fresh and 5 stale offers pending, a torrent gets %d more, want 8", got)
	}
	if got := c.offerCount(b, 0); got != 10 {
		t.Errorf("another torrent's pending offers cut this one's to %d, want 10", got)
	}
	// The client-wide bound still holds.
	for i := range maxPendingOffers - 7 - 4 {
		c.offers[[20]byte{byte(i), 1, byte(i >> 8)}] = &pendingOffer{infoHash: metainfo.Hash{3}, sent: now}
	}
	if got := c.offerCount(b, 0); got != 4 {
		t.Errorf("with %d offers pending in all, a torrent gets %d more, want 4", len(c.offers), got)
	}
}

// TestNoReofferStorm: an announce soon after the last one (a magnet's
// metadata arrived) carries no second batch of offers while the first batch
// waits for answers: the two carry the share of one between them.
func TestNoReofferStorm(t *testing.T) {
	tt := newTestTracker(t)
	c, _ := newClient(t, tt.url(), Config{Offers: 3})
	ctx := testCtx(t)
	for _, ev := range []tracker.Event{tracker.EventStarted, tracker.EventNone} {
		if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA, Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	reqs := tt.waitRequests(ctx, 2)
	count := func(r map[string]any) int {
		offers, _ := r["offers"].([]any)
		return len(offers)
	}
	if a, b := count(reqs[0]), count(reqs[1]); a != firstOffers || b != 3-firstOffers {
		t.Errorf("two announces in a row carry %d and %d offers, want %d and %d", a, b, firstOffers, 3-firstOffers)
	}
}

// TestAnnounceNoPeers: an announce with NoPeers carries no offers and asks
// for none, so a client connected to the whole swarm makes no WebRTC offer
// that could only end in a duplicate connection.
func TestAnnounceNoPeers(t *testing.T) {
	tt := newTestTracker(t)
	ctx := testCtx(t)
	a, _ := newClient(t, tt.url(), Config{})
	resp, err := a.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA, Left: 100, NumWant: 5, NoPeers: true})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Leechers != 1 {
		t.Errorf("response = %+v, want the tracker to count us", resp)
	}
	r := tt.waitRequests(ctx, 1)[0]
	if offers, _ := r["offers"].([]any); len(offers) != 0 || r["numwant"] != float64(0) {
		t.Errorf("announce has %d offers, numwant %v; want none", len(offers), r["numwant"])
	}
}

// TestFirstAnnounceSendsTheRestOnceCounted: an announce carries firstOffers
// offers, so the first connection does not wait for the making of ten; once
// the response has counted the swarm, the rest follow in a second announce,
// no more than the peers not yet offered to.
func TestFirstAnnounceSendsTheRestOnceCounted(t *testing.T) {
	tt := newTestTracker(t)
	ctx := testCtx(t)
	// Five peers already in the swarm, counted and offering nothing.
	for i := range 5 {
		p, _ := newClient(t, tt.url(), Config{})
		id := idB
		id[19] = byte(i)
		if _, err := p.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: id, Left: 1, NoPeers: true}); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := newClient(t, tt.url(), Config{})
	resp, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA, Event: tracker.EventStarted, Left: 1})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Leechers != 6 {
		t.Fatalf("response = %+v, want 6 leechers", resp)
	}
	// Our announces, not the other peers' answers to our offers.
	var ours []map[string]any
	for n := 7; len(ours) < 2; n++ {
		ours = ours[:0]
		for _, r := range tt.waitRequests(ctx, n) {
			if r["peer_id"] == latin1(idA[:]) && r["answer"] == nil {
				ours = append(ours, r)
			}
		}
	}
	count := func(r map[string]any) int {
		offers, _ := r["offers"].([]any)
		return len(offers)
	}
	first, more := ours[0], ours[1]
	if count(first) != firstOffers || first["event"] != "started" {
		t.Errorf("first announce: %d offers, event %v; want %d, started", count(first), first["event"], firstOffers)
	}
	// Five others, two offered to: three more, with no event.
	if count(more) != 3 || more["numwant"] != float64(3) || more["event"] != nil {
		t.Errorf("second announce: %d offers, numwant %v, event %v; want 3, 3, none", count(more), more["numwant"], more["event"])
	}
}

// TestRestOfOffersNotSentAfterStop: the rest of a first announce's offers
// are not sent for a torrent stopped meanwhile, and do not announce it
// again.
func TestRestOfOffersNotSentAfterStop(t *testing.T) {
	tt := newTestTracker(t)
	ctx := testCtx(t)
	c, _ := newClient(t, tt.url(), Config{})
	req := tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA, Left: 1}
	if _, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: hashA, PeerID: idA, Event: tracker.EventStopped}); err != nil {
		t.Fatal(err)
	}
	c.announceMore(req, 3)
	c.mu.Lock()
	_, announced := c.torrents[hashA]
	c.mu.Unlock()
	if announced {
		t.Error("the rest of the offers announced a stopped torrent again")
	}
	for _, r := range tt.waitRequests(ctx, 1) {
		if offers, _ := r["offers"].([]any); len(offers) > 0 {
			t.Errorf("a stopped torrent's announce carried %d offers", len(offers))
		}
	}
}
