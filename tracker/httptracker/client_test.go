package httptracker

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/internal/leakcheck"
)

// testTimeout bounds every request a test makes, so a bug cannot hang the run.
const testTimeout = 10 * time.Second

// infoHash has bytes that need escaping (0x00, '%', ' ', '&', 0xff) and
// bytes that must stay as they are ('a', '-', '~').
var infoHash = metainfo.Hash{0x00, '%', ' ', '&', 0xff, 'a', '-', '~', '.', '_', 'Z', '9', '/', '?', '+', '=', 1, 2, 3, 4}

var peerID = [20]byte([]byte("-SC0001-abcdefghijkl"))

// fakeTracker is an httptest server speaking the tracker protocol. Its
// handler answers with whatever respond returns and records every request.
type fakeTracker struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	respond  func(w http.ResponseWriter, r *http.Request)
}

func newFakeTracker(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *fakeTracker {
	ft := &fakeTracker{respond: respond}
	ft.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ft.mu.Lock()
		ft.requests = append(ft.requests, r)
		ft.mu.Unlock()
		ft.respond(w, r)
	}))
	t.Cleanup(ft.Close)
	return ft
}

func (ft *fakeTracker) lastRequest(t *testing.T) *http.Request {
	t.Helper()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if len(ft.requests) == 0 {
		t.Fatal("the tracker got no request")
	}
	return ft.requests[len(ft.requests)-1]
}

// bencoded answers with the bencoding of v.
func bencoded(t *testing.T, v any) func(http.ResponseWriter, *http.Request) {
	b, err := bencode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw(http.StatusOK, b)
}

// raw answers with status and body.
func raw(status int, body []byte) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		w.Write(body)
	}
}

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

func compact(peers ...string) []byte {
	var b []byte
	for _, p := range peers {
		b = tracker.AppendCompact(b, netip.MustParseAddrPort(p))
	}
	return b
}

func addrs(peers ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, p := range peers {
		out = append(out, netip.MustParseAddrPort(p))
	}
	return out
}

