package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/testenv"
)

// The browser engine's tests: swarmcast's own engine, compiled to WebAssembly (cmd/swarmcast-wasm),
// running in a Web Worker of a page in headless Chromium and driven through swarmcast.js's API by
// browser/swarmcast.html, which offers the driver (browser/webtorrent.mjs) the same calls as
// WebTorrent's test page. The page's download is read back through the service worker's stream URL
// and its SHA-256 checked in the page, with Range requests compared byte for byte.

var (
	wasmOnce     sync.Once
	wasmDir      string
	wasmBuildErr error
)

// swarmcastWasm builds cmd/swarmcast-wasm as scripts/build-wasm.sh does (without the compressed
// copies) into a folder of its own with the Go release's wasm_exec.js, once per test run, and
// returns that folder.
func swarmcastWasm(t testing.TB) string {
	t.Helper()
	wasmOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			wasmBuildErr = err
			return
		}
		dir := filepath.Join(binDir, "wasm")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			wasmBuildErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		if err := testenv.BuildWasm(ctx, root, filepath.Join(dir, "swarmcast.wasm")); err != nil {
			wasmBuildErr = err
			return
		}
		out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
		if err != nil {
			wasmBuildErr = fmt.Errorf("go env GOROOT: %w", err)
			return
		}
		src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "wasm_exec.js"))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "wasm_exec.js"), src, 0o644)
		}
		if err != nil {
			wasmBuildErr = fmt.Errorf("copying wasm_exec.js: %w", err)
			return
		}
		wasmDir = dir
	})
	if wasmBuildErr != nil {
		t.Fatalf("the browser engine could not be built: %v", wasmBuildErr)
	}
	return wasmDir
}

// wasmPageServer serves browser/swarmcast.html at /, the browser client (web/client's scripts and
// the built wasm) beside it, and the files of dataDir at /data/ (with Range: it is also the origin
// of the web seed tests), on a loopback port; it returns the base URL.
func wasmPageServer(t testing.TB, dataDir string) string {
	t.Helper()
	built := swarmcastWasm(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("browser", "swarmcast.html"))
	})
	mux.HandleFunc("GET /jank.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("browser", "jank.js"))
	})
	for _, name := range []string{"swarmcast.js", "worker.js", "sw.js"} {
		mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, filepath.Join(root, "web", "client", name))
		})
	}
	for _, name := range []string{"swarmcast.wasm", "wasm_exec.js"} {
		mux.HandleFunc("GET /"+name, func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, filepath.Join(built, name))
		})
	}
	if dataDir != "" {
		mux.Handle("GET /data/", http.StripPrefix("/data/", http.FileServer(http.Dir(dataDir))))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// TestWasmBrowser moves files between the browser engine in Chromium and a native swarmcast, both
// ways, and between two browser engines, over WebRTC through `swarmcast tracker`. The engine runs
// in a dedicated worker; the page makes the peer connections and transfers each data channel to the
// worker, so these tests also prove that Chromium lets a data channel move to a worker.
func TestWasmBrowser(t *testing.T) {
	chromium := requireTool(t, "chromium")
	requireNodeModule(t, "playwright-core")
	swarmcastBin(t)
	swarmcastWasm(t)
	rng := engineRNG(t)

	t.Run("swarmcast-to-wasm", func(t *testing.T) {
		work := t.TempDir()
		d := makeSingleData(t, rng, work, "to-wasm.bin", webrtcDataSize)
		tr := startSwarmcastTracker(t)
		base := wasmPageServer(t, "")
		seeder := startSwarmcastSeed(t, bgOpts{}, "127.0.0.1:0", append([]string{d.path,
			"--tracker", tr.ws, "-o", filepath.Join(work, "t.torrent")}, webrtcLoopback...)...)
		b := startWTBrowser(t, chromium, base, "--tracker", tr.ws, "--download", seeder.magnet)
		b.result(t, d)
		logEngineReady(t, b, "download")
		checkWSAnnounceRate(t, seeder.bgProc)
		checkNoProtocolCloses(t, seeder.bgProc)
	})

	t.Run("wasm-to-swarmcast", func(t *testing.T) {
		work := t.TempDir()
		d := makeSingleData(t, rng, work, "from-wasm.bin", webrtcDataSize)
		tr := startSwarmcastTracker(t)
		base := wasmPageServer(t, work)
		b := startWTBrowser(t, chromium, base, "--tracker", tr.ws, "--seed", "/data/"+d.name+":"+d.name)
		seeding, err := b.event("seed", "seeding", webrtcTransferTimeout)
		if err != nil {
			t.Fatalf("the browser engine did not seed: %v", err)
		}
		if seeding.SHA256 != d.sums[""] {
			t.Fatalf("the page seeds content with SHA-256 %s, want %s", seeding.SHA256, d.sums[""])
		}
		t.Logf("the browser engine seeds a Blob as %s at %.0f ms after its navigation: %s", seeding.InfoHash, seeding.At, seeding.MagnetURI)
		out := filepath.Join(work, "out")
		last, _ := webrtcDownload(t, seeding.MagnetURI, out, append([]string{"--tracker", tr.ws}, webrtcLoopback...)...)
		d.check(t, "swarmcast", out)
		if last.DownloadedBySource["webrtc"] <= 0 {
			t.Errorf("swarmcast counted no bytes from WebRTC (downloadedBySource %v)", last.DownloadedBySource)
		}
	})

	t.Run("wasm-to-wasm", func(t *testing.T) {
		work := t.TempDir()
		d := makeSingleData(t, rng, work, "between-wasm.bin", webrtcDataSize)
		tr := startSwarmcastTracker(t)
		base := wasmPageServer(t, work)
		b := startWTBrowser(t, chromium, base, "--tracker", tr.ws, "--seed", "/data/"+d.name+":"+d.name, "--download", "seed")
		b.result(t, d)
		logEngineReady(t, b, "download")
	})
}

// TestWasmWebTorrent trades a file between the browser engine and WebTorrent's browser bundle, each
// in its own page of one Chromium, both ways, through `swarmcast tracker`: each seeds a File that the
// other downloads by magnet link and checks by SHA-256.
func TestWasmWebTorrent(t *testing.T) {
	chromium := requireTool(t, "chromium")
	requireNodeModule(t, "playwright-core")
	requireNodeModule(t, "webtorrent")
	swarmcastBin(t)
	swarmcastWasm(t)
	rng := engineRNG(t)
	for _, tc := range []struct{ name, seeder string }{{"webtorrent-to-wasm", "webtorrent"}, {"wasm-to-webtorrent", "wasm"}} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			d := makeSingleData(t, rng, work, tc.name+".bin", webrtcDataSize)
			tr := startSwarmcastTracker(t)
			wasmBase, wtBase := wasmPageServer(t, work), wtPageServer(t, d)
			seedBase, downBase := wtBase, wasmBase
			if tc.seeder == "wasm" {
				seedBase, downBase = wasmBase, wtBase
			}
			b := startWTBrowser(t, chromium, downBase, "--seed-base", seedBase, "--tracker", tr.ws,
				"--seed", "/data/"+d.name+":"+d.name, "--download", "seed")
			b.result(t, d)
		})
	}
}

