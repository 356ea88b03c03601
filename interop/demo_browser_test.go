package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/testenv"
)

// The demo's browser tests run `swarmcast demo` (the tracker, the origin that is the web seed, a native
// seeder and the site) and open its watch page in headless Chromium with browser/demo.mjs: the browser
// engine (WebAssembly in a Web Worker) downloads from the seeder, the origin and the other tabs, and a
// service worker streams the video to <video>. Browser-to-browser WebRTC needs an interface with a
// default route (Chromium gathers no ICE candidate without one), so each test runs in a network
// namespace of its own with an interface and a default route through it: no packet leaves it.

const (
	// demoTabs, demoTabGap and demoPlaySeconds: the proof: 3 tabs opened 3 s apart, each plays
	// 8 s of video with no stall over demoMaxStall.
	demoTabs        = 3
	demoTabGap      = 3 * time.Second
	demoPlaySeconds = 8
	demoMaxStall    = time.Second

	// demoSeekResume: after a seek to 80%, the video plays again within this.
	demoSeekResume = time.Second

	// demoLooseStall bounds stalls and seeks outside bench/goals.sh (testenv.TimeLimit): with both
	// cores busy (CI runs other packages' tests beside these) a tab's 8 s of play stalled 1.05 s and
	// a seek took 1.7 s; a stream that stopped or a seek that never lands exceeds it.
	demoLooseStall = 8 * time.Second

	// demoSlowOrigin caps each origin response in the seek test, so that the seek lands in data not
	// yet there: at 300 KB/s the sample (3.5 MB, 147 kB/s of media) had 86% in before the seek; at
	// 100 KB/s the seek cannot play within 1 s whatever the engine does (a second of media is 147 kB),
	// and took 3.5 s at 52% downloaded.
	demoSlowOrigin = "250KB"

	// demoDriverTimeout bounds one run of browser/demo.mjs: Chromium starts in ~4 s here, the tabs
	// open over 6 s and each plays 8 s; three times that on a loaded machine.
	demoDriverTimeout = 120 * time.Second

	// demoEngineDelay holds the engine back in TestDemoBrowserFirstFrameBeforeEngine (?enginedelay), so
	// that the first frame can only have come from the origin bridge; demoBridgeBytes is the watch
	// page's default budget for the bridge (watch.js, swarmcast.js bridgeMaxBytes).
	demoEngineDelay = 4 * time.Second
	demoBridgeBytes = 512 << 10

	// demoWasmBuildTimeout bounds scripts/build-wasm.sh (a Go build for js/wasm and brotli at level 11).
	demoWasmBuildTimeout = 5 * time.Minute
)

var (
	demoWasmOnce sync.Once
	demoWasmBin  string
	demoWasmErr  error
	watchURLRE   = regexp.MustCompile(`^(http://\S+/watch\.html\?torrent=\S+)$`)
)

// demoSwarmcastWithWasm runs scripts/build-wasm.sh, then builds a swarmcast binary that embeds what it built
// (the shared binary of the other tests may have been built before). A checkout without the script has no
// browser engine: that skips the test, or fails it when CI or SWARMCAST_INTEROP=1 is set.
func demoSwarmcastWithWasm(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "build-wasm.sh")
	if _, err := os.Stat(script); err != nil {
		missing(t, "scripts/build-wasm.sh (the browser engine's build)")
	}
	demoWasmOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), demoWasmBuildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", script)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			demoWasmErr = fmt.Errorf("scripts/build-wasm.sh: %v\n%s", err, out)
			return
		}
		// Under the run's own folder, removed when the tests end.
		dir := filepath.Join(binDir, "with-wasm")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			demoWasmErr = err
			return
		}
		demoWasmBin, demoWasmErr = buildSwarmcast(dir)
	})
	if demoWasmErr != nil {
		t.Fatalf("building the browser engine: %v", demoWasmErr)
	}
	return demoWasmBin
}

// newDemoNetns creates a network namespace with loopback up and an interface holding 10.9.0.1/24 and the
// default route (one end of a veth pair whose other end stays inside: this kernel has no dummy device
// type), and deletes it when the test ends.
func newDemoNetns(t *testing.T) string {
	t.Helper()
	requireTool(t, "ip")
	if os.Geteuid() != 0 {
		missing(t, "root (to create network namespaces)")
	}
	ns := fmt.Sprintf("swarmcast-it-%d-%d-web", os.Getpid(), netnsCounter.Add(1))
	ipCmd := func(args ...string) {
		t.Helper()
		if r := run(t, "", "ip", args...); r.err != nil {
			t.Fatalf("ip %s: %s", strings.Join(args, " "), r.message())
		}
	}
	ipCmd("netns", "add", ns)
	t.Cleanup(func() {
		if r := run(t, "", "ip", "netns", "delete", ns); r.err != nil {
			t.Errorf("ip netns delete %s: %s", ns, r.message())
		}
	})
	for _, args := range [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"},
		{"-n", ns, "addr", "add", "10.9.0.1/24", "dev", "d0"},
		{"-n", ns, "link", "set", "d0", "up"},
		{"-n", ns, "link", "set", "d1", "up"},
		{"-n", ns, "route", "add", "default", "dev", "d0"},
	} {
		ipCmd(args...)
	}
	return ns
}

