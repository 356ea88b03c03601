package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// freeAddr returns a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// lockedBuffer is a bytes.Buffer safe to read while a command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// A download whose only --peer starts listening 3 s after it completes
// within a few seconds of that: the first redials come a second apart, not
// 30 s.
func TestDownloadFromPeerThatStartsLate(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 1<<20)
	fastFill(data)
	os.WriteFile(filepath.Join(dir, "late.bin"), data, 0o644)
	mi, _, err := metainfo.Create(filepath.Join(dir, "late.bin"), metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tf := filepath.Join(dir, "late.torrent")
	if err := writeFileAtomic(tf, mi); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	out := t.TempDir()
	var errs lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"download", tf, "-o", out, "--peer", addr, "--listen", "127.0.0.1:0", "--json"}, &bytes.Buffer{}, &errs)
	}()
	time.Sleep(3 * time.Second) // the peer is not there yet: that is the test
	l, err := tcp.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	seeder := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir)})
	defer seeder.Close()
	go seeder.Serve(l)
	if _, err := seeder.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("download exit %d: %s", code, errs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("download not done 20 s after the peer appeared: %s", errs.String())
	}
	took := time.Since(up)
	t.Logf("done %v after the peer started listening", took.Round(time.Millisecond))
	// Redials 1, 2, 4 s apart (±25%): the one after the peer appears
	// comes at most ~5 s later, where the old 30 s backoff took 27 s.
	if took > 10*time.Second {
		t.Fatalf("done only %v after the peer appeared", took)
	}
	got, _ := os.ReadFile(filepath.Join(out, "late.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs")
	}
	if !strings.Contains(errs.String(), "cannot connect to "+addr+": connection refused; retrying") {
		t.Fatalf("the unreachable --peer was never reported:\n%s", errs.String())
	}
}

// fastFill fills b with bytes that differ from piece to piece.
func fastFill(b []byte) {
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
}

// A --peer on a closed port is reported within seconds at default
// verbosity, and a download interrupted with nothing downloaded says why.
func TestUnreachablePeerIsReported(t *testing.T) {
	bin := buildSwarmcast(t)
	_, tf, _ := seededFile(t, 256<<10, 16<<10, 0)
	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "download", tf, "-o", t.TempDir(), "--peer", addr, "--listen", "127.0.0.1:0")
	var errs lockedBuffer
	cmd.Stderr = &errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	want := "cannot connect to " + addr + ": connection refused; retrying"
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(errs.String(), want) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no %q within 5 s:\n%s", want, errs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130:\n%s", err, errs.String())
	}
	last := strings.TrimSpace(errs.String())
	last = last[strings.LastIndex(last, "\n")+1:]
	if !strings.Contains(last, "nothing was downloaded") || !strings.Contains(last, "connection refused") {
		t.Fatalf("the last line does not say why nothing came: %q", last)
	}
	t.Logf("%s", last)
}

// --listen given on the command line is used as written: a taken port is an
// error naming it. Only the unset default falls back, and says where to.
func TestListenAsWritten(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, port, _ := net.SplitHostPort(taken.Addr().String())
	tf, _, addr := seedInProcess(t)
	code, _, errs := runCLI(t, "download", tf, "-o", t.TempDir(), "--peer", addr, "--listen", taken.Addr().String(), "--json")
	if code == 0 || !strings.Contains(errs, "port "+port+" is taken") {
		t.Fatalf("--listen on a taken port: exit %d, %q", code, errs)
	}

	// The default port taken (by us here, or by anything else): the
	// download falls back to a free port and says which.
	if l, err := net.Listen("tcp", defaultListen); err == nil {
		defer l.Close()
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Skipf("cannot hold the default port: %v", err)
	}
	code, _, errs = runCLI(t, "download", tf, "-o", t.TempDir(), "--peer", addr, "--json", "--no-lsd")
	if code != 0 || !strings.Contains(errs, "port 6881 is taken") || !strings.Contains(errs, "instead") {
		t.Fatalf("default port taken: exit %d, %q", code, errs)
	}
}

// The --json progress lines say how many bytes came from and went to peers
// on our own network, and how many were wasted: a download from a seed on
// loopback named local (--local-network) has every byte local.
func TestProgressLineCountsLocalBytes(t *testing.T) {
	tf, data, addr := seedInProcess(t)
	code, _, progress := runCLI(t, "download", tf, "-o", t.TempDir(), "--peer", addr, "--listen", "127.0.0.1:0",
		"--json", "--no-lsd", "--local-network", "127.0.0.0/8")
	if code != 0 {
		t.Fatalf("download exit %d: %s", code, progress)
	}
	// Progress goes to stderr, one JSON object a line, the last at the end.
	lines := strings.Split(strings.TrimSpace(progress), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last progress line %q: %v", lines[len(lines)-1], err)
	}
	for _, k := range []string{"downloadedLocal", "uploadedLocal", "wasted"} {
		if _, ok := last[k]; !ok {
			t.Errorf("the progress line has no %q: %v", k, last)
		}
	}
	if got := last["downloadedLocal"]; got != float64(len(data)) {
		t.Errorf("downloadedLocal %v, want %d (the only peer is on loopback, named local): %v", got, len(data), last)
	}
}