// TestWasmBrowserWebSeed: a page whose only source is the origin, a web seed (BEP 19) on the
// page's own server, downloads a .torrent's file through the browser's fetch with Range, and
// counts every byte as from the origin. The page keeps the torrent in memory (storage: 'memory',
// the fallback of browsers without OPFS), so that backend is driven too.
func TestWasmBrowserWebSeed(t *testing.T) {
	chromium := requireTool(t, "chromium")
	requireNodeModule(t, "playwright-core")
	swarmcastBin(t)
	swarmcastWasm(t)
	work := t.TempDir()
	d := makeSingleData(t, engineRNG(t), work, "origin.bin", webrtcDataSize)
	tr := startSwarmcastTracker(t)
	base := wasmPageServer(t, work)
	if r := run(t, "", swarmcastBin(t), "create", d.path, "-o", filepath.Join(work, "origin.torrent"),
		"--tracker", tr.ws, "--webseed", base+"data/"+d.name); r.err != nil {
		t.Fatalf("swarmcast create: %s", r.message())
	}
	b := startWTBrowser(t, chromium, base+"?storage=memory", "--tracker", tr.ws, "--download", "/data/origin.torrent")
	ev, err := b.event("", "result", webrtcTransferTimeout+webrtcDriverGrace)
	if err != nil {
		t.Fatalf("the browser did not finish: %v", err)
	}
	b.logTimings(t, "download")
	if !ev.OK || ev.Result == nil {
		t.Fatalf("the browser's download failed at step %q: %s", ev.Step, ev.Error)
	}
	if got := ev.Result; got.Length != d.size || got.SHA256 != d.sums[""] {
		t.Fatalf("the browser downloaded %d bytes with SHA-256 %s, want %d bytes with SHA-256 %s", got.Length, got.SHA256, d.size, d.sums[""])
	}
	if by := ev.Result.BytesByWireType; by["webseed"] != d.size || by["webrtc"] != 0 {
		t.Errorf("bytes by source %v, want all %d from the web seed", by, d.size)
	}
	if lines := b.grep(eventLineRE("engine-ready")); len(lines) == 0 || !strings.Contains(lines[0], `"storage":"memory"`) {
		t.Errorf("the page's engine did not say it keeps the torrent in memory: %q", lines)
	}
}

