package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The WebRTC tests (webrtc_*_test.go) move data between swarmcast and WebTorrent over WebRTC data
// channels, with peers meeting through a WebSocket tracker: swarmcast's own (`swarmcast tracker`) or
// bittorrent-tracker from npm. This file holds the browser side: WebTorrent's browser bundle in headless
// Chromium, driven by browser/webtorrent.mjs on the page browser/webtorrent.html, which a test serves
// from its own HTTP server.

const (
	// webrtcDataSize is the size of the file the WebRTC tests move: a few MiB, many pieces whatever
	// piece length a client picks, and seconds at the 3–4 MB/s WebTorrent in Chromium managed here.
	webrtcDataSize = 4 << 20

	// webrtcTransferTimeout bounds one transfer over WebRTC, browser start included: WebTorrent in
	// Chromium took 13–16 s from page load to done here (simple-peer waits up to 5 s for ICE
	// gathering on each side), Chromium takes ~4 s to start; four times that on a loaded machine.
	webrtcTransferTimeout = 90 * time.Second

	// webrtcDriverGrace is how much longer than its own --timeout the test waits for
	// browser/webtorrent.mjs to print its result and close Chromium.
	webrtcDriverGrace = 15 * time.Second
)

// swarmcastTracker is a running `swarmcast tracker`.
type swarmcastTracker struct {
	*bgProc
	ws string // ws://HOST:PORT
}

var trackerWSRE = regexp.MustCompile(`^ws:\s+(ws://\S+)$`)

// startSwarmcastTracker runs `swarmcast tracker` on a free loopback port, with -v.
func startSwarmcastTracker(t testing.TB) *swarmcastTracker {
	t.Helper()
	p := startBG(t, "swarmcast tracker", bgOpts{}, swarmcastBin(t), "tracker", "--http", "127.0.0.1:0", "-v")
	return &swarmcastTracker{bgProc: p, ws: p.waitFor(trackerWSRE, engineReadyTimeout)[1]}
}

// wtPageServer serves the WebTorrent test page, WebTorrent's browser bundle and the test data (each
// file of data at /data/NAME) on a loopback port, and returns its base URL.
func wtPageServer(t testing.TB, data ...*engineData) string {
	t.Helper()
	requireNodeModule(t, "webtorrent")
	bundle := filepath.Join("node_modules", "webtorrent", "dist", "webtorrent.min.js")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("browser", "webtorrent.html"))
	})
	mux.HandleFunc("GET /webtorrent.min.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, bundle)
	})
	mux.HandleFunc("GET /jank.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("browser", "jank.js"))
	})
	for _, d := range data {
		mux.HandleFunc("GET /data/"+d.name, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, d.path)
		})
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// wtEvent is one line that browser/webtorrent.mjs or node/wtrtc.mjs prints.
type wtEvent struct {
	Page            string           `json:"page"`
	Event           string           `json:"event"`
	At              float64          `json:"at"`
	Type            string           `json:"type"`
	Addr            string           `json:"addr"`
	Message         string           `json:"message"`
	InfoHash        string           `json:"infoHash"`
	MagnetURI       string           `json:"magnetURI"`
	Name            string           `json:"name"`
	Length          int64            `json:"length"`
	SHA256          string           `json:"sha256"`
	Progress        float64          `json:"progress"`
	Downloaded      int64            `json:"downloaded"`
	Uploaded        int64            `json:"uploaded"`
	NumPeers        int              `json:"numPeers"`
	BytesByWireType map[string]int64 `json:"bytesByWireType"`
	Done            bool             `json:"done"`

	// The final result of browser/webtorrent.mjs.
	OK     bool     `json:"ok"`
	Error  string   `json:"error"`
	Step   string   `json:"step"`
	Result *wtEvent `json:"download"`
}

// wtProc is a running browser/webtorrent.mjs or node/wtrtc.mjs: both print JSON event lines.
type wtProc struct {
	*bgProc
}

// startWTBrowser runs browser/webtorrent.mjs against the page server at base with args (--seed,
// --download, --tracker).
func startWTBrowser(t testing.TB, chromium, base string, args ...string) *wtProc {
	t.Helper()
	all := append([]string{filepath.Join("browser", "webtorrent.mjs"), "--base", base, "--chromium", chromium,
		"--timeout", fmt.Sprint(int(webrtcTransferTimeout / time.Second))}, args...)
	p := startBG(t, "webtorrent.mjs", bgOpts{timeout: webrtcTransferTimeout + 2*webrtcDriverGrace}, "node", all...)
	return &wtProc{bgProc: p}
}

