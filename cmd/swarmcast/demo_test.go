package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/web"
)

// TestDemoSampleIsWebM: the committed sample is the WebM the README promises,
// within the size the project allows itself.
func TestDemoSampleIsWebM(t *testing.T) {
	if !bytes.HasPrefix(demoVideo, []byte{0x1a, 0x45, 0xdf, 0xa3}) || !bytes.Contains(demoVideo[:64], []byte("webm")) {
		t.Fatal("demo/sample.webm is not WebM")
	}
	if n := len(demoVideo); n < 1<<20 || n > 4e6 {
		t.Fatalf("demo/sample.webm is %d bytes; keep it between 1 MiB and 4 MB", n)
	}
}

func startTestDemo(t *testing.T, opt demoOptions) *demoSite {
	t.Helper()
	opt.httpAddr, opt.dir, opt.loopback = "127.0.0.1:0", t.TempDir(), true
	d, err := startDemo(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.close() })
	return d
}

func httpDo(t *testing.T, method, u string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestDemoSite starts the demo as runDemo does and checks what a browser
// will find: one watch URL, the page, the torrent (tracker and web seed),
// the origin's Range answers byte for byte, and the origin's count of what
// it sent.
func TestDemoSite(t *testing.T) {
	d := startTestDemo(t, demoOptions{})
	u, err := url.Parse(d.watchURL)
	if err != nil || u.Host == "" || !strings.HasPrefix(u.Host, "127.0.0.1:") || u.Path != "/watch.html" {
		t.Fatalf("watch URL %q", d.watchURL)
	}
	if resp, b := httpDo(t, "GET", d.watchURL); resp.StatusCode != 200 || !bytes.Contains(b, []byte("watch.js")) {
		t.Fatalf("watch page: %d", resp.StatusCode)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Get("http://" + u.Host + "/"); err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != d.watchURL {
		t.Errorf("/ does not redirect to the watch URL: %v %v", err, resp)
	}

	torrentURL := u.Query().Get("torrent")
	resp, b := httpDo(t, "GET", torrentURL)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("torrent: %d, CORS %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := mi.AnnounceURLs(); len(got) != 1 || got[0] != "ws://"+u.Host {
		t.Errorf("trackers %v, want the site's port as a WebSocket tracker", got)
	}
	if got := mi.WebSeeds(); len(got) != 1 || got[0] != d.originURL {
		t.Errorf("web seeds %v, want %s", got, d.originURL)
	}

	// The origin: Range, byte-exact; its count is what it sent.
	before := d.origin.sent.Load()
	for _, rg := range [][2]int{{0, 99}, {1 << 20, 1<<20 + 65535}, {len(demoVideo) - 1000, len(demoVideo) - 1}} {
		resp, b := httpDo(t, "GET", d.originURL, "Range", fmt.Sprintf("bytes=%d-%d", rg[0], rg[1]), "Origin", "http://"+u.Host)
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, demoVideo[rg[0]:rg[1]+1]) {
			t.Errorf("origin range %v: %d, %d bytes, equal=%v", rg, resp.StatusCode, len(b), bytes.Equal(b, demoVideo[rg[0]:rg[1]+1]))
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Content-Range") {
			t.Errorf("origin CORS headers: %v", resp.Header)
		}
	}
	if got, want := d.origin.sent.Load()-before, int64(100+65536+1000); got != want {
		t.Errorf("origin counted %d bytes, sent %d", got, want)
	}
	if resp, _ := httpDo(t, "OPTIONS", d.originURL, "Origin", "http://"+u.Host, "Access-Control-Request-Headers", "range,cache-control"); resp.StatusCode != http.StatusNoContent ||
		resp.Header.Get("Access-Control-Allow-Headers") != "range,cache-control" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := httpDo(t, "GET", "http://"+u.Host+"/demo.json"); resp.StatusCode != 200 {
		t.Errorf("demo.json: %d", resp.StatusCode)
	}
	if resp, _ := httpDo(t, "GET", "http://"+u.Host+"/swarmcast.wasm"); web.Built() != (resp.StatusCode == 200) {
		t.Errorf("swarmcast.wasm: %d, built=%v", resp.StatusCode, web.Built())
	}
}

// TestDemoSeederThroughTracker: a native client that knows only the torrent
// (its WebSocket tracker; web seeds off) downloads the video from the demo's
// seeder over WebRTC, as a browser tab would.
func TestDemoSeederThroughTracker(t *testing.T) {
	d := startTestDemo(t, demoOptions{})
	cf := clientFlags{listen: "127.0.0.1:0", listenSet: true, noLSD: true, noWebSeed: true, quiet: true,
		maxConns: torrent.DefaultMaxConns, loopback: true}
	dir := t.TempDir()
	s, err := cf.start(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	lt, err := s.client.AddTorrent(d.mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := lt.WaitComplete(ctx); err != nil {
		t.Fatalf("download from the demo's seeder: %v (%+v)", err, lt.Stats())
	}
	got, err := os.ReadFile(filepath.Join(dir, demoName))
	if err != nil || !bytes.Equal(got, demoVideo) {
		t.Fatalf("downloaded file differs: %v", err)
	}
	st := lt.Stats()
	t.Logf("%d bytes in %v, by kind %v", len(got), time.Since(start).Round(time.Millisecond), st.Downloaded)
	if st.Downloaded["webrtc"] != int64(len(demoVideo)) {
		t.Errorf("downloaded by kind %v, want all over webrtc", st.Downloaded)
	}
	if n := d.origin.sent.Load(); n != 0 {
		t.Errorf("origin sent %d bytes to a client with web seeds off", n)
	}
}

// TestDemoOriginRate: a capped origin paces each response.
func TestDemoOriginRate(t *testing.T) {
	d := startTestDemo(t, demoOptions{noSeeder: true, originRate: 1 << 20})
	start := time.Now()
	resp, b := httpDo(t, "GET", d.originURL, "Range", "bytes=0-524287")
	el := time.Since(start)
	if resp.StatusCode != http.StatusPartialContent || len(b) != 512<<10 {
		t.Fatalf("%d, %d bytes", resp.StatusCode, len(b))
	}
	if el < 450*time.Millisecond {
		t.Errorf("512 KiB at 1 MiB/s took %v", el)
	}
	if d.seeder != nil || d.torrent != nil {
		t.Error("--no-seeder started a seeder")
	}
}

// TestDemoWithoutWasmSaysHow: a binary without the engine says how to build it.
func TestDemoWithoutWasmSaysHow(t *testing.T) {
	if web.Built() {
		t.Skip("this binary has the wasm; the message is for one that has not")
	}
	code, _, errs := runCLI(t, "demo")
	if code != 1 || !strings.Contains(errs, "scripts/demo.sh") || !strings.Contains(errs, "scripts/build-wasm.sh") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}

// TestDemoCommandPrintsOneURL runs the command as a user does (on a free
// port): its output is the watch URL alone, which serves the page, until
// the context (Ctrl-C) ends it.
func TestDemoCommandPrintsOneURL(t *testing.T) {
	if !web.Built() {
		t.Skip("needs the wasm built (scripts/build-wasm.sh); TestDemoWithoutWasmSaysHow covers this binary")
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveDemo(ctx, []string{"--http", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 4096)
		n, _ := pr.Read(b)
		line <- string(b[:n])
		io.Copy(io.Discard, pr)
	}()
	var out string
	select {
	case out = <-line:
	case <-time.After(20 * time.Second):
		t.Fatal("the demo printed nothing in 20 s")
	}
	u := strings.TrimSpace(out)
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.Contains(u, "/watch.html?torrent=") {
		t.Fatalf("printed %q, want one watch URL", out)
	}
	if resp, _ := httpDo(t, "GET", u); resp.StatusCode != 200 {
		t.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the demo did not stop")
	}
}

// TestDemoOtherVideo: --video with a name that needs escaping in a URL.
func TestDemoOtherVideo(t *testing.T) {
	video := bytes.Repeat([]byte("not really a video "), 50000)
	d := startTestDemo(t, demoOptions{video: video, videoName: "my clip.webm", noSeeder: true})
	if !strings.Contains(d.torrentURL, "/my%20clip.webm.torrent") || !strings.HasSuffix(d.originURL, "/my%20clip.webm") {
		t.Fatalf("torrent %s, origin %s", d.torrentURL, d.originURL)
	}
	resp, b := httpDo(t, "GET", d.torrentURL)
	if resp.StatusCode != 200 {
		t.Fatalf("torrent: %d", resp.StatusCode)
	}
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if ws := mi.WebSeeds(); len(ws) != 1 || ws[0] != d.originURL {
		t.Errorf("web seeds %v", ws)
	}
	if resp, b := httpDo(t, "GET", d.originURL, "Range", "bytes=10-19"); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, video[10:20]) {
		t.Errorf("origin: %d %q", resp.StatusCode, b)
	}
	if resp, _ := httpDo(t, "GET", strings.Replace(d.watchURL, "?", "x?", 1)); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown page: %d", resp.StatusCode)
	}
}
