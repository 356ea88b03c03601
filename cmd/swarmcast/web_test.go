package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/web"
)

// TestTrackerServesWatchPage: the tracker's HTTP port serves the browser
// client and the watch page beside announce, scrape and WebSocket.
func TestTrackerServesWatchPage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveTracker(ctx, []string{"--http", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("tracker did not stop")
		}
	}()
	sc := bufio.NewScanner(pr)
	var base string
	for base == "" && sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "http: "); ok {
			base = strings.TrimSuffix(v, "/announce")
		}
	}
	go io.Copy(io.Discard, pr)
	for path, want := range map[string]int{"/watch.html": 200, "/watch.js": 200, "/swarmcast.js": 200, "/player.html": 404, "/nothing": 404} {
		if path == "/swarmcast.js" && !web.Built() {
			want = http.StatusServiceUnavailable // part of the client, not built into this binary
			if _, err := os.Stat("../../web/client/swarmcast.js"); err == nil {
				want = 200
			}
		}
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestWebExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	code, out, errs := runCLI(t, "web", "export", dir)
	if !web.Built() {
		if code != 1 || !strings.Contains(errs, "scripts/build-wasm.sh") {
			t.Fatalf("without the wasm: exit %d %q, want 1 and how to build it", code, errs)
		}
		return
	}
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, name := range append(web.ClientFiles, "watch.html") {
		if !strings.Contains(out, name+"\n") {
			t.Errorf("did not list %s: %s", name, out)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v, %d bytes", name, err, len(b))
		}
	}
	wasm, _ := os.ReadFile(filepath.Join(dir, "swarmcast.wasm"))
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		t.Error("swarmcast.wasm is not WebAssembly")
	}
}

func TestWebUsage(t *testing.T) {
	if code, _, errs := runCLI(t, "web"); code != 2 || !strings.Contains(errs, "web export DIR") {
		t.Errorf("exit %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "web", "export"); code != 2 {
		t.Errorf("no folder: exit %d %q", code, errs)
	}
}

// TestStreamServesWatchPage: the streaming server (stream, and the daemon
// through the same mux) serves the browser client and the watch page too.
func TestStreamServesWatchPage(t *testing.T) {
	c := torrent.NewClient(torrent.Config{Storage: storage.NewFile(t.TempDir())})
	defer c.Close()
	srv := httptest.NewServer(newWebMux(c))
	defer srv.Close()
	for path, want := range map[string]int{"/watch.html": 200, "/player.html": 200, "/sw.js": 200} {
		if path == "/sw.js" {
			if _, err := os.Stat("../../web/client/sw.js"); err != nil {
				want = http.StatusServiceUnavailable
			}
		}
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if path == "/sw.js" && want == 200 && resp.Header.Get("Service-Worker-Allowed") != "/" {
			t.Error("sw.js without Service-Worker-Allowed")
		}
	}
}