func TestAnnounceResponses(t *testing.T) {
	tests := []struct {
		name    string
		respond func(t *testing.T) func(http.ResponseWriter, *http.Request)
		want    tracker.AnnounceResponse
		wantErr error  // errors.Is target
		reason  string // expected FailureError reason
	}{
		{
			name: "compact",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return bencoded(t, map[string]any{"interval": 1800, "min interval": 60, "complete": 3, "incomplete": 7,
					"peers": compact("10.0.0.1:6881", "10.0.0.2:51413")})
			},
			want: tracker.AnnounceResponse{Interval: 30 * time.Minute, MinInterval: time.Minute, Seeders: 3, Leechers: 7,
				Peers: addrs("10.0.0.1:6881", "10.0.0.2:51413")},
		},
		{
			name: "dictionary peers",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return bencoded(t, map[string]any{"interval": 900, "peers": []any{
					map[string]any{"ip": "10.0.0.1", "port": 6881, "peer id": "-XX0001-000000000001"},
					map[string]any{"ip": "2001:db8::7", "port": 6882},
					map[string]any{"ip": "tracker.example", "port": 1}, // a DNS name: skipped
					map[string]any{"ip": "10.0.0.9", "port": 70000},    // bad port: skipped
					map[string]any{"ip": 5, "port": 5},                 // bad type: skipped
					map[string]any{"ip": "10.0.0.3", "port": 3, "peer id": "short"},
				}})
			},
			want: tracker.AnnounceResponse{Interval: 15 * time.Minute, Seeders: -1, Leechers: -1,
				Peers: addrs("10.0.0.1:6881", "[2001:db8::7]:6882", "10.0.0.3:3"),
				PeerIDs: map[netip.AddrPort][20]byte{
					netip.MustParseAddrPort("10.0.0.1:6881"): [20]byte([]byte("-XX0001-000000000001")),
				}},
		},
		{
			name: "peers6",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return bencoded(t, map[string]any{"interval": 60, "peers": compact("10.0.0.1:1"),
					"peers6": compact("[2001:db8::1]:2", "[2001:db8::2]:3")})
			},
			want: tracker.AnnounceResponse{Interval: time.Minute, Seeders: -1, Leechers: -1,
				Peers: addrs("10.0.0.1:1", "[2001:db8::1]:2", "[2001:db8::2]:3")},
		},
		{
			name: "warning and tracker id",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return bencoded(t, map[string]any{"interval": 60, "peers": "", "warning message": "upgrade your client",
					"tracker id": "tid-1"})
			},
			want: tracker.AnnounceResponse{Interval: time.Minute, Seeders: -1, Leechers: -1,
				Warning: "upgrade your client", TrackerID: "tid-1"},
		},
		{
			name: "trailing newline",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return raw(200, []byte("d8:intervali5e5:peers0:e\n"))
			},
			want: tracker.AnnounceResponse{Interval: 5 * time.Second, Seeders: -1, Leechers: -1},
		},
		{
			name: "failure reason",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return bencoded(t, map[string]any{"failure reason": "torrent not registered"})
			},
			reason: "torrent not registered",
		},
		{
			name: "failure reason with HTTP 403",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return raw(http.StatusForbidden, []byte("d14:failure reason11:bad passkeye"))
			},
			reason: "bad passkey",
		},
		{
			name: "HTTP 500 with HTML",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return raw(http.StatusInternalServerError, []byte("<html>oops</html>"))
			},
			wantErr: ErrStatus,
		},
		{
			name: "not bencode",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return raw(http.StatusOK, []byte("<html>hello</html>"))
			},
			wantErr: ErrMalformedResponse,
		},
		{
			name: "bad compact length",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				return bencoded(t, map[string]any{"interval": 60, "peers": "12345"})
			},
			wantErr: tracker.ErrCompactLength,
		},
		{
			name: "gzip",
			respond: func(t *testing.T) func(http.ResponseWriter, *http.Request) {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write([]byte("d8:intervali7e5:peers6:\x7f\x00\x00\x01\x00\x50e"))
				zw.Close()
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Encoding", "gzip")
					w.Write(buf.Bytes())
				}
			},
			want: tracker.AnnounceResponse{Interval: 7 * time.Second, Seeders: -1, Leechers: -1, Peers: addrs("127.0.0.1:80")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			ft := newFakeTracker(t, tt.respond(t))
			c := newClient(t, ft.URL+"/announce", Config{})
			got, err := c.Announce(testCtx(t), tracker.AnnounceRequest{InfoHash: infoHash, PeerID: peerID, Port: 6881})
			switch {
			case tt.reason != "":
				var fe *tracker.FailureError
				if !errors.As(err, &fe) || fe.Reason != tt.reason {
					t.Fatalf("err = %v, want FailureError %q", err, tt.reason)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var fe *tracker.FailureError
				if errors.As(err, &fe) {
					t.Fatalf("err %v is a FailureError", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got  %+v\nwant %+v", got, tt.want)
				}
			}
		})
	}
}

