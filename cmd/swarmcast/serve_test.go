package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/daemon"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// serveTimeout bounds each wait on a daemon: starting, a download of a few
// MiB over loopback, shutting down.
const serveTimeout = 60 * time.Second

// serveProc is a running `swarmcast serve`.
type serveProc struct {
	cmd    *exec.Cmd
	rpc    *daemon.RPCClient
	url    string
	exited chan error

	mu     sync.Mutex
	stderr bytes.Buffer
}

// log returns what serve has logged so far.
func (p *serveProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startServeProc runs the binary's serve on a free loopback port and waits
// until it serves.
func startServeProc(t *testing.T, bin, dataDir string, args ...string) *serveProc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	all := append([]string{"serve", "--http", addr, "--data", dataDir, "--listen", "127.0.0.1:0", "--no-dht", "--no-lsd", "--log-format", "json"}, args...)
	cmd := exec.Command(bin, all...)
	pr, pw, _ := os.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	p := &serveProc{cmd: cmd, url: "http://" + addr, exited: make(chan error, 1)}
	p.rpc = &daemon.RPCClient{URL: p.url + "/transmission/rpc"}
	ready := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if !once && strings.Contains(sc.Text(), `"msg":"serving"`) {
				once = true
				close(ready)
			}
		}
	}()
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-readDone
		if t.Failed() {
			t.Logf("serve's log:\n%s", p.log())
		}
	})
	select {
	case <-ready:
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("serve exited before serving: %v", err)
	case <-time.After(serveTimeout):
		t.Fatal("serve did not start")
	}
	return p
}

func (p *serveProc) torrents(t *testing.T, fields ...string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), serveTimeout)
	defer cancel()
	var out struct {
		Torrents []map[string]any `json:"torrents"`
	}
	if err := p.rpc.Call(ctx, "torrent-get", map[string]any{"fields": fields}, &out); err != nil {
		t.Fatal(err)
	}
	return out.Torrents
}

func (p *serveProc) waitTorrents(t *testing.T, what string, ok func([]map[string]any) bool, fields ...string) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(serveTimeout)
	for {
		list := p.torrents(t, fields...)
		if ok(list) {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, list)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(serveTimeout):
		t.Fatal("serve did not stop after SIGTERM")
	}
}

// seedClient seeds size random bytes (one file) from a client in this
// process, and returns the .torrent's path, the seeder's address and a
// function that stops it.
func seedClient(t *testing.T, name string, size int, pieceLength, rate int64) (string, string, func()) {
	t.Helper()
	dir := t.TempDir()
	b := make([]byte, size)
	rand.Read(b)
	os.WriteFile(filepath.Join(dir, name), b, 0o644)
	mi, _, err := metainfo.Create(filepath.Join(dir, name), metainfo.CreateOptions{PieceLength: pieceLength})
	if err != nil {
		t.Fatal(err)
	}
	tf := filepath.Join(dir, name+".torrent")
	writeFileAtomic(tf, mi)
	l, err := tcp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir), UploadRate: rate})
	go c.Serve(l)
	if _, err := c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return tf, l.Addr(), func() { c.Close() }
}