// demoTab is one tab in browser/demo.mjs's result.
type demoTab struct {
	I        int     `json:"i"`
	OpenedAt float64 `json:"openedAt"`
	Played   *struct {
		FromTime            float64 `json:"fromTime"`
		ToTime              float64 `json:"toTime"`
		LongestNoProgressMs float64 `json:"longestNoProgressMs"`
		Duration            float64 `json:"duration"`
	} `json:"played"`
	Final   watchStats `json:"final"`
	Error   *string    `json:"error"`
	Console []string   `json:"console"`
}

// watchStats is the watch page's window.swarmcastStats.
type watchStats struct {
	Ready           bool           `json:"ready"`
	WasmMs          *float64       `json:"wasmMs"`
	FirstFrameMs    *float64       `json:"firstFrameMs"`
	Done            bool           `json:"done"`
	DoneMs          *float64       `json:"doneMs"`
	BytesFromPeers  int64          `json:"bytesFromPeers"`
	BytesFromOrigin int64          `json:"bytesFromOrigin"`
	Uploaded        int64          `json:"uploaded"`
	Stalls          int            `json:"stalls"`
	LongestStallMs  float64        `json:"longestStallMs"`
	PlayingFrom     string         `json:"playingFrom"`
	HandoverMs      *float64       `json:"handoverMs"`
	BridgeBytes     int64          `json:"bridgeBytes"`
	BridgePieces    int            `json:"bridgePieces"`
	Peers           int            `json:"peers"`
	PeersByKind     map[string]int `json:"peersByKind"`
	Error           *string        `json:"error"`
}

// demoResult is browser/demo.mjs's last line.
type demoResult struct {
	OK    bool      `json:"ok"`
	Step  string    `json:"step"`
	Error string    `json:"error"`
	Tabs  []demoTab `json:"tabs"`
	// TabsAtFailure is what each tab showed last when a step failed.
	TabsAtFailure []struct {
		I        int             `json:"i"`
		OpenedAt float64         `json:"openedAt"`
		Last     json.RawMessage `json:"last"`
		Error    *string         `json:"error"`
		Console  []string        `json:"console"`
	} `json:"tabsAtFailure"`
	Seek *struct {
		Before struct {
			PlayingFrom string  `json:"playingFrom"`
			Progress    float64 `json:"progress"`
		} `json:"before"`
		Target   float64  `json:"target"`
		ResumeMs *float64 `json:"resumeMs"`
		At       float64  `json:"at"`
	} `json:"seek"`
	Bridge *struct {
		PlayingFrom  string `json:"playingFrom"`
		ReadyAtStart bool   `json:"readyAtStart"`
		AtMs         int64  `json:"atMs"`
		Status       int    `json:"status"`
		Bytes        int64  `json:"bytes"`
		Want         int64  `json:"want"`
		Same         bool   `json:"same"`
	} `json:"bridge"`
	Ranges *struct {
		Size   int64 `json:"size"`
		Ranges []struct {
			Range  string `json:"range"`
			Status int    `json:"status"`
			Bytes  int64  `json:"bytes"`
			Want   int64  `json:"want"`
			Same   bool   `json:"same"`
		} `json:"ranges"`
	} `json:"ranges"`
}

var demoResultRE = regexp.MustCompile(`^\{"event":"result"`)

