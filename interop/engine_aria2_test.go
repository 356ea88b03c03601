package interop

import (
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEngineAria2 moves data between swarmcast and aria2 over TCP on the loopback. aria2 cannot be given
// a peer's address, so when it downloads it finds swarmcast through a local tracker (bittorrent-tracker
// from npm, node/tracker.mjs) that swarmcast announces to over UDP; when it seeds, swarmcast dials it
// directly (--peer). aria2 seeds a torrent made by mktorrent. DHT, LSD, PEX and encryption
// are off (aria2 still tries an encrypted handshake first, then falls back to plaintext).
func TestEngineAria2(t *testing.T) {
	requireTool(t, "aria2c")
	requireTool(t, "mktorrent")
	swarmcastBin(t)
	sw := loopbackSwarm()
	// swarmcast announces over UDP (BEP 15; Transmission's test covers its HTTP announces) and aria2
	// over HTTP to the same tracker: aria2 speaks UDP to trackers only with its DHT on.
	sw.tracker = startBTTracker(t, "", sw.peerHost, true)
	sw.udpTracker = true
	runEngineTests(t, sw, engineClient{
		name:     "aria2",
		seed:     aria2Seed,
		download: aria2Download,
	})
}

// aria2Isolated keeps aria2 to the peers a test gives it, over plaintext TCP, and quiet but for notices.
var aria2Isolated = []string{
	"--no-conf=true",
	"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
	"--disable-ipv6=true",
	"--bt-require-crypto=false", "--bt-min-crypto-level=plain",
	"--file-allocation=none", "--auto-file-renaming=false", "--allow-overwrite=true",
	"--bt-save-metadata=false", "--auto-save-interval=0",
	"--summary-interval=0", "--console-log-level=notice", "--show-console-readout=false",
}

var aria2ListeningRE = regexp.MustCompile(`listening on TCP port (\d+)`)

func aria2Seed(t *testing.T, sw *engineSwarm, d *engineData, work string) (torrent, infoHash, addr string) {
	torrent = filepath.Join(work, "mktorrent.torrent")
	// 256 KiB pieces: 32 of them for 8 MiB.
	if r := run(t, "", "mktorrent", "-l", "18", "-o", torrent, d.path); r.err != nil {
		t.Fatalf("mktorrent: %s", r.message())
	}
	r := run(t, "", "aria2c", "-S", torrent)
	if r.err != nil {
		t.Fatalf("aria2c -S: %s", r.message())
	}
	infoHash = strings.ToLower(colonFields(string(r.stdout))["Info Hash"])
	if len(infoHash) != 40 {
		t.Fatalf("aria2c -S printed no info hash:\n%s", r.stdout)
	}
	port := freeTCPPort(t, sw.peerHost)
	args := append([]string{
		"--check-integrity=true", "--seed-ratio=0.0", "--dir", filepath.Dir(d.path),
		"--listen-port=" + strconv.Itoa(port),
	}, aria2Isolated...)
	p := startBG(t, "aria2c seed", sw.peerOpts(), "aria2c", append(args, torrent)...)
	p.waitFor(regexp.MustCompile(`Verification finished successfully|Seeding`), engineReadyTimeout)
	p.waitFor(aria2ListeningRE, engineReadyTimeout)
	return torrent, infoHash, net.JoinHostPort(sw.peerHost, strconv.Itoa(port))
}

func aria2Download(t *testing.T, sw *engineSwarm, s *swarmcastSeeder, target, out string) {
	port := freeTCPPort(t, sw.peerHost)
	args := append([]string{
		"--dir", out, "--seed-time=0", "--listen-port=" + strconv.Itoa(port),
		// Give up when nothing arrives for 45 s, before the test's own deadline.
		"--bt-stop-timeout=45",
		// The swarm's tracker over HTTP, besides the UDP one in swarmcast's torrent and magnet link.
		"--bt-tracker=" + sw.tracker.announce,
	}, aria2Isolated...)
	p := startBG(t, "aria2c download", sw.peerOpts(), "aria2c", append(args, target)...)
	if err := p.wait(engineTransferTimeout); err != nil {
		t.Fatalf("aria2 did not download %s from swarmcast: %v", s.name, err)
	}
	if len(p.grep(regexp.MustCompile(`Download complete`))) == 0 {
		t.Errorf("aria2 exited 0 without printing \"Download complete\"")
	}
}