func TestAnnounceQuery(t *testing.T) {
	tests := []struct {
		name string
		req  tracker.AnnounceRequest
		want []string // substrings of the raw query, in order
		not  []string // substrings that must not appear
	}{
		{
			name: "minimal",
			req:  tracker.AnnounceRequest{InfoHash: infoHash, PeerID: peerID, Port: 6881, Left: 100},
			want: []string{
				"passkey=s3cr%2Ft&x=1&",
				"info_hash=%00%25%20%26%FFa-~._Z9%2F%3F%2B%3D%01%02%03%04",
				"&peer_id=-SC0001-abcdefghijkl",
				"&port=6881&uploaded=0&downloaded=0&left=100&compact=1",
			},
			not: []string{"&event=", "&numwant=", "&key=", "&trackerid=", "&ip="},
		},
		{
			name: "everything",
			req: tracker.AnnounceRequest{InfoHash: infoHash, PeerID: peerID, Port: 1, Uploaded: 2, Downloaded: 3,
				Left: 4, Event: tracker.EventStarted, NumWant: 50, Key: 0xdeadbeef, NoCompact: true,
				IP: netip.MustParseAddr("2001:db8::1"), TrackerID: "a b"},
			want: []string{
				"&port=1&uploaded=2&downloaded=3&left=4&compact=0&event=started&numwant=50&key=DEADBEEF&trackerid=a%20b&ip=2001%3Adb8%3A%3A1",
			},
		},
		{name: "no peers", req: tracker.AnnounceRequest{NumWant: 50, NoPeers: true}, want: []string{"&numwant=0"}},
		{name: "completed", req: tracker.AnnounceRequest{Event: tracker.EventCompleted}, want: []string{"&event=completed"}},
		{name: "stopped", req: tracker.AnnounceRequest{Event: tracker.EventStopped}, want: []string{"&event=stopped"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			ft := newFakeTracker(t, bencoded(t, map[string]any{"interval": 60, "peers": ""}))
			c := newClient(t, ft.URL+"/path/announce?passkey=s3cr%2Ft&x=1", Config{})
			if _, err := c.Announce(testCtx(t), tt.req); err != nil {
				t.Fatal(err)
			}
			r := ft.lastRequest(t)
			if r.URL.Path != "/path/announce" {
				t.Errorf("path %q", r.URL.Path)
			}
			q := r.URL.RawQuery
			at := 0
			for _, w := range tt.want {
				i := strings.Index(q[at:], w)
				if i < 0 {
					t.Fatalf("query %q lacks %q (after offset %d)", q, w, at)
				}
				at += i + len(w)
			}
			for _, n := range tt.not {
				if strings.Contains(q, n) {
					t.Errorf("query %q has %q", q, n)
				}
			}
			// Whatever the encoding, a standard parser must get the bytes back.
			v, err := url.ParseQuery(q)
			if err != nil {
				t.Fatal(err)
			}
			if v.Get("info_hash") != string(tt.req.InfoHash[:]) || v.Get("passkey") != "s3cr/t" {
				t.Errorf("parsed query %v", v)
			}
		})
	}
}

func TestTrackerIDEcho(t *testing.T) {
	leakcheck.Check(t)
	ft := newFakeTracker(t, bencoded(t, map[string]any{"interval": 60, "peers": "", "tracker id": "T-42"}))
	c := newClient(t, ft.URL+"/announce", Config{})
	other := metainfo.Hash{9}
	steps := []struct {
		hash   metainfo.Hash
		event  tracker.Event
		wantID string // trackerid sent with this announce
	}{
		{infoHash, tracker.EventStarted, ""},
		{infoHash, tracker.EventNone, "T-42"},
		{other, tracker.EventStarted, ""}, // tracker ids are per torrent
		{infoHash, tracker.EventStopped, "T-42"},
		{infoHash, tracker.EventStarted, ""}, // forgotten after stopped
	}
	for i, s := range steps {
		if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{InfoHash: s.hash, Event: s.event}); err != nil {
			t.Fatal(err)
		}
		if got := ft.lastRequest(t).URL.Query().Get("trackerid"); got != s.wantID {
			t.Errorf("step %d: trackerid %q, want %q", i, got, s.wantID)
		}
	}
}

