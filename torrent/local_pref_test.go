package torrent_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// nodeAt is newNode listening on a given loopback address.
func nodeAt(t *testing.T, host string, mutate func(*torrent.Config)) *node {
	t.Helper()
	l, err := tcp.Listen(host + ":0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := torrent.Config{Storage: storage.NewFile(dir), Dialers: map[string]transport.Dialer{transport.TCP: tcp.Dialer{}}}
	if mutate != nil {
		mutate(&cfg)
	}
	c := torrent.NewClient(cfg)
	go c.Serve(l)
	t.Cleanup(func() { c.Close() })
	return &node{c: c, addr: l.Addr(), dir: dir}
}

// A leecher with a local and a remote seed (Config.LocalNetworks says
// which is which) counts what came from each where it came from: its
// bytes from local peers are what the local seed sent it, the rest what the
// remote one sent. When the local seed is slow, the remote one carries the
// rest and the download is not held back. (That local peers are preferred
// shows across a link with latency; on loopback both seeds answer at once
// and share one CPU: two thirds of the bytes came from the local seed with
// the preference, half without, and under the race detector less.)
func TestLocalPeersCounted(t *testing.T) {
	for _, c := range []struct {
		name      string
		localRate int64 // the local seed's upload limit; 0: none
	}{{"local fast", 0}, {"local slow", 1 << 20}} {
		t.Run(c.name, func(t *testing.T) {
			local := nodeAt(t, "127.0.0.2", func(cfg *torrent.Config) { cfg.UploadRate = c.localRate })
			remote := nodeAt(t, "127.0.0.3", nil)
			mi, data := makeContent(t, local.dir, "locality", []int{24 << 20}, 256<<10)
			lseed, err := local.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
			if err != nil {
				t.Fatal(err)
			}
			makeContentAt(t, remote.dir, "locality", data)
			rseed, err := remote.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
			if err != nil {
				t.Fatal(err)
			}
			leecher := nodeAt(t, "127.0.0.1", func(cfg *torrent.Config) {
				cfg.LocalNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
			})
			lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{local.addr, remote.addr}})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			waitComplete(t, lt, 60*time.Second)
			took := time.Since(start)
			checkFiles(t, filepath.Join(leecher.dir, "locality"), data)
			s := lt.Stats()
			sentLocal, sentRemote := lseed.Stats().UploadedTotal, rseed.Stats().UploadedTotal
			t.Logf("%v: %d of %d bytes from the local seed, which sent %d; the remote one sent %d",
				took.Round(time.Millisecond), s.DownloadedLocal, s.DownloadedTotal, sentLocal, sentRemote)
			// What a seed sent and we did not keep: duplicates at the end.
			const slack = 2 << 20
			if s.DownloadedLocal > sentLocal || s.DownloadedLocal < sentLocal-slack {
				t.Errorf("%d bytes counted local; the local seed sent %d", s.DownloadedLocal, sentLocal)
			}
			if remoteGot := s.DownloadedTotal - s.DownloadedLocal; remoteGot > sentRemote || remoteGot < sentRemote-slack {
				t.Errorf("%d bytes counted remote; the remote seed sent %d", remoteGot, sentRemote)
			}
			if c.localRate > 0 && s.DownloadedLocal > int64(float64(c.localRate)*took.Seconds())+4<<20 {
				t.Errorf("%d bytes from a seed limited to %d B/s in %v", s.DownloadedLocal, c.localRate, took)
			}
			if c.localRate > 0 && took > 10*time.Second {
				t.Errorf("took %v: the slow local seed held the download back", took)
			}
		})
	}
}

// makeContentAt writes the files of data under dir/name, as makeContent
// made them elsewhere.
func makeContentAt(t *testing.T, dir, name string, data map[string][]byte) {
	t.Helper()
	for rel, b := range data {
		p := filepath.Join(dir, name, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
