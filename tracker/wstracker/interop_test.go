package wstracker

import (
	"encoding/hex"
	"io"
	"os"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/webrtc"
)

// TestRealTracker is a manual interop check against a tracker that another
// program runs, such as bittorrent-tracker from npm with a WebTorrent peer
// announcing the same torrent. It is skipped unless these are set:
//
//	SWARMCAST_WSTRACKER_URL       ws://127.0.0.1:PORT
//	SWARMCAST_WSTRACKER_INFOHASH  the torrent's info hash in hex
//	SWARMCAST_WSTRACKER_LOOPBACK  1 for loopback-only ICE (optional)
//
// It announces, waits for one peer connection in either direction, reads
// the peer's greeting and expects its echo of ours ("echo:" + what we sent).
func TestRealTracker(t *testing.T) {
	url, ihHex := os.Getenv("SWARMCAST_WSTRACKER_URL"), os.Getenv("SWARMCAST_WSTRACKER_INFOHASH")
	if url == "" || ihHex == "" {
		t.Skip("SWARMCAST_WSTRACKER_URL and SWARMCAST_WSTRACKER_INFOHASH not set")
	}
	b, err := hex.DecodeString(ihHex)
	if err != nil || len(b) != 20 {
		t.Fatalf("bad SWARMCAST_WSTRACKER_INFOHASH %q", ihHex)
	}
	ih := metainfo.Hash(b)
	conns := make(chan gotConn, 4)
	c, err := New(url, Config{
		WebRTC: webrtc.Config{Loopback: os.Getenv("SWARMCAST_WSTRACKER_LOOPBACK") == "1"},
		OnConn: func(h metainfo.Hash, id [20]byte, conn transport.Conn) { conns <- gotConn{h, id, conn} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t)
	start := time.Now()
	resp, err := c.Announce(ctx, tracker.AnnounceRequest{InfoHash: ih, PeerID: idA, Event: tracker.EventStarted, NumWant: 50, Left: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("announce response after %v: %+v", time.Since(start), resp)
	sc, err := c.Scrape(ctx, []metainfo.Hash{ih})
	t.Logf("scrape: %+v, %v", sc, err)
	var g gotConn
	select {
	case g = <-conns:
	case <-ctx.Done():
		t.Fatal("no peer connection")
	}
	defer g.conn.Close()
	t.Logf("connected %v after announce to peer %q at %s, outbound %v", time.Since(start), g.peerID, g.conn.RemoteAddr(), g.conn.Outbound())
	buf := make([]byte, len("hello from js"))
	if _, err := io.ReadFull(g.conn, buf); err != nil || string(buf) != "hello from js" {
		t.Fatalf("greeting %q, %v", buf, err)
	}
	msg := "ping from go"
	if _, err := g.conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, len("echo:"+msg))
	if _, err := io.ReadFull(g.conn, echo); err != nil || string(echo) != "echo:"+msg {
		t.Fatalf("echo %q, %v", echo, err)
	}
	t.Logf("exchanged greeting and echo with the JS peer")
}

// TestRealTrackerGoPeers connects two of our clients through the tracker at
// SWARMCAST_WSTRACKER_URL (skipped when it is not set), on a fresh random
// torrent.
func TestRealTrackerGoPeers(t *testing.T) {
	url := os.Getenv("SWARMCAST_WSTRACKER_URL")
	if url == "" {
		t.Skip("SWARMCAST_WSTRACKER_URL not set")
	}
	var ih metainfo.Hash
	copy(ih[:], idB[:])
	ih[19] = byte(time.Now().UnixNano())
	a, connsA := newClient(t, url, Config{})
	b, connsB := newClient(t, url, Config{})
	ctx := testCtx(t)
	start := time.Now()
	if _, err := a.Announce(ctx, tracker.AnnounceRequest{InfoHash: ih, PeerID: idA, Event: tracker.EventStarted}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Announce(ctx, tracker.AnnounceRequest{InfoHash: ih, PeerID: idB, Event: tracker.EventStarted}); err != nil {
		t.Fatal(err)
	}
	ga, gb := waitConn(t, connsA), waitConn(t, connsB)
	t.Logf("both connected %v after the first announce", time.Since(start))
	if ga.peerID != idB || gb.peerID != idA {
		t.Errorf("peer ids %q, %q", ga.peerID, gb.peerID)
	}
	exchange(t, ga.conn, gb.conn)
	exchange(t, gb.conn, ga.conn)
}