// event waits for the first event line of page (any page when "") and decodes it.
func (b *wtProc) event(page, event string, timeout time.Duration) (wtEvent, error) {
	var ev wtEvent
	_, err := b.waitMatch(eventLineRE(event), func(line string) bool {
		var e wtEvent
		if json.Unmarshal([]byte(line), &e) != nil || (page != "" && e.Page != page) {
			return false
		}
		ev = e
		return true
	}, timeout)
	return ev, err
}

// events returns every event line of page.
func (b *wtProc) events(page string) []wtEvent {
	var out []wtEvent
	for _, line := range b.grep(regexp.MustCompile(`^\{`)) {
		var e wtEvent
		if json.Unmarshal([]byte(line), &e) == nil && e.Page == page {
			out = append(out, e)
		}
	}
	return out
}

// result waits for the driver's final result and fails the test unless the download page got the
// whole file with SHA-256 want. It logs the page's timings: from navigation to the first peer, the
// metadata and the end.
func (b *wtProc) result(t testing.TB, want *engineData) wtEvent {
	t.Helper()
	ev, err := b.event("", "result", webrtcTransferTimeout+webrtcDriverGrace)
	if err != nil {
		t.Fatalf("the browser did not finish: %v", err)
	}
	b.logTimings(t, "download")
	if !ev.OK || ev.Result == nil {
		t.Fatalf("the browser's download failed at step %q: %s", ev.Step, ev.Error)
	}
	d := ev.Result
	if d.Length != want.size || d.SHA256 != want.sums[""] {
		t.Fatalf("the browser downloaded %d bytes with SHA-256 %s, want %d bytes with SHA-256 %s", d.Length, d.SHA256, want.size, want.sums[""])
	}
	t.Logf("the browser's download matches by SHA-256 (%d bytes); downloaded by wire type %v", d.Length, d.BytesByWireType)
	if d.BytesByWireType["webrtc"] == 0 {
		t.Errorf("the browser got no bytes over WebRTC wires (%v)", d.BytesByWireType)
	}
	return ev
}

// logTimings logs when page saw its first peer, the metadata and the end, on the page's clock.
func (b *wtProc) logTimings(t testing.TB, page string) {
	t.Helper()
	first := map[string]float64{}
	var wires []string
	for _, e := range b.events(page) {
		if _, ok := first[e.Event]; !ok {
			first[e.Event] = e.At
		}
		if e.Event == "wire" {
			wires = append(wires, e.Type)
		}
	}
	ms := func(ev string) string {
		if at, ok := first[ev]; ok {
			return fmt.Sprintf("%.0f ms", at)
		}
		return "never"
	}
	t.Logf("%s page (ms since its navigation): ready %s, first peer %s, metadata %s, done %s; peers %v",
		page, ms("page-ready"), ms("wire"), ms("metadata"), ms("done"), wires)
}

// webrtcLoopback are the swarmcast flags of every WebRTC test: ICE candidates on 127.0.0.1 only, as
// the browser's (there is no other network to use here).
var webrtcLoopback = []string{"--webrtc-loopback"}

// magnetFor is a magnet link with only the info hash and trackers.
func magnetFor(infoHash string, trackers ...string) string {
	v := url.Values{}
	for _, tr := range trackers {
		v.Add("tr", tr)
	}
	return "magnet:?xt=urn:btih:" + infoHash + "&" + v.Encode()
}

// webrtcDownload runs `swarmcast download TARGET -o OUT --listen 127.0.0.1:0 --json -v ARGS...` until it
// exits, fails the test unless it exits 0 within webrtcTransferTimeout, and returns its last progress.
func webrtcDownload(t testing.TB, target, out string, args ...string) (webrtcProgress, *bgProc) {
	t.Helper()
	all := append([]string{"download", target, "-o", out, "--listen", "127.0.0.1:0", "--json", "-v"}, args...)
	p := startBG(t, "swarmcast download", bgOpts{}, swarmcastBin(t), all...)
	err := p.wait(webrtcTransferTimeout)
	took := p.end.Sub(p.start)
	last := lastProgress(p)
	if err != nil {
		t.Fatalf("swarmcast download %s failed after %v: %v (last progress: %+v)", target, took.Round(time.Millisecond), err, last)
	}
	t.Logf("swarmcast download took %v; last progress: %.3f, %d bytes, by source %v",
		took.Round(time.Millisecond), last.Progress, last.Downloaded, last.DownloadedBySource)
	checkWSAnnounceRate(t, p)
	checkNoProtocolCloses(t, p)
	return last, p
}

