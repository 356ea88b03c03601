package interop

import (
	"net"
	"path/filepath"
	"strconv"
	"testing"
)

// TestEngineWebTorrent moves data between swarmcast and WebTorrent 3 (npm `webtorrent`, driven by
// node/wt.mjs) over TCP on the loopback: WebTorrent is given the other side's address directly
// (torrent.addPeer), with DHT, LSD, uTP, trackers and encryption off. Single- and multi-file torrents,
// both directions; by .torrent and by magnet link.
func TestEngineWebTorrent(t *testing.T) {
	requireNodeModule(t, "webtorrent")
	swarmcastBin(t)
	sw := loopbackSwarm()
	runEngineTests(t, sw, engineClient{
		name:     "webtorrent",
		multi:    true,
		seed:     webtorrentSeed,
		download: webtorrentDownload,
	})
}

// wtReady is node/wt.mjs's "ready" event.
type wtReady struct {
	InfoHash  string `json:"infoHash"`
	MagnetURI string `json:"magnetURI"`
	Name      string `json:"name"`
	Length    int64  `json:"length"`
}

// wtListening is the "listening" event of node/wt.mjs and node/lt.py.
type wtListening struct {
	Port int `json:"port"`
}

func webtorrentSeed(t *testing.T, sw *engineSwarm, d *engineData, work string) (torrent, infoHash, addr string) {
	torrent = filepath.Join(work, "webtorrent.torrent")
	p := startBG(t, "webtorrent seed", sw.peerOpts(), "node", filepath.Join("node", "wt.mjs"), "seed", d.path, "--torrent-out", torrent)
	var l wtListening
	p.waitEvent("listening", &l, engineReadyTimeout)
	var r wtReady
	p.waitEvent("ready", &r, engineReadyTimeout)
	if r.Length != d.size {
		t.Fatalf("WebTorrent made a torrent of %d bytes, want %d", r.Length, d.size)
	}
	return torrent, r.InfoHash, net.JoinHostPort(sw.peerHost, strconv.Itoa(l.Port))
}

func webtorrentDownload(t *testing.T, sw *engineSwarm, s *swarmcastSeeder, target, out string) {
	p := startBG(t, "webtorrent download", sw.peerOpts(), "node", filepath.Join("node", "wt.mjs"), "download", target,
		"--dir", out, "--peer", s.peerAddr(sw.scHost))
	if err := p.wait(engineTransferTimeout); err != nil {
		t.Fatalf("WebTorrent did not download %s from swarmcast: %v", s.name, err)
	}
	p.waitEvent("done", nil, 0)
}
