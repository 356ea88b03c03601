package trackerserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestStatsAndMetrics(t *testing.T) {
	ts := startServer(t, Config{}, true)
	ctx := testCtx(t)
	ih := hash20(1)
	hc := httpClient(t, ts.httpURL("/announce"))
	seed := req(ih, 1, 6881)
	seed.Left = 0
	if _, err := hc.Announce(ctx, seed); err != nil {
		t.Fatal(err)
	}
	uc := udpClient(t, ts.udpAddr)
	if _, err := uc.Announce(ctx, req(ih, 2, 6882)); err != nil {
		t.Fatal(err)
	}
	w := dialWS(t, ts.wsURL(""), hash20(3))
	w.announce(ih, nil)
	w.recv()

	resp, err := http.Get(ts.httpURL("/stats"))
	if err != nil {
		t.Fatal(err)
	}
	var st Stats
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	want := ByProtocol{HTTP: 1, UDP: 1, WebSocket: 1}
	if st.Torrents != 1 || st.ActiveTorrents != 1 || st.Peers != 3 || st.Seeders != 1 || st.Leechers != 2 ||
		st.PeersByProtocol != want || st.Announces != want || st.WebSocket.Connections != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The rate counts the announces once a sample is older than they are.
	waitFor(t, "an announce rate", func() bool { return ts.Stats().AnnouncesPerSecond.Total > 0 })

	resp, err = http.Get(ts.httpURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`swarmcast_tracker_torrents 1`,
		`swarmcast_tracker_peers{protocol="http",state="seeder"} 1`,
		`swarmcast_tracker_peers{protocol="ws",state="leecher"} 1`,
		`swarmcast_tracker_announces_total{protocol="udp"} 1`,
		`swarmcast_tracker_websocket_connections 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// TestShutdown: WebSocket peers get a close frame (1001), Serve returns,
// and no goroutine is left.
func TestShutdown(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := New(Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	ts := &testServer{Server: s, addr: ln.Addr().String()}
	var clients []*wsClient
	for i := range 5 {
		c := dialWS(t, ts.wsURL(""), hash20(byte(i)))
		c.announce(hash20(100), nil)
		c.recv()
		clients = append(clients, c)
	}
	// One client that reads nothing and never answers the close frame.
	mute, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	io.WriteString(mute, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	waitFor(t, "6 sockets", func() bool { return s.Stats().WebSocket.Connections == 6 })

	// The five answer the close frame; the mute one is cut off when ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err = s.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline (one client never closes)", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	for _, c := range clients {
		if code := c.expectClosed(); code != websocket.StatusGoingAway {
			t.Fatalf("close status %v, want 1001", code)
		}
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := http.Get("http://" + ts.addr + "/stats"); err == nil {
		t.Fatal("still listening")
	}
	for _, c := range clients {
		c.c.CloseNow()
		<-c.done
	}
}

// TestShutdownClean: with well-behaved clients only, Shutdown returns nil.
func TestShutdownClean(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := New(Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c := dialWS(t, "ws://"+ln.Addr().String(), hash20(1))
	c.announce(hash20(2), nil)
	c.recv()
	if err := s.Shutdown(testCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-served
	if code := c.expectClosed(); code != websocket.StatusGoingAway {
		t.Fatalf("close status %v", code)
	}
	c.c.CloseNow()
	if err := s.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestMaxConns(t *testing.T) {
	ts := startServer(t, Config{MaxConns: 2}, false)
	dialWS(t, ts.wsURL(""), hash20(1))
	dialWS(t, ts.wsURL(""), hash20(2))
	ctx := testCtx(t)
	_, resp, err := websocket.Dial(ctx, ts.wsURL(""), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third socket: %v", err)
	}
	if resp.Body != nil {
		resp.Body.Close()
	}
}
