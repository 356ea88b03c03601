package trackerserver

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/httptracker"
)

func httpClient(t *testing.T, announceURL string) *httptracker.Client {
	t.Helper()
	c, err := httptracker.New(announceURL, httptracker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func req(ih [20]byte, id byte, port uint16) tracker.AnnounceRequest {
	var pid [20]byte
	copy(pid[:], "-SC0001-")
	pid[19] = id
	return tracker.AnnounceRequest{InfoHash: metainfo.Hash(ih), PeerID: pid, Port: port, Left: 1000, Event: tracker.EventStarted}
}

func TestHTTPAnnounce(t *testing.T) {
	ts := startServer(t, Config{Interval: 5 * time.Minute, MinInterval: time.Minute}, false)
	c := httpClient(t, ts.httpURL("/announce"))
	ctx := testCtx(t)
	ih := hash20(1)

	r1, err := c.Announce(ctx, req(ih, 1, 6881))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Interval != 5*time.Minute || r1.MinInterval != time.Minute || r1.Seeders != 0 || r1.Leechers != 1 || len(r1.Peers) != 0 {
		t.Fatalf("first announce: %+v", r1)
	}
	seed := req(ih, 2, 6882)
	seed.Left = 0
	r2, err := c.Announce(ctx, seed)
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort("127.0.0.1:6881")
	if r2.Seeders != 1 || r2.Leechers != 1 || !slices.Equal(r2.Peers, []netip.AddrPort{want}) {
		t.Fatalf("second announce: %+v", r2)
	}
	// Dictionary peers (compact=0) carry peer IDs.
	nc := req(ih, 3, 6883)
	nc.NoCompact = true
	r3, err := c.Announce(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.Peers) != 2 || len(r3.PeerIDs) != 2 || r3.PeerIDs[want][19] != 1 {
		t.Fatalf("dictionary peers: %+v", r3)
	}
	// The ip parameter is ignored: the address is the connection's.
	spoof := req(ih, 4, 6884)
	spoof.IP = netip.MustParseAddr("198.51.100.7")
	if _, err := c.Announce(ctx, spoof); err != nil {
		t.Fatal(err)
	}
	r5, err := c.Announce(ctx, req(ih, 5, 6885))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range r5.Peers {
		if p.Addr() != netip.MustParseAddr("127.0.0.1") {
			t.Fatalf("peer %v: the ip parameter was trusted", p)
		}
	}
	if len(r5.Peers) != 4 {
		t.Fatalf("peers %v, want the 4 others", r5.Peers)
	}
	// numwant caps the list.
	few := req(ih, 6, 6886)
	few.NumWant = 2
	if r, err := c.Announce(ctx, few); err != nil || len(r.Peers) != 2 {
		t.Fatalf("numwant 2: %v, %v", r.Peers, err)
	}
	// A stop removes the peer.
	stop := req(ih, 6, 6886)
	stop.Event = tracker.EventStopped
	if r, err := c.Announce(ctx, stop); err != nil || r.Seeders+r.Leechers != 5 {
		t.Fatalf("stop: %+v, %v", r, err)
	}
	// Entries are keyed by ip:port, as opentracker does: the same peer ID on
	// another port is another entry, and the old one stays until it stops
	// or expires.
	moved := req(ih, 1, 7000)
	moved.Key = 0xfeed
	if _, err := c.Announce(ctx, moved); err != nil {
		t.Fatal(err)
	}
	st := ts.Stats()
	if st.PeersByProtocol.HTTP != 6 || st.Announces.HTTP != 8 {
		t.Fatalf("stats %+v", st)
	}

	// Another address cannot stop or move a peer's entry, whatever peer ID
	// and key it sends: it can only add its own.
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
	defer tr.CloseIdleConnections()
	other, err := httptracker.New(ts.httpURL("/announce"), httptracker.Config{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	steal := req(ih, 1, 7000)
	steal.Key = 0xfeed
	steal.Event = tracker.EventStopped
	if _, err := other.Announce(ctx, steal); err != nil {
		t.Fatal(err)
	}
	steal.Event = tracker.EventNone
	r, err := other.Announce(ctx, steal)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, p := range r.Peers {
		if p == netip.MustParseAddrPort("127.0.0.1:7000") || p == netip.MustParseAddrPort("127.0.0.1:6881") {
			found++
		}
	}
	if found != 2 || len(r.Peers) != 6 {
		t.Fatalf("after another address stopped and announced as peer 1: %v", r.Peers)
	}
}

func TestHTTPTrustIP(t *testing.T) {
	ts := startServer(t, Config{TrustIPParam: true}, false)
	c := httpClient(t, ts.httpURL("/announce"))
	ctx := testCtx(t)
	ih := hash20(2)
	r := req(ih, 1, 6881)
	r.IP = netip.MustParseAddr("198.51.100.7")
	if _, err := c.Announce(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := c.Announce(ctx, req(ih, 2, 6882))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Peers, []netip.AddrPort{netip.MustParseAddrPort("198.51.100.7:6881")}) {
		t.Fatalf("peers %v", got.Peers)
	}
	// Naming that address with another peer ID cannot stop its entry...
	stop := req(ih, 3, 6881)
	stop.IP, stop.Event = netip.MustParseAddr("198.51.100.7"), tracker.EventStopped
	var fe *tracker.FailureError
	if _, err := c.Announce(ctx, stop); !errors.As(err, &fe) || !strings.Contains(fe.Reason, "in use by another peer") {
		t.Fatalf("stop of another peer's ip:port: %v", err)
	}
	if st := ts.Stats(); st.PeersByProtocol.HTTP != 2 {
		t.Fatalf("%d peers left", st.PeersByProtocol.HTTP)
	}
	// ...but its own peer ID can.
	r.Event = tracker.EventStopped
	if _, err := c.Announce(ctx, r); err != nil || ts.Stats().PeersByProtocol.HTTP != 1 {
		t.Fatalf("own stop: %v, %d peers", err, ts.Stats().PeersByProtocol.HTTP)
	}
}

func TestHTTPIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	s := New(Config{})
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	defer func() {
		s.Close()
		<-done
	}()
	ctx := testCtx(t)
	ih := hash20(3)
	c6 := httpClient(t, "http://"+ln.Addr().String()+"/announce")
	if _, err := c6.Announce(ctx, req(ih, 1, 6881)); err != nil {
		t.Fatal(err)
	}
	r, err := c6.Announce(ctx, req(ih, 2, 6882))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Peers, []netip.AddrPort{netip.MustParseAddrPort("[::1]:6881")}) {
		t.Fatalf("peers %v", r.Peers)
	}
	// The raw response carries it in peers6 (BEP 7).
	resp, err := http.Get("http://" + ln.Addr().String() + "/announce?info_hash=" + url.QueryEscape(string(ih[:])) +
		"&peer_id=" + strings.Repeat("z", 20) + "&port=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var d struct {
		Peers  string `bencode:"peers"`
		Peers6 string `bencode:"peers6"`
	}
	if err := bencode.Unmarshal(body, &d); err != nil || len(d.Peers) != 0 || len(d.Peers6) != 36 {
		t.Fatalf("body %q: %v", body, err)
	}
}

func TestHTTPFailures(t *testing.T) {
	ts := startServer(t, Config{}, false)
	ih := url.QueryEscape(string(bytesOf(hash20(4))))
	pid := strings.Repeat("p", 20)
	tests := []struct {
		query  string
		reason string
	}{
		{"peer_id=" + pid + "&port=1", "invalid info_hash"},
		{"info_hash=abc&peer_id=" + pid + "&port=1", "invalid info_hash"},
		{"info_hash=" + strings.Repeat("a", 21) + "&peer_id=" + pid + "&port=1", "invalid info_hash"},
		{"info_hash=%zz" + strings.Repeat("a", 18) + "&peer_id=" + pid + "&port=1", "invalid info_hash"},
		{"info_hash=" + ih + "&port=1", "invalid peer_id"},
		{"info_hash=" + ih + "&peer_id=" + pid, "invalid port"},
		{"info_hash=" + ih + "&peer_id=" + pid + "&port=0", "invalid port"},
		{"info_hash=" + ih + "&peer_id=" + pid + "&port=70000", "invalid port"},
		{"info_hash=" + ih + "&peer_id=" + pid + "&port=1&event=exploded", "invalid event"},
		{"info_hash=" + ih + "&peer_id=" + pid + "&port=1&left=lots", "invalid number"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, err := http.Get(ts.httpURL("/announce?" + tt.query))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var f struct {
				Reason string `bencode:"failure reason"`
			}
			if err := bencode.Unmarshal(body, &f); err != nil || f.Reason != tt.reason {
				t.Fatalf("body %q (%v), want reason %q", body, err, tt.reason)
			}
		})
	}
	// Through our own client, a failure is a *tracker.FailureError.
	c := httpClient(t, ts.httpURL("/announce"))
	r := req(hash20(4), 1, 0)
	_, err := c.Announce(testCtx(t), r)
	var fe *tracker.FailureError
	if !errors.As(err, &fe) || fe.Reason != "invalid port" {
		t.Fatalf("err %v", err)
	}
	resp, err := http.Get(ts.httpURL("/nothing"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func bytesOf(h [20]byte) []byte { return h[:] }

func TestHTTPScrape(t *testing.T) {
	ts := startServer(t, Config{}, false)
	c := httpClient(t, ts.httpURL("/announce"))
	ctx := testCtx(t)
	a, b, unknown := hash20(5), hash20(6), hash20(7)
	for i, h := range [][20]byte{a, a, b} {
		r := req(h, byte(i), 6881+uint16(i))
		if i == 1 {
			r.Left = 0
			r.Event = tracker.EventCompleted
		}
		if _, err := c.Announce(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.Scrape(ctx, []metainfo.Hash{metainfo.Hash(a), metainfo.Hash(b), metainfo.Hash(unknown)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[metainfo.Hash]tracker.ScrapeResult{
		metainfo.Hash(a):       {Complete: 1, Incomplete: 1, Downloaded: 1},
		metainfo.Hash(b):       {Incomplete: 1},
		metainfo.Hash(unknown): {},
	}
	if len(got) != len(want) {
		t.Fatalf("scrape %v", got)
	}
	for h, w := range want {
		if got[h] != w {
			t.Fatalf("scrape %x: %+v, want %+v", h, got[h], w)
		}
	}
	resp, err := http.Get(ts.httpURL("/scrape"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "info_hash is required") {
		t.Fatalf("scrape without info_hash: %q", body)
	}
}

// TestExpiry drops peers that stop announcing, and then their torrent.
func TestExpiry(t *testing.T) {
	ts := startServer(t, Config{PeerTimeout: 150 * time.Millisecond}, false)
	c := httpClient(t, ts.httpURL("/announce"))
	ctx := testCtx(t)
	ih := hash20(8)
	if _, err := c.Announce(ctx, req(ih, 1, 6881)); err != nil {
		t.Fatal(err)
	}
	w := dialWS(t, ts.wsURL(""), hash20(9))
	w.announce(ih, nil)
	w.recv()
	if st := ts.Stats(); st.Peers != 2 || st.Torrents != 1 {
		t.Fatalf("stats %+v", st)
	}
	waitFor(t, "peers to expire", func() bool { return ts.Stats().Peers == 0 })
	waitFor(t, "the torrent to go", func() bool { return ts.Stats().Torrents == 0 })
}