// runDemoInBrowser starts `swarmcast demo demoArgs...` in ns and browser/demo.mjs with driverArgs on its
// URL, and returns the driver's result and the demo's /demo.json at the end.
func runDemoInBrowser(t *testing.T, bin, ns string, demoArgs, driverArgs []string) (*demoResult, map[string]any) {
	t.Helper()
	chromium := requireTool(t, "chromium")
	demo := startBG(t, "swarmcast demo", bgOpts{netns: ns}, bin, append([]string{"demo", "--http", "127.0.0.1:0"}, demoArgs...)...)
	watch := demo.waitFor(watchURLRE, engineReadyTimeout)[1]
	args := append([]string{filepath.Join("browser", "demo.mjs"), watch, "--chromium", chromium,
		"--timeout", fmt.Sprint(int(demoDriverTimeout / time.Second))}, driverArgs...)
	driver := startBG(t, "demo.mjs", bgOpts{netns: ns}, "node", args...)
	waitErr := driver.wait(demoDriverTimeout + 30*time.Second)
	lines := driver.grep(demoResultRE)
	if len(lines) == 0 {
		t.Fatalf("demo.mjs printed no result (%v)", waitErr)
	}
	var res demoResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("demo.mjs result is not JSON: %v\n%s", err, lines[len(lines)-1])
	}
	for _, tab := range res.Tabs {
		t.Logf("tab %d: %s", tab.I, describeDemoTab(&tab))
	}
	if !res.OK {
		for _, tab := range res.Tabs {
			t.Logf("tab %d console: %s", tab.I, strings.Join(tab.Console, "\n  "))
		}
		for _, tab := range res.TabsAtFailure {
			t.Logf("tab %d, opened at %.1f s, showed last: %s\n  console: %s", tab.I, tab.OpenedAt/1000, tab.Last, strings.Join(tab.Console, "\n  "))
		}
		t.Fatalf("browser/demo.mjs failed at step %q: %s", res.Step, res.Error)
	}
	// /demo.json is read from inside the namespace, by curl-free means: the demo logs it too, but
	// asking is exact. The namespace's loopback is not ours, so ask through `ip netns exec`.
	var origin map[string]any
	if r := run(t, "", "ip", "netns", "exec", ns, "node", "-e",
		"fetch(process.argv[1]).then(r=>r.text()).then(t=>process.stdout.write(t))", demoJSONURL(watch)); r.err == nil {
		json.Unmarshal(r.stdout, &origin)
	}
	return &res, origin
}

// demoJSONURL is the demo's /demo.json beside its watch URL.
func demoJSONURL(watch string) string {
	i := strings.Index(watch, "/watch.html")
	return watch[:i] + "/demo.json"
}

func describeDemoTab(tab *demoTab) string {
	s := tab.Final
	ms := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.0f ms", *p)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "opened at %.1f s; engine ready %s, first frame %s, handover %s, done %s; from peers %d B, from origin %d B, uploaded %d B; peers %v",
		tab.OpenedAt/1000, ms(s.WasmMs), ms(s.FirstFrameMs), ms(s.HandoverMs), ms(s.DoneMs), s.BytesFromPeers, s.BytesFromOrigin, s.Uploaded, s.PeersByKind)
	if p := tab.Played; p != nil {
		fmt.Fprintf(&b, "; played %.2f → %.2f s, longest stall %.0f ms (page: %d stalls, longest %.0f ms), playing from %s",
			p.FromTime, p.ToTime, p.LongestNoProgressMs, s.Stalls, s.LongestStallMs, s.PlayingFrom)
	}
	if tab.Error != nil {
		fmt.Fprintf(&b, "; page error: %s", *tab.Error)
	}
	return b.String()
}

// checkTabsPlayed: every tab played seconds of video with no stall over demoMaxStall, from the engine.
func checkTabsPlayed(t *testing.T, res *demoResult, tabs int, seconds float64) {
	t.Helper()
	if len(res.Tabs) != tabs {
		t.Fatalf("%d tabs reported, want %d", len(res.Tabs), tabs)
	}
	for _, tab := range res.Tabs {
		p := tab.Played
		switch {
		case p == nil:
			t.Errorf("tab %d did not play", tab.I)
		case p.ToTime-p.FromTime < seconds-0.1 && p.ToTime < p.Duration-0.5:
			t.Errorf("tab %d played %.2f → %.2f s, want %.0f s", tab.I, p.FromTime, p.ToTime, seconds)
		case time.Duration(p.LongestNoProgressMs)*time.Millisecond > testenv.TimeLimit(demoMaxStall, demoLooseStall):
			t.Errorf("tab %d stalled for %.0f ms, want at most %v (goal %v)", tab.I, p.LongestNoProgressMs, testenv.TimeLimit(demoMaxStall, demoLooseStall), demoMaxStall)
		default:
			t.Logf("tab %d played %.2f → %.2f s, longest stall %.0f ms (goal ≤ %v)", tab.I, p.FromTime, p.ToTime, p.LongestNoProgressMs, demoMaxStall)
		}
		if tab.Final.PlayingFrom != "engine" {
			t.Errorf("tab %d plays from %q at the end, want the engine (the service worker's stream URL)", tab.I, tab.Final.PlayingFrom)
		}
		if tab.Error != nil {
			t.Errorf("tab %d: the page reported an error: %s", tab.I, *tab.Error)
		}
	}
}