// logEngineReady logs how long page's engine took to start (worker, wasm compile, Go runtime).
func logEngineReady(t testing.TB, b *wtProc, page string) {
	t.Helper()
	for _, line := range b.grep(eventLineRE("engine-ready")) {
		if strings.Contains(line, `"page":"`+page+`"`) {
			t.Logf("%s page: %s", page, line)
			return
		}
	}
	t.Logf("%s page: no engine-ready line", page)
}

// TestServiceWorkerRange checks sw.js's Range parsing in Node, case by case (node/swrange.mjs):
// the browser tests ask for a few ranges, this covers the rules' corners.
func TestServiceWorkerRange(t *testing.T) {
	requireTool(t, "node")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "node", filepath.Join("node", "swrange.mjs"), filepath.Join(root, "web", "client", "sw.js"))
	if r.err != nil {
		t.Fatalf("sw.js's Range parsing: %s\n%s", r.message(), r.stdout)
	}
	t.Log(strings.TrimSpace(string(r.stdout)))
}

// Bounds of TestWasmBrowserLarge, from the goals.
const (
	// wasmBusyShare bounds the share of the download's time the page's thread spends in long
	// tasks (over 50 ms). The engine on the page's thread kept it busy 37-50% of a 10 MB
	// download (measured before it moved to a worker); in its worker the page only relays stats.
	// The goal is no task over 50 ms at all; on a loaded machine (load average 22 on 2
	// cores when this was written) the page's thread misses the CPU for longer than that whatever
	// it runs, so the test bounds the share, which load does not inflate, and logs the longest.
	wasmBusyShare = 0.05

	// wasmLongestTaskGoalMs is the goal for the page's longest task, enforced with
	// SWARMCAST_GOALS=1 (bench/goals.sh).
	wasmLongestTaskGoalMs = 50

	// wasmMemoryPer1GB is the most wasm memory a 1 GB download may take: the data lives in OPFS.
	wasmMemoryPer1GB = 300 << 20
)

// wasmLargeSize is the size of TestWasmBrowserLarge's and BenchmarkBrowserMainThread's file:
// SWARMCAST_WASM_LARGE_MB, or def MB.
func wasmLargeSize(t testing.TB, def int64) int64 {
	if v := os.Getenv("SWARMCAST_WASM_LARGE_MB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil || mb <= 0 {
			t.Fatalf("SWARMCAST_WASM_LARGE_MB=%q is not a positive number", v)
		}
		return int64(mb) << 20
	}
	return def << 20
}

// wasmLargeTimeout bounds TestWasmBrowserLarge's download of size bytes: the usual bound for a
// page's transfer, plus the size at 256 KiB/s, four times slower than the slowest run seen here
// (~1 MB/s, at load average 20 on 2 cores).
func wasmLargeTimeout(size int64) time.Duration {
	return webrtcTransferTimeout + time.Duration(size/(256<<10))*time.Second
}

// wasmDone is the download page's "done" line with its measurements.
type wasmDone struct {
	Length          int64            `json:"length"`
	Done            bool             `json:"done"`
	At              float64          `json:"at"`
	BytesByWireType map[string]int64 `json:"bytesByWireType"`
	WasmMemory      int64            `json:"wasmMemory"`
	LongestTaskMs   float64          `json:"longestTaskMs"`
	LongTasks       int              `json:"longTasks"`
	LongTasksMs     float64          `json:"longTasksMs"`
	MaxTimerLagMs   float64          `json:"maxTimerLagMs"`
}

// SWARMCAST_WASM_STORAGE=memory keeps the download in memory instead of OPFS, for comparison.
//
// TestWasmBrowserLarge downloads a large file (64 MB; SWARMCAST_WASM_LARGE_MB=1024 for the
// issue's 1 GB case) from a native seeder into a page, and holds the page to the goals: the
// page's thread is never blocked for more than 50 ms (the engine works in its worker), and the wasm
// memory stays within 300 MB per GB (the data is in OPFS, not in the heap).
func TestWasmBrowserLarge(t *testing.T) {
	size := wasmLargeSize(t, 64)
	done := browserLargeDownload(t, wasmPageServer(t, "")+"?noread=1&storage="+os.Getenv("SWARMCAST_WASM_STORAGE"), size)
	if testenv.Goals() && done.LongestTaskMs > wasmLongestTaskGoalMs {
		t.Errorf("the page's longest task took %.0f ms, goal %d ms", done.LongestTaskMs, wasmLongestTaskGoalMs)
	}
	if share := done.LongTasksMs / done.At; share > wasmBusyShare {
		t.Errorf("the page's thread spent %.0f of %.0f ms in long tasks (%.1f%%), want at most %.0f%%", done.LongTasksMs, done.At, 100*share, 100*wasmBusyShare)
	}
	if limit := max(int64(wasmMemoryPer1GB)*size/(1<<30), wasmMemoryPer1GB/2); done.WasmMemory > limit {
		t.Errorf("the engine's wasm memory reached %d MiB for %d MiB, want at most %d MiB", done.WasmMemory>>20, size>>20, limit>>20)
	}
}

