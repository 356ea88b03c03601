package interop

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestEngineTransmission moves data between swarmcast and Transmission 3 (transmission-cli). Transmission
// drops peers at loopback addresses as "martians", so every program of this test runs in a network
// namespace the test creates, where the loopback interface also carries a 10.x address that they all
// use (see newNetns). transmission-cli cannot be given a peer's address, so it finds swarmcast through a
// local tracker in the namespace; when Transmission seeds (a torrent made by transmission-create),
// swarmcast dials it directly. DHT, LSD, PEX, uTP and port mapping are off, encryption only tolerated.
func TestEngineTransmission(t *testing.T) {
	requireTool(t, "transmission-cli")
	requireTool(t, "transmission-create")
	requireTool(t, "transmission-show")
	swarmcastBin(t)
	peerNS, scNS := newNetnsPair(t)
	sw := &engineSwarm{scHost: netnsSCAddr, scNetns: scNS, peerHost: netnsPeerAddr, peerNetns: peerNS}
	sw.tracker = startBTTracker(t, sw.peerNetns, sw.peerHost, false)
	runEngineTests(t, sw, engineClient{
		name:     "transmission",
		seed:     transmissionSeed,
		download: transmissionDownload,
	})
}

// transmissionPorts hands out peer ports: each test namespace is fresh, so any port is free in it, but
// one test may run two Transmissions at once.
var transmissionPorts atomic.Int32

func nextTransmissionPort() int { return 51413 + int(transmissionPorts.Add(1)) }

// transmissionConfig writes a settings.json for transmission-cli -g DIR: peers only from the test,
// plaintext preferred, no limits, and the peer port given.
func transmissionConfig(t *testing.T, dir string, port int) {
	t.Helper()
	settings := map[string]any{
		"dht-enabled":                false,
		"lpd-enabled":                false,
		"pex-enabled":                false,
		"utp-enabled":                false,
		"port-forwarding-enabled":    false,
		"rpc-enabled":                false,
		"blocklist-enabled":          false,
		"encryption":                 0, // tolerated: plaintext preferred
		"peer-port":                  port,
		"peer-port-random-on-start":  false,
		"speed-limit-up-enabled":     false,
		"speed-limit-down-enabled":   false,
		"ratio-limit-enabled":        false,
		"idle-seeding-limit-enabled": false,
		"start-added-torrents":       true,
		"message-level":              2, // info: connections and state changes, for a failed test's log
	}
	b, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "settings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var (
	transmissionSeedingRE  = regexp.MustCompile(`^Seeding,`)
	transmissionCompleteRE = regexp.MustCompile(`State changed from "Incomplete" to "Complete"|^Seeding,`)
)

func transmissionSeed(t *testing.T, sw *engineSwarm, d *engineData, work string) (torrent, infoHash, addr string) {
	torrent = filepath.Join(work, "transmission.torrent")
	// 256 KiB pieces; the tracker lets Transmission announce, though swarmcast dials it directly.
	if r := run(t, "", "transmission-create", "-s", "256", "-t", sw.tracker.announce, "-o", torrent, d.path); r.err != nil {
		t.Fatalf("transmission-create: %s", r.message())
	}
	r := run(t, "", "transmission-show", torrent)
	if r.err != nil {
		t.Fatalf("transmission-show: %s", r.message())
	}
	infoHash = strings.ToLower(colonFields(string(r.stdout))["Hash"])
	if len(infoHash) != 40 {
		t.Fatalf("transmission-show printed no info hash:\n%s", r.stdout)
	}
	port := nextTransmissionPort()
	cfg := filepath.Join(work, "transmission-config")
	transmissionConfig(t, cfg, port)
	p := startBG(t, "transmission-cli seed", sw.peerOpts(), "transmission-cli", "-g", cfg, "-w", filepath.Dir(d.path), torrent)
	// Transmission checks the data it finds, then seeds.
	p.waitFor(transmissionSeedingRE, engineReadyTimeout)
	return torrent, infoHash, net.JoinHostPort(sw.peerHost, strconv.Itoa(port))
}

func transmissionDownload(t *testing.T, sw *engineSwarm, s *swarmcastSeeder, target, out string) {
	cfg := filepath.Join(t.TempDir(), "transmission-config")
	transmissionConfig(t, cfg, nextTransmissionPort())
	p := startBG(t, "transmission-cli download", sw.peerOpts(), "transmission-cli", "-g", cfg, "-w", out, target)
	if _, err := p.waitMatch(transmissionCompleteRE, func(string) bool { return true }, engineTransferTimeout); err != nil {
		t.Fatalf("Transmission did not download %s from swarmcast: %v", s.name, err)
	}
	// transmission-cli seeds on after the download: stop it, which also flushes its write cache.
	p.stop()
}