func TestUserAgent(t *testing.T) {
	for _, tt := range []struct{ cfg, want string }{{"", tracker.DefaultUserAgent}, {"test/1", "test/1"}} {
		t.Run(tt.want, func(t *testing.T) {
			leakcheck.Check(t)
			ft := newFakeTracker(t, bencoded(t, map[string]any{"interval": 60, "peers": ""}))
			c := newClient(t, ft.URL+"/announce", Config{UserAgent: tt.cfg})
			if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{}); err != nil {
				t.Fatal(err)
			}
			if got := ft.lastRequest(t).UserAgent(); got != tt.want {
				t.Fatalf("User-Agent %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOversizedBody(t *testing.T) {
	const limit = 1 << 10
	big := append([]byte("d5:peers"), []byte("4000:")...)
	big = append(big, make([]byte, 4000)...)
	big = append(big, 'e')
	tests := []struct {
		name    string
		limit   int64
		respond func(http.ResponseWriter, *http.Request)
	}{
		{"content-length", limit, raw(200, big)},
		{"chunked", limit, func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < len(big); i += 100 {
				w.Write(big[i:min(i+100, len(big))])
				w.(http.Flusher).Flush()
			}
		}},
		{"default limit", 0, func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("d5:peers"))
			chunk := make([]byte, 64<<10)
			for range (DefaultMaxResponseSize / len(chunk)) + 2 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			ft := newFakeTracker(t, tt.respond)
			c := newClient(t, ft.URL+"/announce", Config{MaxResponseSize: tt.limit})
			_, err := c.Announce(testCtx(t), tracker.AnnounceRequest{})
			if !errors.Is(err, ErrResponseTooLarge) {
				t.Fatalf("err = %v, want ErrResponseTooLarge", err)
			}
		})
	}
}

// slowTracker answers only when the request is cancelled or the test ends.
func slowTracker(t *testing.T) *fakeTracker {
	release := make(chan struct{})
	ft := newFakeTracker(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before ft.Close
	return ft
}

func TestSlowServerContextTimeout(t *testing.T) {
	leakcheck.Check(t)
	ft := slowTracker(t)
	c := newClient(t, ft.URL+"/announce?passkey=secret", Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Announce(ctx, tracker.AnnounceRequest{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v after a 100ms deadline", d)
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "info_hash") {
		t.Errorf("error %q leaks the query", err)
	}
}

func TestCloseCancelsInFlight(t *testing.T) {
	leakcheck.Check(t)
	ft := slowTracker(t)
	c := newClient(t, ft.URL+"/announce", Config{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Announce(testCtx(t), tracker.AnnounceRequest{})
		errc <- err
	}()
	// Wait for the request to reach the server before closing.
	deadline := time.Now().Add(testTimeout)
	for {
		ft.mu.Lock()
		n := len(ft.requests)
		ft.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, tracker.ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Announce did not return after Close")
	}
	if _, err := c.Announce(testCtx(t), tracker.AnnounceRequest{}); !errors.Is(err, tracker.ErrClosed) {
		t.Fatalf("Announce after Close: %v", err)
	}
}

func TestNetworkErrorIsNotFailure(t *testing.T) {
	leakcheck.Check(t)
	ft := newFakeTracker(t, raw(200, nil))
	u := ft.URL + "/announce?passkey=secret"
	ft.Close() // nothing listens any more
	c := newClient(t, u, Config{})
	_, err := c.Announce(testCtx(t), tracker.AnnounceRequest{})
	var fe *tracker.FailureError
	if err == nil || errors.As(err, &fe) {
		t.Fatalf("err = %v, want a network error", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q leaks the passkey", err)
	}
}

func TestScrape(t *testing.T) {
	leakcheck.Check(t)
	a, b, unknown, extra := metainfo.Hash{1}, infoHash, metainfo.Hash{3}, metainfo.Hash{4}
	ft := newFakeTracker(t, bencoded(t, map[string]any{"files": map[string]any{
		string(a[:]):     map[string]any{"complete": 5, "incomplete": 6, "downloaded": 7},
		string(b[:]):     map[string]any{"complete": 1, "name": "x"},
		string(extra[:]): map[string]any{"complete": 9},
		"short":          map[string]any{"complete": 9},
	}}))
	c := newClient(t, ft.URL+"/x/announce.php?passkey=k", Config{})
	got, err := c.Scrape(testCtx(t), []metainfo.Hash{a, b, unknown})
	if err != nil {
		t.Fatal(err)
	}
	want := map[metainfo.Hash]tracker.ScrapeResult{a: {Complete: 5, Incomplete: 6, Downloaded: 7}, b: {Complete: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	r := ft.lastRequest(t)
	if r.URL.Path != "/x/scrape.php" || r.URL.Query().Get("passkey") != "k" {
		t.Errorf("scrape went to %s", r.URL)
	}
	hashes := r.URL.Query()["info_hash"]
	if !slices.Equal(hashes, []string{string(a[:]), string(b[:]), string(unknown[:])}) {
		t.Errorf("info_hash parameters %q", hashes)
	}
}

func TestScrapeErrors(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		body    string
		wantErr error
		reason  string
	}{
		{name: "unsupported", path: "/tracker", wantErr: tracker.ErrScrapeUnsupported},
		{name: "failure", path: "/announce", body: "d14:failure reason4:nopee", reason: "nope"},
		{name: "garbage", path: "/announce", body: "d5:filesi3ee", wantErr: ErrMalformedResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t)
			ft := newFakeTracker(t, raw(200, []byte(tt.body)))
			c := newClient(t, ft.URL+tt.path, Config{})
			_, err := c.Scrape(testCtx(t), []metainfo.Hash{infoHash})
			if tt.reason != "" {
				var fe *tracker.FailureError
				if !errors.As(err, &fe) || fe.Reason != tt.reason {
					t.Fatalf("err = %v, want FailureError %q", err, tt.reason)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestScrapeURL(t *testing.T) {
	// The examples of BEP 48.
	tests := []struct{ announce, scrape string }{
		{"http://example.com/announce", "http://example.com/scrape"},
		{"http://example.com/x/announce", "http://example.com/x/scrape"},
		{"http://example.com/announce.php", "http://example.com/scrape.php"},
		{"http://example.com/a", ""},
		{"http://example.com/announce?x2%0644", "http://example.com/scrape?x2%0644"},
		{"http://example.com/announce?x=2/4", "http://example.com/scrape?x=2/4"},
		{"http://example.com/x%064announce", ""},
		{"http://example.com/announce/", ""},
		{"http://example.com", ""},
		{"https://example.com/a%20b/announce", "https://example.com/a%20b/scrape"},
	}
	for _, tt := range tests {
		got, ok := ScrapeURL(tt.announce)
		if got != tt.scrape || ok != (tt.scrape != "") {
			t.Errorf("ScrapeURL(%q) = %q, %v; want %q", tt.announce, got, ok, tt.scrape)
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, u := range []string{"udp://t.example:1/announce", "http:///announce", "http://[::1"} {
		if _, err := New(u, Config{}); !errors.Is(err, ErrBadURL) {
			t.Errorf("New(%q) = %v, want ErrBadURL", u, err)
		}
	}
}

func TestOpener(t *testing.T) {
	leakcheck.Check(t)
	ft := newFakeTracker(t, bencoded(t, map[string]any{"interval": 60, "peers": compact("127.0.0.1:1")}))
	cfg := tracker.Config{UserAgent: "via-tracker-config", Schemes: tracker.Schemes{"http": Opener(Config{})}}
	c, err := tracker.New(ft.URL+"/announce", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Announce(testCtx(t), tracker.AnnounceRequest{})
	if err != nil || len(resp.Peers) != 1 {
		t.Fatalf("Announce = %v, %v", resp, err)
	}
	if ua := ft.lastRequest(t).UserAgent(); ua != "via-tracker-config" {
		t.Errorf("User-Agent %q", ua)
	}
	if _, err := tracker.New("http://[::1", cfg); err == nil {
		t.Error("tracker.New accepted a bad URL")
	}
}
