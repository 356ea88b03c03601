package interop

import (
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The DHT interop tests: swarmcast and libtorrent 2.0 (Debian's python3-libtorrent, driven by
// node/ltdht.py) find each other through a libtorrent DHT node on the loopback, with no tracker and no
// peer address: each side is given only the node (--dht-bootstrap) and a magnet link. Every program has
// its own loopback address, and swarmcast's routing table goes to a temporary folder.

// dhtPeerLineRE matches libtorrent's log line for peers a DHT lookup returned.
var dhtPeerLineRE = regexp.MustCompile(`received DHT peers`)

// startLibtorrentDHTNode starts a libtorrent session with only its DHT on and returns its address.
func startLibtorrentDHTNode(t *testing.T) string {
	t.Helper()
	p := startBG(t, "libtorrent DHT node", bgOpts{}, debianPython, filepath.Join("node", "ltdht.py"), "node",
		"--listen", "127.0.0.1:0")
	var l wtListening
	p.waitEvent("listening", &l, engineReadyTimeout)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port))
}

// dhtCacheEnv keeps swarmcast's saved routing table in the test's own folder.
func dhtCacheEnv(t *testing.T) []string {
	return []string{"XDG_CACHE_HOME=" + t.TempDir()}
}

// libtorrent seeds and announces to its DHT node; swarmcast, bootstrapped only to that node, resolves
// the magnet link (metadata and data from libtorrent) and counts libtorrent's address as found by the
// DHT.
func TestDHTLibtorrentSeedSwarmcastDownload(t *testing.T) {
	requireLibtorrent(t)
	swarmcastBin(t)
	node := startLibtorrentDHTNode(t)
	d := makeSingleData(t, engineRNG(t), t.TempDir(), "lt-dht.bin", 3<<20+4321)
	seed := startBG(t, "libtorrent seed", bgOpts{}, debianPython, filepath.Join("node", "ltdht.py"), "seed", d.path,
		"--dht-bootstrap", node, "--listen", "127.0.0.2:0")
	var r wtReady
	seed.waitEvent("ready", &r, engineReadyTimeout)
	seed.waitEvent("done", nil, engineReadyTimeout) // checked: seeding
	out := t.TempDir()
	start := time.Now()
	p := startBG(t, "swarmcast download", bgOpts{env: dhtCacheEnv(t)}, swarmcastBin(t), "download", r.MagnetURI,
		"-o", out, "--listen", "127.0.0.3:0", "--dht-bootstrap", node, "--json", "-v")
	if err := p.wait(engineTransferTimeout); err != nil {
		t.Fatalf("swarmcast did not download libtorrent's magnet through the DHT: %v", err)
	}
	t.Logf("swarmcast resolved and downloaded libtorrent's magnet through libtorrent's DHT node in %v",
		time.Since(start).Round(time.Millisecond))
	d.check(t, "swarmcast", out)
	var last struct {
		Addresses map[string]int `json:"addressesBySource"`
	}
	if lines := p.grep(downloadProgressRE); len(lines) > 0 {
		json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	}
	if last.Addresses["dht"] == 0 {
		t.Fatalf("swarmcast's last progress line counts no address found by the DHT: %v", last.Addresses)
	}
}

// swarmcast seeds and announces to libtorrent's DHT node; a libtorrent downloader bootstrapped only to
// that node finds swarmcast there and downloads the magnet from it (swarmcast is the only peer with
// the data).
func TestDHTSwarmcastSeedLibtorrentDownload(t *testing.T) {
	requireLibtorrent(t)
	swarmcastBin(t)
	node := startLibtorrentDHTNode(t)
	d := makeSingleData(t, engineRNG(t), t.TempDir(), "sc-dht.bin", 2<<20+999)
	s := startSwarmcastSeed(t, bgOpts{env: dhtCacheEnv(t)}, "127.0.0.2:0", d.path, "--dht-bootstrap", node)
	out := t.TempDir()
	start := time.Now()
	p := startBG(t, "libtorrent download", bgOpts{}, debianPython, filepath.Join("node", "ltdht.py"), "download",
		s.magnet, "--dir", out, "--dht-bootstrap", node, "--listen", "127.0.0.3:0")
	if err := p.wait(engineTransferTimeout); err != nil {
		t.Fatalf("libtorrent did not find swarmcast through the DHT and download from it: %v", err)
	}
	p.waitEvent("done", nil, 0)
	t.Logf("libtorrent found swarmcast through its DHT node and downloaded in %v", time.Since(start).Round(time.Millisecond))
	d.check(t, "libtorrent", out)
	if len(p.grep(dhtPeerLineRE)) == 0 {
		t.Errorf("libtorrent's log shows no peers received from the DHT")
	}
}