// webrtcProgress is one JSON progress line of a swarmcast download (stderr), with the bytes it uploaded.
type webrtcProgress struct {
	downloadProgress
	Uploaded int64 `json:"uploaded"`
}

// lastProgress is the last JSON progress line a swarmcast printed.
func lastProgress(p *bgProc) webrtcProgress {
	var last webrtcProgress
	if lines := p.grep(downloadProgressRE); len(lines) > 0 {
		_ = json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	}
	return last
}

// TestWebRTCBrowser moves a file between swarmcast and WebTorrent's browser bundle in headless Chromium
// over WebRTC, both directions, with the peers meeting through `swarmcast tracker`; and between two
// WebTorrent pages through the same tracker, which shows that it serves the real client as
// bittorrent-tracker would. The browser downloads by magnet link (metadata over ut_metadata on the data
// channel) and checks the file's SHA-256 in the page.
func TestWebRTCBrowser(t *testing.T) {
	chromium := requireTool(t, "chromium")
	requireNodeModule(t, "playwright-core")
	requireNodeModule(t, "webtorrent")
	swarmcastBin(t)
	rng := engineRNG(t)

	t.Run("swarmcast-to-browser", func(t *testing.T) {
		work := t.TempDir()
		d := makeSingleData(t, rng, work, "to-browser.bin", webrtcDataSize)
		tr := startSwarmcastTracker(t)
		base := wtPageServer(t)
		seeder := startSwarmcastSeed(t, bgOpts{}, "127.0.0.1:0", append([]string{d.path,
			"--tracker", tr.ws, "-o", filepath.Join(work, "t.torrent")}, webrtcLoopback...)...)
		b := startWTBrowser(t, chromium, base, "--tracker", tr.ws, "--download", seeder.magnet)
		b.result(t, d)
		checkWSAnnounceRate(t, seeder.bgProc)
		checkNoProtocolCloses(t, seeder.bgProc)
	})

	t.Run("browser-to-swarmcast", func(t *testing.T) {
		work := t.TempDir()
		d := makeSingleData(t, rng, work, "from-browser.bin", webrtcDataSize)
		tr := startSwarmcastTracker(t)
		base := wtPageServer(t, d)
		b := startWTBrowser(t, chromium, base, "--tracker", tr.ws, "--seed", "/data/"+d.name+":"+d.name)
		seeding, err := b.event("seed", "seeding", webrtcTransferTimeout)
		if err != nil {
			t.Fatalf("the browser did not seed: %v", err)
		}
		if seeding.SHA256 != d.sums[""] {
			t.Fatalf("the page seeds content with SHA-256 %s, want %s", seeding.SHA256, d.sums[""])
		}
		t.Logf("the browser seeds %s at %.0f ms after its navigation: %s", seeding.InfoHash, seeding.At, seeding.MagnetURI)
		out := filepath.Join(work, "out")
		last, _ := webrtcDownload(t, seeding.MagnetURI, out, append([]string{"--tracker", tr.ws}, webrtcLoopback...)...)
		d.check(t, "swarmcast", out)
		if last.DownloadedBySource["webrtc"] <= 0 {
			t.Errorf("swarmcast counted no bytes from WebRTC (downloadedBySource %v)", last.DownloadedBySource)
		}
	})

	t.Run("browser-to-browser", func(t *testing.T) {
		work := t.TempDir()
		d := makeSingleData(t, rng, work, "between-browsers.bin", webrtcDataSize)
		tr := startSwarmcastTracker(t)
		base := wtPageServer(t, d)
		b := startWTBrowser(t, chromium, base, "--tracker", tr.ws, "--seed", "/data/"+d.name+":"+d.name, "--download", "seed")
		b.result(t, d)
	})
}