// TestDemoBrowser: the README's main command, as its viewers meet it: 3 tabs opened 3 s apart, each
// plays 8 s with no stall over 1 s; the first tab then seeks to 80% and plays again within 1 s, and
// byte ranges its service worker answers are byte-exact against the origin's file.
func TestDemoBrowser(t *testing.T) {
	requireNodeModule(t, "playwright-core")
	bin := demoSwarmcastWithWasm(t)
	ns := newDemoNetns(t)
	res, origin := runDemoInBrowser(t, bin, ns, nil, []string{"--tabs", fmt.Sprint(demoTabs),
		"--gap", fmt.Sprint(demoTabGap.Milliseconds()), "--play", fmt.Sprint(demoPlaySeconds),
		"--seek", "0.8", "--ranges", "6", "--wait-done"})
	t.Logf("origin and seeder at the end: %v", origin)
	checkTabsPlayed(t, res, demoTabs, demoPlaySeconds)
	if s := res.Seek; s == nil || s.ResumeMs == nil {
		t.Errorf("seek to 80%%: %+v, want playing again", s)
	} else if limit := testenv.TimeLimit(demoSeekResume, demoLooseStall); time.Duration(*s.ResumeMs)*time.Millisecond > limit {
		t.Errorf("seek to %.1f s: playing again after %.0f ms, want within %v (goal %v)", s.Target, *s.ResumeMs, limit, demoSeekResume)
	} else {
		t.Logf("seek to %.1f s (download %.0f%% before it, playing from %s): playing again after %.0f ms (goal ≤ %v)", s.Target, 100*s.Before.Progress, s.Before.PlayingFrom, *s.ResumeMs, demoSeekResume)
	}
	checkRanges(t, res)
	// Every tab gets most of its bytes from peers: the first from the native seeder (a tab that
	// lost the seeder's first message, its handshake, took the whole video from the origin), later
	// ones from the seeder and the tabs before them.
	for _, tab := range res.Tabs {
		if s := tab.Final; s.BytesFromPeers <= s.BytesFromOrigin {
			t.Errorf("tab %d: %d bytes from peers, %d from the origin: want most from peers", tab.I, s.BytesFromPeers, s.BytesFromOrigin)
		}
	}
}

// TestDemoBrowserTabsServeEachOther: with no native seeder the origin is the only seed, so the second
// and third tab can get most of their bytes only from the tabs before them.
func TestDemoBrowserTabsServeEachOther(t *testing.T) {
	requireNodeModule(t, "playwright-core")
	bin := demoSwarmcastWithWasm(t)
	ns := newDemoNetns(t)
	res, origin := runDemoInBrowser(t, bin, ns, []string{"--no-seeder"}, []string{"--tabs", fmt.Sprint(demoTabs),
		"--gap", fmt.Sprint(demoTabGap.Milliseconds()), "--play", fmt.Sprint(demoPlaySeconds), "--wait-done"})
	t.Logf("origin at the end: %v", origin)
	checkTabsPlayed(t, res, demoTabs, demoPlaySeconds)
	for _, tab := range res.Tabs[1:] {
		s := tab.Final
		if s.BytesFromPeers <= s.BytesFromOrigin {
			t.Errorf("tab %d: %d bytes from peers, %d from the origin: want most from the tabs before it", tab.I, s.BytesFromPeers, s.BytesFromOrigin)
		}
	}
	if up := res.Tabs[0].Final.Uploaded; up == 0 {
		t.Error("the first tab uploaded nothing")
	}
}

// TestDemoBrowserSeekWhileDownloading: <video> plays from the service worker's stream URL while the
// download is under way, and a seek to 80% (into data not yet there) plays again within 1 s. The
// origin is the only seed, at demoSlowOrigin per response, so the download lasts well past the seek.
func TestDemoBrowserSeekWhileDownloading(t *testing.T) {
	requireNodeModule(t, "playwright-core")
	bin := demoSwarmcastWithWasm(t)
	ns := newDemoNetns(t)
	res, _ := runDemoInBrowser(t, bin, ns, []string{"--no-seeder", "--origin-rate", demoSlowOrigin},
		[]string{"--tabs", "1", "--play", "2", "--seek", "0.8", "--ranges", "4"})
	checkTabsPlayed(t, res, 1, 2)
	s := res.Seek
	if s == nil {
		t.Fatal("no seek reported")
	}
	if s.Before.PlayingFrom != "engine" || s.Before.Progress >= 0.8 {
		t.Errorf("before the seek: playing from %q, %.0f%% downloaded: want the engine's stream, mid-download", s.Before.PlayingFrom, 100*s.Before.Progress)
	}
	if s.ResumeMs == nil {
		t.Errorf("seek to %.1f s: not playing again", s.Target)
	} else if limit := testenv.TimeLimit(demoSeekResume, demoLooseStall); time.Duration(*s.ResumeMs)*time.Millisecond > limit {
		t.Errorf("seek to %.1f s: playing again after %.0f ms, want within %v (goal %v)", s.Target, *s.ResumeMs, limit, demoSeekResume)
	} else {
		t.Logf("seek to %.1f s with %.0f%% downloaded: playing again after %.0f ms (goal ≤ %v)", s.Target, 100*s.Before.Progress, *s.ResumeMs, demoSeekResume)
	}
	checkRanges(t, res)
}