// SIGTERM, then a restart with the seeders gone: every torrent back,
// complete, nothing fetched; a paused one still paused. The RPC client
// subcommands drive the first run.
func TestServeRestartAfterSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildSwarmcast(t)
	tf1, addr1, stop1 := seedClient(t, "one.bin", 2<<20, 64<<10, 0)
	tf2, addr2, stop2 := seedClient(t, "two.bin", 1<<20, 32<<10, 0)
	// A tracker that records the events it hears.
	var trMu sync.Mutex
	stopped := map[string]bool{}
	tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("event") == "stopped" {
			trMu.Lock()
			stopped[r.URL.Query().Get("info_hash")] = true
			trMu.Unlock()
		}
		w.Write([]byte("d8:intervali1800e5:peers0:e"))
	}))
	defer tracker.Close()
	data := t.TempDir()
	p := startServeProc(t, bin, data, "--peer", addr1, "--peer", addr2, "--tracker", tracker.URL+"/announce")
	rpcURL := p.url + "/transmission/rpc"

	var out, errb bytes.Buffer
	if code := run([]string{"add", tf1, tf2, "--rpc", rpcURL}, &out, &errb); code != 0 {
		t.Fatalf("add: exit %d: %s", code, errb.String())
	}
	if got := strings.Count(out.String(), "\tadded\t"); got != 2 {
		t.Fatalf("add printed %q", out.String())
	}
	p.waitTorrents(t, "both complete", func(l []map[string]any) bool {
		return len(l) == 2 && l[0]["percentDone"] == 1.0 && l[1]["percentDone"] == 1.0
	}, "percentDone")
	out.Reset()
	if code := run([]string{"ls", "--rpc", rpcURL}, &out, &errb); code != 0 || strings.Count(out.String(), "100%") != 2 {
		t.Fatalf("ls: exit %d:\n%s%s", code, out.String(), errb.String())
	}
	t.Logf("swarmcast ls:\n%s", out.String())
	if code := run([]string{"pause", "2", "--rpc", rpcURL}, &out, &errb); code != 0 {
		t.Fatalf("pause: %s", errb.String())
	}
	p.stop(t)
	if log := p.log(); !strings.Contains(log, `"msg":"stopped"`) {
		t.Errorf("no clean stop in the log after SIGTERM:\n%s", log)
	}
	trMu.Lock()
	if len(stopped) != 2 {
		t.Errorf("the tracker heard \"stopped\" for %d torrents at SIGTERM, want 2 (one was paused before: it heard it then)", len(stopped))
	}
	trMu.Unlock()
	stop1()
	stop2()

	p2 := startServeProc(t, bin, data)
	list := p2.waitTorrents(t, "both back", func(l []map[string]any) bool {
		return len(l) == 2 && l[0]["percentDone"] == 1.0 && l[1]["percentDone"] == 1.0
	}, "id", "name", "percentDone", "status", "downloadedEver")
	if list[0]["name"] != "one.bin" || list[1]["status"] != 0.0 {
		t.Errorf("after restart: %v (want one.bin first, two.bin stopped)", list)
	}
	time.Sleep(time.Second) // a fetch would have started by now
	for _, tr := range p2.torrents(t, "name", "downloadedEver", "status") {
		if tr["downloadedEver"] != 0.0 {
			t.Errorf("%v fetched %v bytes after restart", tr["name"], tr["downloadedEver"])
		}
	}
	out.Reset()
	if code := run([]string{"resume", "all", "--rpc", p2.url + "/transmission/rpc"}, &out, &errb); code != 0 {
		t.Fatalf("resume: %s", errb.String())
	}
	p2.waitTorrents(t, "both seeding", func(l []map[string]any) bool {
		return len(l) == 2 && l[0]["status"] == 6.0 && l[1]["status"] == 6.0
	}, "status")
	if code := run([]string{"rm", "1", "--delete-data", "--rpc", p2.url + "/transmission/rpc"}, &out, &errb); code != 0 {
		t.Fatalf("rm: %s", errb.String())
	}
	if _, err := os.Stat(filepath.Join(data, "downloads", "one.bin")); !os.IsNotExist(err) {
		t.Errorf("rm --delete-data left the file: %v", err)
	}
	p2.stop(t)
}

// kill -9 in mid-download: the restart resumes, fetching no piece verified
// before the kill.
func TestServeResumesAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildSwarmcast(t)
	const size = 12 << 20
	tf, addr, _ := seedClient(t, "big.bin", size, 128<<10, 3<<20)
	data := t.TempDir()
	p := startServeProc(t, bin, data, "--peer", addr)
	var out, errb bytes.Buffer
	if code := run([]string{"add", tf, "--rpc", p.url + "/transmission/rpc"}, &out, &errb); code != 0 {
		t.Fatalf("add: %s", errb.String())
	}
	list := p.waitTorrents(t, "half done", func(l []map[string]any) bool {
		return len(l) == 1 && l[0]["percentDone"].(float64) >= 0.5
	}, "percentDone", "haveValid")
	verified := int64(list[0]["haveValid"].(float64))
	p.cmd.Process.Kill() // SIGKILL: nothing saved at exit
	<-p.exited
	if verified >= size {
		t.Fatal("complete before the kill; the seeder's rate limit did not hold")
	}

	p2 := startServeProc(t, bin, data, "--peer", addr)
	list = p2.waitTorrents(t, "complete after restart", func(l []map[string]any) bool {
		return len(l) == 1 && l[0]["percentDone"] == 1.0
	}, "percentDone", "downloadedEver", "corruptEver")
	got := int64(list[0]["downloadedEver"].(float64))
	if limit := int64(size) - verified; got > limit {
		t.Fatalf("restart downloaded %d bytes; only %d were unverified at the kill", got, limit)
	}
	t.Logf("killed with %d of %d bytes verified; the restart downloaded %d", verified, size, got)
	p2.stop(t)
}

// serve refuses to listen beyond loopback without credentials, before it
// opens anything.
func TestServeRefusesExposureWithoutAuth(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		var out, errb bytes.Buffer
		t.Setenv(authEnv, "")
		code := run([]string{"serve", "--http", addr, "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), "--auth") {
			t.Errorf("serve --http %s without auth: exit %d, %q", addr, code, errb.String())
		}
	}
}
