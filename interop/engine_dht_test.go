package interop

import (
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/testenv"
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

// dhtCompareNodes and dhtCompareTrials: the issue's private DHT of 20 swarmcast nodes (19 `swarmcast
// dht-node` and the seeder), and downloads per client.
const (
	dhtCompareNodes  = 20
	dhtCompareTrials = 5
)

// On one private DHT of 20 swarmcast nodes, a tracker-less magnet link (a 256 KiB file) is resolved and
// downloaded by swarmcast and by libtorrent, each started fresh and given one node of the DHT to
// bootstrap from: the time from start to exit, p50 and p95 for each (process start, bootstrap, lookup,
// metadata and data). The goal is ≤ 5 s for swarmcast.
func TestDHTMagnetTimeVsLibtorrent(t *testing.T) {
	if testing.Short() {
		t.Skip("20 processes")
	}
	requireLibtorrent(t)
	bin := swarmcastBin(t)
	env := bgOpts{env: dhtCacheEnv(t)}
	var nodes []string
	for i := range dhtCompareNodes - 1 {
		args := []string{"dht-node", "--listen", "127.0.1." + strconv.Itoa(i+1) + ":0"}
		if i > 0 {
			args = append(args, "--dht-bootstrap", nodes[0])
		}
		p := startBG(t, "swarmcast dht-node", env, bin, args...)
		nodes = append(nodes, p.waitFor(regexp.MustCompile(`^dht node listening on (\S+)$`), engineReadyTimeout)[1])
	}
	d := makeSingleData(t, engineRNG(t), t.TempDir(), "compare.bin", 256<<10)
	// The seed bootstraps from the first node, which every other node bootstrapped from. From the
	// newest one (nodes[len-1], started a moment before and knowing little yet) its announces reached
	// that node alone in 2 of 4 CI runs, and a downloader walking toward the info hash elsewhere found
	// no peer for a minute (the DHT's thin-table refill, dht.refillThinTable, is meant for that case).
	s := startSwarmcastSeed(t, env, "127.0.2.1:0", d.path, "--dht-bootstrap", nodes[0])
	// The seed has announced once its first lookup is done (its -v log says so).
	s.waitFor(regexp.MustCompile(`dht: lookup done`), engineReadyTimeout)
	var sc, lt []time.Duration
	for i := range dhtCompareTrials {
		boot := nodes[(i*7+3)%len(nodes)]
		out := t.TempDir()
		p := startBG(t, "swarmcast download", env, bin, "download", s.magnet, "-o", out,
			"--listen", "127.0.3."+strconv.Itoa(i+1)+":0", "--dht-bootstrap", boot, "--json")
		if err := p.wait(engineTransferTimeout); err != nil {
			t.Fatalf("swarmcast did not resolve the magnet through the DHT: %v", err)
		}
		d.check(t, "swarmcast", out)
		sc = append(sc, p.end.Sub(p.start))
		out = t.TempDir()
		p = startBG(t, "libtorrent download", bgOpts{}, debianPython, filepath.Join("node", "ltdht.py"), "download",
			s.magnet, "--dir", out, "--dht-bootstrap", boot, "--listen", "127.0.4."+strconv.Itoa(i+1)+":0")
		if err := p.wait(engineTransferTimeout); err != nil {
			t.Fatalf("libtorrent did not resolve the magnet through swarmcast's DHT: %v", err)
		}
		d.check(t, "libtorrent", out)
		lt = append(lt, p.end.Sub(p.start))
	}
	slices.Sort(sc)
	slices.Sort(lt)
	pct := func(v []time.Duration, p float64) time.Duration {
		return v[min(len(v)-1, int(float64(len(v))*p))].Round(time.Millisecond)
	}
	t.Logf("magnet through a %d-node swarmcast DHT, start to exit over %d runs: swarmcast p50 %v p95 %v; libtorrent p50 %v p95 %v",
		dhtCompareNodes, dhtCompareTrials, pct(sc, 0.5), pct(sc, 0.95), pct(lt, 0.5), pct(lt, 0.95))
	if p95, limit := pct(sc, 0.95), testenv.TimeLimit(5*time.Second, 20*time.Second); p95 > limit {
		t.Fatalf("swarmcast's p95 %v, want ≤ %v (goal 5 s)", p95, limit)
	}
}

// aria2WithDHT is aria2Isolated with aria2's DHT on, joined through node only, its table in dir.
func aria2WithDHT(t *testing.T, node, dir string) []string {
	var args []string
	for _, a := range aria2Isolated {
		if a != "--enable-dht=false" {
			args = append(args, a)
		}
	}
	return append(args, "--enable-dht=true", "--dht-entry-point="+node,
		"--dht-listen-port="+strconv.Itoa(freeTCPPort(t, "127.0.0.1")), "--dht-file-path="+filepath.Join(dir, "dht.dat"))
}

// startSwarmcastDHTNode starts `swarmcast dht-node` on host and returns its address.
func startSwarmcastDHTNode(t *testing.T, host string) string {
	t.Helper()
	p := startBG(t, "swarmcast dht-node", bgOpts{env: dhtCacheEnv(t)}, swarmcastBin(t), "dht-node", "--listen", host+":0")
	return p.waitFor(regexp.MustCompile(`^dht node listening on (\S+)$`), engineReadyTimeout)[1]
}

// aria2 (DHT on, its only entry point a `swarmcast dht-node`) finds a swarmcast seed there and downloads
// the magnet link; then aria2 seeds and announces, and swarmcast resolves aria2's torrent by its magnet
// link through the same node.
func TestDHTAria2(t *testing.T) {
	requireTool(t, "aria2c")
	requireTool(t, "mktorrent")
	swarmcastBin(t)
	node := startSwarmcastDHTNode(t, "127.0.0.1")
	rng := engineRNG(t)

	t.Run("aria2 downloads from swarmcast", func(t *testing.T) {
		d := makeSingleData(t, rng, t.TempDir(), "to-aria2.bin", 1<<20+3)
		s := startSwarmcastSeed(t, bgOpts{env: dhtCacheEnv(t)}, "127.0.0.2:0", d.path, "--dht-bootstrap", node)
		out, work := t.TempDir(), t.TempDir()
		args := append([]string{"--dir", out, "--seed-time=0", "--bt-stop-timeout=45",
			"--listen-port=" + strconv.Itoa(freeTCPPort(t, "127.0.0.1"))}, aria2WithDHT(t, node, work)...)
		start := time.Now()
		p := startBG(t, "aria2c download", bgOpts{}, "aria2c", append(args, s.magnet)...)
		if err := p.wait(engineTransferTimeout); err != nil {
			t.Fatalf("aria2 did not find swarmcast through the DHT and download from it: %v", err)
		}
		t.Logf("aria2 found swarmcast through swarmcast's DHT node and downloaded in %v", time.Since(start).Round(time.Millisecond))
		d.check(t, "aria2", out)
	})

	t.Run("swarmcast downloads from aria2", func(t *testing.T) {
		dir := t.TempDir()
		d := makeSingleData(t, rng, dir, "from-aria2.bin", 1<<20+5)
		torrent := filepath.Join(t.TempDir(), "a.torrent")
		if r := run(t, "", "mktorrent", "-l", "18", "-o", torrent, d.path); r.err != nil {
			t.Fatalf("mktorrent: %s", r.message())
		}
		r := run(t, "", "aria2c", "-S", torrent)
		infoHash := strings.ToLower(colonFields(string(r.stdout))["Info Hash"])
		if r.err != nil || len(infoHash) != 40 {
			t.Fatalf("aria2c -S: %s", r.message())
		}
		args := append([]string{"--check-integrity=true", "--seed-ratio=0.0", "--dir", dir,
			"--listen-port=" + strconv.Itoa(freeTCPPort(t, "127.0.0.1"))}, aria2WithDHT(t, node, t.TempDir())...)
		seed := startBG(t, "aria2c seed", bgOpts{}, "aria2c", append(args, torrent)...)
		seed.waitFor(regexp.MustCompile(`Verification finished successfully|Seeding`), engineReadyTimeout)
		out := t.TempDir()
		start := time.Now()
		p := startBG(t, "swarmcast download", bgOpts{env: dhtCacheEnv(t)}, swarmcastBin(t), "download",
			"magnet:?xt=urn:btih:"+infoHash, "-o", out, "--listen", "127.0.0.3:0", "--dht-bootstrap", node, "--json", "-v")
		if err := p.wait(engineTransferTimeout); err != nil {
			t.Fatalf("swarmcast did not find aria2 through the DHT: %v", err)
		}
		t.Logf("swarmcast resolved aria2's magnet through the DHT and downloaded in %v", time.Since(start).Round(time.Millisecond))
		for _, l := range p.grep(regexp.MustCompile(`dht: lookup done`)) {
			t.Log(l) // when aria2's announce was there to find
		}
		d.check(t, "swarmcast", out)
	})
}
