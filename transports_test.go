package swarmcast_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/trackerserver"
)

// startTracker runs swarmcast's tracker (HTTP and WebSocket on one port)
// on loopback and returns its address.
func startTracker(t *testing.T) string {
	t.Helper()
	addr, _ := startTrackerServer(t)
	return addr
}

// startTrackerServer is startTracker that also returns the server.
func startTrackerServer(t *testing.T) (string, *trackerserver.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := trackerserver.New(trackerserver.Config{})
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ln.Addr().String(), srv
}

// Two clients that know each other only through a WebSocket tracker in
// their Config trade over WebRTC data channels: NewClient wires the ws://
// scheme, the WebRTC offers and the conns it hands to the torrent. Every
// byte comes over WebRTC, none over TCP.
func TestWebRTCThroughWebSocketTracker(t *testing.T) {
	ws := "ws://" + startTracker(t)
	src := t.TempDir()
	data := writeRandom(t, src, "clip.bin", 2<<20+17)
	seeder := newClient(t, swarmcast.Config{Trackers: []string{ws}})
	st, mi, err := seeder.Seed(filepath.Join(src, "clip.bin"), metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	leecher := newClient(t, swarmcast.Config{DataDir: out, Trackers: []string{ws}})
	lt, err := leecher.AddMagnet(mi.Magnet(st.Info()).String(), torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := lt.WaitComplete(ctx); err != nil {
		t.Fatalf("not complete over WebRTC: %v; %+v", err, lt.Stats())
	}
	got, err := os.ReadFile(filepath.Join(out, "clip.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file differs: %v", err)
	}
	if s := lt.Stats(); s.Downloaded["webrtc"] < int64(len(data)) || s.Downloaded["tcp"] != 0 {
		t.Fatalf("bytes by source: %v", s.Downloaded)
	}
}

// NoWebRTC ignores ws:// trackers: with only a WebSocket tracker between
// them, the clients never meet in 3 s, while the same pair with WebRTC on
// completes (the test above).
func TestNoWebRTC(t *testing.T) {
	ws := "ws://" + startTracker(t)
	src := t.TempDir()
	writeRandom(t, src, "clip.bin", 100<<10)
	seeder := newClient(t, swarmcast.Config{Trackers: []string{ws}})
	st, _, err := seeder.Seed(filepath.Join(src, "clip.bin"), metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leecher := newClient(t, swarmcast.Config{DataDir: t.TempDir(), Trackers: []string{ws}, NoWebRTC: true})
	lt, err := leecher.AddMagnet("magnet:?xt=urn:btih:"+st.InfoHash().String(), torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := lt.WaitComplete(ctx); err == nil {
		t.Fatal("complete with WebRTC off and only a WebSocket tracker")
	}
	if s := lt.Stats(); s.Peers != 0 || s.HasInfo {
		t.Fatalf("met a peer with WebRTC off: %+v", s)
	}
}

// Web seeds are used by default and never with NoWebSeeds: a torrent whose
// url-list names an origin downloads from it alone by default; with
// NoWebSeeds the origin gets no request, and the same download completes
// from a peer instead.
func TestWebSeedsOnAndOff(t *testing.T) {
	src := t.TempDir()
	data := writeRandom(t, filepath.Join(src, "origin"), "movie.bin", 1<<20+5)
	var requests atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.FileServer(http.Dir(filepath.Join(src, "origin"))).ServeHTTP(w, r)
	}))
	defer origin.Close()
	mi, _, err := metainfo.Create(filepath.Join(src, "origin", "movie.bin"), metainfo.CreateOptions{WebSeeds: []string{origin.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	withSeeds := newClient(t, swarmcast.Config{DataDir: t.TempDir()})
	wt, err := withSeeds.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.WaitComplete(ctx); err != nil {
		t.Fatalf("not complete from the web seed: %v; %+v", err, wt.Stats())
	}
	if s := wt.Stats(); s.Downloaded["webseed"] < int64(len(data)) {
		t.Fatalf("bytes by source: %v", s.Downloaded)
	}
	before := requests.Load()
	if before == 0 {
		t.Fatal("the origin saw no request")
	}

	out := t.TempDir()
	noSeeds := newClient(t, swarmcast.Config{DataDir: out, NoWebSeeds: true})
	nt, err := noSeeds.AddTorrent(mi, torrent.AddOptions{Peers: []string{withSeeds.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := nt.WaitComplete(ctx); err != nil {
		t.Fatalf("not complete from the peer: %v; %+v", err, nt.Stats())
	}
	if n := requests.Load() - before; n != 0 {
		t.Fatalf("the origin got %d requests from a client with NoWebSeeds", n)
	}
	if s := nt.Stats(); s.Downloaded["webseed"] != 0 || s.Downloaded["tcp"] < int64(len(data)) {
		t.Fatalf("bytes by source: %v", s.Downloaded)
	}
	got, _ := os.ReadFile(filepath.Join(out, "movie.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
}

// Close releases everything NewClient started: the tracker hears
// "stopped" (no peer left in its swarm) and loses the WebSocket, the TCP
// listen port and the DHT's UDP port can be bound again at once, and (by
// TestMain's goleak) no goroutine is left. Each is seen in use first.
func TestCloseReleasesEverything(t *testing.T) {
	addr, srv := startTrackerServer(t)
	sn := startSniffer(t)
	src := t.TempDir()
	writeRandom(t, src, "c.bin", 100<<10)
	c, err := swarmcast.NewClient(swarmcast.Config{
		ListenAddr:   "127.0.0.1:0",
		Storage:      storage.NewMemory(),
		Trackers:     []string{"ws://" + addr, "http://" + addr + "/announce"},
		DHTBootstrap: []string{sn.addr()},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := c.Seed(filepath.Join(src, "c.bin"), metainfo.CreateOptions{})
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	listen := c.Addr()
	waitFor(t, "the client's WebSocket and two announces at the tracker, and a DHT query", func() bool {
		s := srv.Stats()
		return s.WebSocket.Connections == 1 && s.Peers == 2 && sn.count("get_peers "+st.InfoHash().String()) > 0
	})
	if u, err := net.ListenPacket("udp4", listen); err == nil {
		u.Close()
		c.Close()
		t.Fatalf("the DHT is not on the UDP side of %s", listen)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tracker to lose the WebSocket and both peers", func() bool {
		s := srv.Stats()
		return s.WebSocket.Connections == 0 && s.Peers == 0
	})
	l, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("the listen address %s is still taken after Close: %v", listen, err)
	}
	l.Close()
	u, err := net.ListenPacket("udp4", listen)
	if err != nil {
		t.Fatalf("the DHT's UDP port %s is still taken after Close: %v", listen, err)
	}
	u.Close()
}

// waitFor polls cond every 10 ms for up to testTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, testTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