// TestWebRTCHybrid bridges the two swarms: aria2 (TCP only) seeds a file, a swarmcast downloads it from
// aria2 over TCP and announces to `swarmcast tracker` over WebSocket, and WebTorrent in Chromium, which
// knows only that tracker, gets the whole file from the swarmcast over WebRTC while it downloads.
func TestWebRTCHybrid(t *testing.T) {
	chromium := requireTool(t, "chromium")
	requireTool(t, "aria2c")
	requireTool(t, "mktorrent")
	requireNodeModule(t, "playwright-core")
	requireNodeModule(t, "webtorrent")
	swarmcastBin(t)
	work := t.TempDir()
	d := makeSingleData(t, engineRNG(t), filepath.Join(work, "aria2"), "hybrid.bin", webrtcDataSize)
	torrent, infoHash, ariaAddr := aria2Seed(t, loopbackSwarm(), d, work)
	tr := startSwarmcastTracker(t)
	base := wtPageServer(t)

	out := filepath.Join(work, "swarmcast")
	bridge := startBG(t, "swarmcast download --seed", bgOpts{}, swarmcastBin(t), append([]string{"download", torrent,
		"-o", out, "--listen", "127.0.0.1:0", "--peer", ariaAddr, "--tracker", tr.ws, "--seed", "--json", "-v"},
		webrtcLoopback...)...)
	b := startWTBrowser(t, chromium, base, "--tracker", tr.ws, "--download", magnetFor(infoHash, tr.ws))
	b.result(t, d)

	if _, err := bridge.waitMatch(downloadProgressRE, func(line string) bool { return strings.Contains(line, `"done":true`) }, engineReadyTimeout); err != nil {
		t.Fatalf("the bridging swarmcast never reported done: %v", err)
	}
	d.check(t, "swarmcast (bridge)", out)
	checkWSAnnounceRate(t, bridge)
	checkNoProtocolCloses(t, bridge)
	last := lastProgress(bridge)
	t.Logf("the bridging swarmcast: downloaded by source %v, uploaded %d bytes", last.DownloadedBySource, last.Uploaded)
	if last.DownloadedBySource["tcp"] <= 0 {
		t.Errorf("the bridging swarmcast counted no bytes from TCP (aria2): %v", last.DownloadedBySource)
	}
}

// wsAnnouncedRE matches swarmcast's -v log line for one announce to a WebSocket tracker.
var wsAnnouncedRE = regexp.MustCompile(`msg=announced tracker=wss?://`)

// wsAnnounceEvery is the average time between a swarmcast's WebSocket announces that the tests allow, after
// a few at the start: WebTorrent announces once per interval (bittorrent-tracker asks for 2 minutes, our
// tracker for a fifth of its HTTP interval), and again when it needs peers or completes. One every 5 s
// is generous.
const wsAnnounceEvery = 5 * time.Second

// checkWSAnnounceRate fails the test when swarmcast's log shows it announcing to a WebSocket tracker
// far more often than any interval asks: each announce carries ~10 WebRTC offers (~8 KB), and a
// tracker closes a socket that floods it.
func checkWSAnnounceRate(t testing.TB, p *bgProc) {
	t.Helper()
	elapsed := time.Since(p.start)
	n := len(p.grep(wsAnnouncedRE))
	if limit := 5 + int(elapsed/wsAnnounceEvery); n > limit {
		t.Errorf("%s announced to the WebSocket tracker %d times in %v (at most %d expected, one per %v): "+
			"it floods the tracker (%d lines say the tracker closed the socket for too many messages)",
			p.name, n, elapsed.Round(time.Second), limit, wsAnnounceEvery, len(p.grep(regexp.MustCompile(`too many messages`))))
	}
}

// protocolCloseRE matches swarmcast's -v log line for a peer it dropped for breaking the protocol.
var protocolCloseRE = regexp.MustCompile(`msg="closing peer".*peer broke the protocol`)

// checkNoProtocolCloses fails the test when swarmcast dropped a WebTorrent peer for breaking the
// protocol: WebTorrent is the reference these tests hold swarmcast to, so such a drop is swarmcast's
// misreading (and costs the peer until its next announce, tens of seconds, to come back).
func checkNoProtocolCloses(t testing.TB, p *bgProc) {
	t.Helper()
	if lines := p.grep(protocolCloseRE); len(lines) > 0 {
		t.Errorf("%s dropped %d WebTorrent peer connection(s) for breaking the protocol; the first:\n%s",
			p.name, len(lines), lines[0])
	}
}
