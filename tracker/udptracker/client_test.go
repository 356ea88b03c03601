package udptracker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/internal/leakcheck"
)

// testTimeout bounds every call a test makes, so a bug cannot hang the run.
const testTimeout = 10 * time.Second

// fast retransmits quickly, so tests of lost packets take milliseconds.
var fast = Config{Timeout: 10 * time.Millisecond, MaxRetransmits: 3}

// patient never retransmits within a test, for tests where a retransmission
// would blur what is counted.
var patient = Config{Timeout: testTimeout}

func newClient(t *testing.T, announceURL string, cfg Config) *Client {
	t.Helper()
	c, err := New(announceURL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

var (
	hashA  = metainfo.Hash{0xaa, 1, 2, 3}
	peerID = [20]byte([]byte("-SC0001-abcdefghijkl"))
)

func TestAnnounce(t *testing.T) {
	tests := []struct {
		name      string
		pathQuery string
		req       tracker.AnnounceRequest
		want      tracker.AnnounceRequest // as the tracker decodes it
		urlData   string
	}{
		{
			name: "defaults",
			req:  tracker.AnnounceRequest{InfoHash: hashA, PeerID: peerID, Port: 6881, Left: 1000},
			want: tracker.AnnounceRequest{InfoHash: hashA, PeerID: peerID, Port: 6881, Left: 1000, NumWant: -1},
		},
		{
			name:      "everything with passkey",
			pathQuery: "/announce?passkey=abc%2F",
			req: tracker.AnnounceRequest{InfoHash: hashA, PeerID: peerID, Port: 1, Uploaded: 2, Downloaded: 3, Left: 4,
				Event: tracker.EventStarted, NumWant: 30, Key: 0xdeadbeef, IP: netip.MustParseAddr("192.0.2.1")},
			want: tracker.AnnounceRequest{InfoHash: hashA, PeerID: peerID, Port: 1, Uploaded: 2, Downloaded: 3, Left: 4,
				Event: tracker.EventStarted, NumWant: 30, Key: 0xdeadbeef, IP: netip.MustParseAddr("192.0.2.1")},
			urlData: "/announce?passkey=abc%2F",
		},
		{
			name: "no peers",
			req:  tracker.AnnounceRequest{NumWant: 30, NoPeers: true},
			want: tracker.AnnounceRequest{NumWant: 0},
		},
		{
			name: "IPv6 IP is not sent",
			req:  tracker.AnnounceRequest{Event: tracker.EventStopped, IP: netip.MustParseAddr("2001:db8::1")},
			want: tracker.AnnounceRequest{Event: tracker.EventStopped, NumWant: -1},
		},
		{
			name:      "URL data longer than one option",
			pathQuery: "/" + strings.Repeat("p", 300) + "?k=" + strings.Repeat("q", 300),
			want:      tracker.AnnounceRequest{NumWant: -1},
			urlData:   "/" + strings.Repeat("p", 300) + "?k=" + strings.Repeat("q", 300),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			tt := newTestTracker(t, "127.0.0.1:0")
			c := newClient(t, tt.url(tc.pathQuery), patient)
			resp, err := c.Announce(testCtx(t), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			tt.mu.Lock()
			defer tt.mu.Unlock()
			want := tracker.AnnounceResponse{Interval: 30 * time.Minute, Leechers: 2, Seeders: 3, Peers: tt.peers}
			if !reflect.DeepEqual(resp, want) {
				t.Errorf("response %+v, want %+v", resp, want)
			}
			if len(tt.announces) != 1 {
				t.Fatalf("tracker got %d announces", len(tt.announces))
			}
			got := tt.announces[0]
			if got.req != tc.want {
				t.Errorf("tracker decoded %+v\nwant %+v", got.req, tc.want)
			}
			if got.urlData != tc.urlData {
				t.Errorf("URL data %q, want %q", got.urlData, tc.urlData)
			}
		})
	}
}

func TestIPv6Peers(t *testing.T) {
	leakcheck.Check(t)
	tt := newTestTracker(t, "[::1]:0")
	peers := []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::5]:6881"), netip.MustParseAddrPort("10.0.0.1:1")}
	tt.set(func(tt *testTracker) { tt.peers = peers })
	c := newClient(t, tt.url("/announce"), patient)
	resp, err := c.Announce(testCtx(t), tracker.AnnounceRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resp.Peers, peers) {
		t.Fatalf("peers %v, want %v", resp.Peers, peers)
	}
}

func TestConnectionIDReuse(t *testing.T) {
	leakcheck.Check(t)
	tt := newTestTracker(t, "127.0.0.1:0")
	c := newClient(t, tt.url(""), patient)
	for range 3 {
		if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, connects := tt.stats(); connects != 1 {
		t.Fatalf("%d connects for 3 announces within a minute, want 1", connects)
	}
	// Age the connection ID past its lifetime: the next request connects again.
	c.mu.Lock()
	c.connIDAt = time.Now().Add(-connectionIDLifetime - time.Second)
	c.mu.Unlock()
	if _, err := c.Scrape(testCtx(t), []metainfo.Hash{hashA}); err != nil {
		t.Fatal(err)
	}
	if _, connects := tt.stats(); connects != 2 {
		t.Fatalf("%d connects after expiry, want 2", connects)
	}
}

func TestRetransmission(t *testing.T) {
	// lose returns a drop rule that loses the first n packets of action.
	lose := func(action uint32, n int) func() func(int, uint32) bool {
		return func() func(int, uint32) bool {
			return func(_ int, a uint32) bool {
				if a == action && n > 0 {
					n--
					return true
				}
				return false
			}
		}
	}
	tests := []struct {
		name string
		drop func() func(n int, action uint32) bool
	}{
		{"connect lost twice", lose(actionConnect, 2)},
		{"announce lost twice", lose(actionAnnounce, 2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			tt := newTestTracker(t, "127.0.0.1:0")
			tt.set(func(tt *testTracker) { tt.drop = tc.drop() })
			c := newClient(t, tt.url(""), fast)
			if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{}); err != nil {
				t.Fatal(err)
			}
			// One connect and one announce got through after two losses. A
			// loaded machine may retransmit once more than needed.
			if packets, _ := tt.stats(); packets < 4 {
				t.Fatalf("tracker saw %d packets, want at least 4", packets)
			}
		})
	}
}

func TestMisbehavingTracker(t *testing.T) {
	wrongTxid := func(pkt []byte) [][]byte {
		out := binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(pkt[8:]))
		out = binary.BigEndian.AppendUint32(out, binary.BigEndian.Uint32(pkt[12:])+1)
		return [][]byte{binary.BigEndian.AppendUint64(out, 1)}
	}
	reply := func(action uint32, body []byte) func(pkt []byte) [][]byte {
		return func(pkt []byte) [][]byte {
			out := binary.BigEndian.AppendUint32(nil, action)
			out = append(out, pkt[12:16]...)
			return [][]byte{append(out, body...)}
		}
	}
	tests := []struct {
		name    string
		respond func(pkt []byte) [][]byte
		wantErr error
		reason  string
		packets int // exact when nothing is answered; at least, otherwise
	}{
		{name: "wrong transaction IDs", respond: wrongTxid, wantErr: ErrTimeout, packets: 1 + fast.MaxRetransmits},
		{name: "silent", respond: func([]byte) [][]byte { return nil }, wantErr: ErrTimeout, packets: 1 + fast.MaxRetransmits},
		{name: "error action", respond: reply(actionError, []byte("torrent banned")), reason: "torrent banned", packets: 1},
		{name: "wrong action", respond: reply(actionScrape, nil), wantErr: ErrMalformedResponse, packets: 1},
		{name: "short connect", respond: reply(actionConnect, []byte{1, 2}), wantErr: ErrMalformedResponse, packets: 1},
		{name: "short packet", respond: func([]byte) [][]byte { return [][]byte{{0, 0}} }, wantErr: ErrTimeout, packets: 1 + fast.MaxRetransmits},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leakcheck.Check(t)
			tt := newTestTracker(t, "127.0.0.1:0")
			tt.set(func(tt *testTracker) { tt.respond = tc.respond })
			c := newClient(t, tt.url(""), fast)
			_, err := c.Announce(testCtx(t), tracker.AnnounceRequest{})
			packets, _ := tt.stats()
			if errors.Is(err, ErrTimeout) && packets != tc.packets || packets < tc.packets {
				t.Errorf("tracker saw %d packets, want %d", packets, tc.packets)
			}
			if tc.reason != "" {
				var fe *tracker.FailureError
				if !errors.As(err, &fe) || fe.Reason != tc.reason {
					t.Fatalf("err = %v, want FailureError %q", err, tc.reason)
				}
			} else if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestErrorForgetsConnectionID(t *testing.T) {
	leakcheck.Check(t)
	tt := newTestTracker(t, "127.0.0.1:0")
	c := newClient(t, tt.url(""), patient)
	if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{}); err != nil {
		t.Fatal(err)
	}
	// The tracker restarts with a new connection ID and refuses the old one.
	tt.set(func(tt *testTracker) { tt.connID++ })
	_, err := c.Announce(testCtx(t), tracker.AnnounceRequest{})
	var fe *tracker.FailureError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want the tracker's error", err)
	}
	if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{}); err != nil {
		t.Fatalf("announce after reconnecting: %v", err)
	}
	if _, connects := tt.stats(); connects != 2 {
		t.Fatalf("%d connects, want 2", connects)
	}
}

