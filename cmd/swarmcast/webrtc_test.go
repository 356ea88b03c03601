package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/trackerserver"
)

// Two swarmcast clients that know each other only through our WebSocket
// tracker exchange a file over WebRTC data channels on loopback.
func TestWebRTCThroughOurTracker(t *testing.T) {
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
	wsURL := "ws://" + ln.Addr().String()

	dir := t.TempDir()
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "clip.bin"), data, 0o644)
	mi, _, err := metainfo.Create(filepath.Join(dir, "clip.bin"), metainfo.CreateOptions{Trackers: []string{wsURL}})
	if err != nil {
		t.Fatal(err)
	}
	start := func(storeDir string) *session {
		cf := clientFlags{listen: "127.0.0.1:0", loopback: true, maxConns: torrent.DefaultMaxConns}
		s, err := cf.start(storeDir, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.close() })
		return s
	}
	seeder := start(dir)
	if _, err := seeder.client.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	leecher := start(out)
	began := time.Now()
	lt, err := leecher.client.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := lt.WaitComplete(ctx); err != nil {
		t.Fatalf("not complete over WebRTC: %v; %+v", err, lt.Stats())
	}
	got, err := os.ReadFile(filepath.Join(out, "clip.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file differs: %v", err)
	}
	st := lt.Stats()
	if st.Downloaded["webrtc"] < int64(len(data)) || st.Downloaded["tcp"] != 0 {
		t.Fatalf("bytes by source: %v", st.Downloaded)
	}
	t.Logf("%d bytes over WebRTC in %v", len(data), time.Since(began))
}