// checkRanges: every byte range the service worker answered was a 206 of exactly the origin's bytes.
func checkRanges(t *testing.T, res *demoResult) {
	t.Helper()
	if r := res.Ranges; r == nil || len(r.Ranges) == 0 {
		t.Error("no byte ranges checked")
		return
	}
	for _, rg := range res.Ranges.Ranges {
		if rg.Status != http.StatusPartialContent || rg.Bytes != rg.Want || !rg.Same {
			t.Errorf("service worker, %s: status %d, %d bytes (want %d), same as the origin's: %v", rg.Range, rg.Status, rg.Bytes, rg.Want, rg.Same)
		}
	}
}

// TestDemoBrowserFirstFrameBeforeEngine: the first frame does not wait for the engine. The watch page's
// service worker answers the stream URL from the origin (the web seed) through the page's bridge while
// the engine loads, held back demoEngineDelay by ?enginedelay; the bridge takes at most its budget from
// the origin; and a whole-file fetch of the stream URL begun before the engine was ready, so answered
// first by the origin and then by the engine, is byte-exact; and the engine takes the bridge's bytes.
func TestDemoBrowserFirstFrameBeforeEngine(t *testing.T) {
	requireNodeModule(t, "playwright-core")
	bin := demoSwarmcastWithWasm(t)
	ns := newDemoNetns(t)
	res, _ := runDemoInBrowser(t, bin, ns, nil, []string{"--tabs", "1", "--play", "2", "--bridge-check",
		"--query", fmt.Sprintf("enginedelay=%d", demoEngineDelay.Milliseconds())})
	checkTabsPlayed(t, res, 1, 2)
	s := res.Tabs[0].Final
	switch {
	case s.FirstFrameMs == nil || s.WasmMs == nil:
		t.Errorf("first frame at %v, engine ready at %v: want both", s.FirstFrameMs, s.WasmMs)
	case *s.FirstFrameMs >= *s.WasmMs:
		t.Errorf("first frame at %.0f ms, engine ready at %.0f ms: want the frame first, from the origin bridge", *s.FirstFrameMs, *s.WasmMs)
	default:
		t.Logf("first frame at %.0f ms, engine ready at %.0f ms (held back %v)", *s.FirstFrameMs, *s.WasmMs, demoEngineDelay)
	}
	if s.BridgeBytes <= 0 || s.BridgeBytes > demoBridgeBytes {
		t.Errorf("the bridge took %d bytes from the origin, want some and at most %d", s.BridgeBytes, demoBridgeBytes)
	}
	// The engine takes what the bridge got (whole pieces, verified), instead of fetching it again.
	if s.BridgePieces <= 0 {
		t.Errorf("the engine took %d pieces of the bridge's %d bytes, want some", s.BridgePieces, s.BridgeBytes)
	} else {
		t.Logf("the engine took %d pieces of the bridge's %d bytes", s.BridgePieces, s.BridgeBytes)
	}
	b := res.Bridge
	switch {
	case b == nil:
		t.Fatal("no bridge check reported")
	case b.PlayingFrom != "bridge" || b.ReadyAtStart:
		t.Errorf("when the whole-file fetch began the page played from %q, engine ready %v: want the bridge, before the engine", b.PlayingFrom, b.ReadyAtStart)
	case b.Status != http.StatusOK || b.Bytes != b.Want || !b.Same:
		t.Errorf("whole file through the bridge and the engine: status %d, %d bytes (the origin's: %d), same: %v", b.Status, b.Bytes, b.Want, b.Same)
	default:
		t.Logf("whole file through the bridge (begun at %d ms) and the engine: %d bytes, same as the origin's", b.AtMs, b.Bytes)
	}
}