func TestScrape(t *testing.T) {
	leakcheck.Check(t)
	tt := newTestTracker(t, "127.0.0.1:0")
	c := newClient(t, tt.url("/announce"), patient)
	var hashes []metainfo.Hash
	want := make(map[metainfo.Hash]tracker.ScrapeResult)
	for i := range 100 {
		h := metainfo.Hash{byte(i), byte(i * 2), byte(i * 3), 0xff}
		hashes = append(hashes, h)
		want[h] = tracker.ScrapeResult{Complete: int(h[0]), Downloaded: int(h[1]), Incomplete: int(h[2]) + 1}
	}
	got, err := c.Scrape(testCtx(t), hashes)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	tt.mu.Lock()
	defer tt.mu.Unlock()
	if len(tt.scrapes) != 2 || len(tt.scrapes[0]) != MaxScrapeHashes || len(tt.scrapes[1]) != 100-MaxScrapeHashes {
		t.Fatalf("scrape packets carried %d hashes each", lens(tt.scrapes))
	}
}

func lens(s [][]metainfo.Hash) []int {
	var out []int
	for _, x := range s {
		out = append(out, len(x))
	}
	return out
}

// TestConcurrentAnnounces holds every answer until all requests have
// arrived and then answers in reverse order, so each response can only
// reach the right caller through its transaction ID.
func TestConcurrentAnnounces(t *testing.T) {
	leakcheck.Check(t)
	const n = 20
	tt := newTestTracker(t, "127.0.0.1:0")
	var held [][]byte
	tt.set(func(tt *testTracker) {
		tt.respond = func(pkt []byte) [][]byte {
			action := binary.BigEndian.Uint32(pkt[8:])
			txid := pkt[12:16]
			if action == actionConnect {
				return [][]byte{binary.BigEndian.AppendUint64(append([]byte{0, 0, 0, 0}, txid...), 7)}
			}
			a, _ := decodeAnnounce(pkt)
			out := append([]byte{0, 0, 0, 1}, txid...)
			out = append(out, make([]byte, 12)...)
			out = tracker.AppendCompact(out, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(a.req.InfoHash[0])+1))
			held = append(held, out)
			if len(held) < n {
				return nil
			}
			slices.Reverse(held)
			return held
		}
	})
	c := newClient(t, tt.url(""), patient)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			resp, err := c.Announce(testCtx(t), tracker.AnnounceRequest{InfoHash: metainfo.Hash{byte(i)}})
			if err != nil {
				errs <- err
				return
			}
			if len(resp.Peers) != 1 || resp.Peers[0].Port() != uint16(i)+1 {
				errs <- fmt.Errorf("announce %d got peers %v", i, resp.Peers)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestContextAndClose(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		leakcheck.Check(t)
		tt := newTestTracker(t, "127.0.0.1:0")
		tt.set(func(tt *testTracker) { tt.drop = func(int, uint32) bool { return true } })
		c := newClient(t, tt.url(""), Config{}) // BEP 15's 15 s: only ctx can end it
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Announce(ctx, tracker.AnnounceRequest{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v after a 50ms deadline", d)
		}
	})
	t.Run("close", func(t *testing.T) {
		leakcheck.Check(t)
		tt := newTestTracker(t, "127.0.0.1:0")
		tt.set(func(tt *testTracker) { tt.drop = func(int, uint32) bool { return true } })
		c := newClient(t, tt.url(""), Config{})
		errc := make(chan error, 1)
		go func() {
			_, err := c.Announce(testCtx(t), tracker.AnnounceRequest{})
			errc <- err
		}()
		for deadline := time.Now().Add(testTimeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if p, _ := tt.stats(); p > 0 {
				break
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, tracker.ErrClosed) {
				t.Fatalf("err = %v, want ErrClosed", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("Announce did not return after Close")
		}
		if _, err := c.Scrape(testCtx(t), []metainfo.Hash{hashA}); !errors.Is(err, tracker.ErrClosed) {
			t.Fatalf("Scrape after Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("close unused", func(t *testing.T) {
		leakcheck.Check(t)
		c, err := New("udp://127.0.0.1:1/announce", Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewErrors(t *testing.T) {
	for _, u := range []string{"http://t.example/announce", "udp://t.example/announce", "udp://:6969", "udp://[::1"} {
		if _, err := New(u, Config{}); !errors.Is(err, ErrBadURL) {
			t.Errorf("New(%q) = %v, want ErrBadURL", u, err)
		}
	}
}

func TestOpener(t *testing.T) {
	leakcheck.Check(t)
	tt := newTestTracker(t, "127.0.0.1:0")
	c, err := tracker.New(tt.url("/announce"), tracker.Config{Schemes: tracker.Schemes{"udp": Opener(patient)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{}); err != nil {
		t.Fatal(err)
	}
}
