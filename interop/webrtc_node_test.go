package interop

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// startWSTracker runs bittorrent-tracker from npm with its WebSocket front-end (node/wstracker.mjs) and
// returns it with its ws:// URL.
func startWSTracker(t testing.TB) (*bgProc, string) {
	t.Helper()
	requireNodeModule(t, "bittorrent-tracker")
	p := startBG(t, "bittorrent-tracker (ws)", bgOpts{}, "node", filepath.Join("node", "wstracker.mjs"))
	var ev struct{ WS string }
	p.waitEvent("listening", &ev, engineReadyTimeout)
	return p, ev.WS
}

// startWTRTC runs node/wtrtc.mjs (WebTorrent in Node over WebRTC only) with args.
func startWTRTC(t testing.TB, args ...string) *wtProc {
	t.Helper()
	p := startBG(t, "webtorrent (node, webrtc)", bgOpts{timeout: webrtcTransferTimeout + webrtcDriverGrace},
		"node", append([]string{filepath.Join("node", "wtrtc.mjs")}, args...)...)
	return &wtProc{bgProc: p}
}

// TestWebRTCNode moves a file between swarmcast and WebTorrent in Node (node-datachannel) over WebRTC,
// both directions, with the peers meeting through bittorrent-tracker's WebSocket server from npm: the
// tracker WebTorrent's users run, so swarmcast's WebSocket tracker client is checked against the
// reference server. Node's WebTorrent learns peers only from that tracker, so every wire is WebRTC.
func TestWebRTCNode(t *testing.T) {
	requireNodeModule(t, "webtorrent")
	requireNodeModule(t, "node-datachannel")
	swarmcastBin(t)
	rng := engineRNG(t)

	t.Run("swarmcast-to-node", func(t *testing.T) {
		work := t.TempDir()
		d := makeSingleData(t, rng, work, "to-node.bin", webrtcDataSize)
		_, ws := startWSTracker(t)
		seeder := startSwarmcastSeed(t, bgOpts{}, "127.0.0.1:0", append([]string{d.path,
			"--tracker", ws, "-o", filepath.Join(work, "t.torrent")}, webrtcLoopback...)...)
		out := filepath.Join(work, "out")
		start := time.Now()
		n := startWTRTC(t, "download", seeder.magnet, "--dir", out, "--tracker", ws)
		done, err := n.event("", "done", webrtcTransferTimeout)
		if err != nil {
			t.Fatalf("WebTorrent in Node did not download from swarmcast: %v", err)
		}
		if err := n.wait(webrtcDriverGrace); err != nil {
			t.Fatalf("WebTorrent in Node exited with %v after its download", err)
		}
		t.Logf("WebTorrent in Node downloaded in %v (first peer after %s); bytes by wire type %v",
			time.Since(start).Round(time.Millisecond), firstAt(n, "wire"), done.BytesByWireType)
		d.check(t, "WebTorrent (node)", out)
		checkOnlyWebRTC(t, done.BytesByWireType, d.size)
		checkWSAnnounceRate(t, seeder.bgProc)
		checkNoProtocolCloses(t, seeder.bgProc)
	})

	t.Run("node-to-swarmcast", func(t *testing.T) {
		work := t.TempDir()
		d := makeSingleData(t, rng, work, "from-node.bin", webrtcDataSize)
		_, ws := startWSTracker(t)
		n := startWTRTC(t, "seed", d.path, "--tracker", ws)
		ready, err := n.event("", "ready", engineReadyTimeout)
		if err != nil {
			t.Fatalf("WebTorrent in Node did not seed: %v", err)
		}
		out := filepath.Join(work, "out")
		last, _ := webrtcDownload(t, ready.MagnetURI, out, append([]string{"--tracker", ws}, webrtcLoopback...)...)
		d.check(t, "swarmcast", out)
		if last.DownloadedBySource["webrtc"] != d.size {
			t.Errorf("swarmcast downloaded by source %v, want all %d bytes from webrtc", last.DownloadedBySource, d.size)
		}
	})
}

// firstAt is when (ms after its start, as it printed) a node/wtrtc.mjs or page first reported event.
func firstAt(p *wtProc, event string) string {
	for _, line := range p.grep(eventLineRE(event)) {
		if m := regexp.MustCompile(`"at":(\d+)`).FindStringSubmatch(line); m != nil {
			return m[1] + " ms"
		}
	}
	return "never"
}

// checkOnlyWebRTC fails the test unless all size bytes came over WebRTC wires.
func checkOnlyWebRTC(t testing.TB, byType map[string]int64, size int64) {
	t.Helper()
	if byType["webrtc"] < size {
		t.Errorf("bytes downloaded by wire type %v: want all %d over webrtc", byType, size)
	}
}