// BenchmarkBrowserMainThread measures issue 9's "the main thread stays responsive" side by side:
// the same download (100 MB; SWARMCAST_WASM_LARGE_MB for another size) from a native seeder over
// WebRTC, into a page running swarmcast's browser client and into one running WebTorrent's browser
// bundle, one after the other. Per page it reports the longest task (goal: at most 50 ms), the time in
// long tasks as a share of the download, the longest lateness of a 20 ms timer, and the page's MB/s.
// Run it with `go test -run '^$' -bench BrowserMainThread -benchtime 1x ./interop`.
func BenchmarkBrowserMainThread(b *testing.B) {
	size := wasmLargeSize(b, 100)
	pages := []struct{ name, base string }{
		{"swarmcast", wasmPageServer(b, "") + "?noread=1"},
		{"webtorrent", wtPageServer(b) + "?noread=1"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var longest, busy, lag, secs float64
			for range b.N {
				done := browserLargeDownload(b, p.base, size)
				longest = max(longest, done.LongestTaskMs)
				busy += done.LongTasksMs / done.At
				lag = max(lag, done.MaxTimerLagMs)
				secs += done.At / 1000
			}
			n := float64(b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(longest, "longest-task-ms")
			b.ReportMetric(100*busy/n, "long-task-%")
			b.ReportMetric(lag, "timer-lag-ms")
			b.ReportMetric(float64(size)/1e6/(secs/n), "MB/s")
		})
	}
}

// browserLargeDownload has the page at base (browser/swarmcast.html or browser/webtorrent.html,
// with noread=1 in its query) download size bytes of random data from a native swarmcast seeder over
// WebRTC, through swarmcast's tracker, and returns the page's "done" line: its measurements of itself.
func browserLargeDownload(t testing.TB, base string, size int64) wasmDone {
	chromium := requireTool(t, "chromium")
	requireNodeModule(t, "playwright-core")
	swarmcastBin(t)
	work := t.TempDir()
	d := makeSingleData(t, engineRNG(t), work, "large.bin", size)
	tr := startSwarmcastTracker(t)
	seeder := startSwarmcastSeed(t, bgOpts{}, "127.0.0.1:0", append([]string{d.path,
		"--tracker", tr.ws, "-o", filepath.Join(work, "t.torrent")}, webrtcLoopback...)...)
	timeout := wasmLargeTimeout(size)
	p := startBG(t, "webtorrent.mjs", bgOpts{timeout: timeout + 2*webrtcDriverGrace}, "node", filepath.Join("browser", "webtorrent.mjs"),
		"--base", base, "--chromium", chromium, "--timeout", fmt.Sprint(int(timeout/time.Second)),
		"--tracker", tr.ws, "--download", seeder.magnet)
	b := &wtProc{bgProc: p}
	ev, err := b.event("", "result", timeout+webrtcDriverGrace)
	if err != nil {
		t.Fatalf("the browser did not finish: %v", err)
	}
	b.logTimings(t, "download")
	if !ev.OK {
		t.Fatalf("the browser's download failed at step %q: %s", ev.Step, ev.Error)
	}
	var done wasmDone
	for _, line := range b.grep(eventLineRE("done")) {
		if strings.Contains(line, `"page":"download"`) {
			if err := json.Unmarshal([]byte(line), &done); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !done.Done || done.Length != size {
		t.Fatalf("the page reports %+v, want a done download of %d bytes", done, size)
	}
	mbps := float64(size) / 1e6 / (done.At / 1000)
	memory := "" // WebTorrent's page has no wasm
	if done.WasmMemory > 0 {
		memory = fmt.Sprintf("; wasm memory %d MiB", done.WasmMemory>>20)
	}
	t.Logf("%d MB in %.1f s from navigation (%.1f MB/s)%s; longest task %.0f ms (%d over 50 ms, %.0f ms in all), longest 20 ms timer lateness %.0f ms; bytes by source %v",
		size>>20, done.At/1000, mbps, memory, done.LongestTaskMs, done.LongTasks, done.LongTasksMs, done.MaxTimerLagMs, done.BytesByWireType)
	return done
}
