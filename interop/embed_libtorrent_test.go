package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/testenv"
)

// TestEmbedFromLibtorrent runs examples/embed, a program using only
// swarmcast's documented Go API, built in a module of its own (a replace to
// this checkout), against libtorrent 2.0 as the known peer of its magnet
// link: libtorrent seeds a 24 MiB file at 4 MB/s (loopback included), and
// the program streams 100 kB from 20 MiB into the file while the download
// runs, then completes it. Every byte is checked against the file.
func TestEmbedFromLibtorrent(t *testing.T) {
	requireLibtorrent(t)
	bin := testenv.BuildInOwnModule(t, filepath.Join("..", "examples", "embed", "main.go"))
	sw := loopbackSwarm()
	dir := t.TempDir()
	data := make([]byte, 24<<20)
	rand.Read(data)
	src := filepath.Join(dir, "film.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	p := startBG(t, "libtorrent seed", sw.peerOpts(), debianPython, filepath.Join("node", "lt.py"), "seed", src,
		"--listen", sw.peerListen(), "--upload-rate", strconv.Itoa(4<<20))
	var l wtListening
	p.waitEvent("listening", &l, engineReadyTimeout)
	var r wtReady
	p.waitEvent("ready", &r, engineReadyTimeout)
	p.waitEvent("done", nil, engineReadyTimeout) // checked its data: seeding
	peer := net.JoinHostPort(sw.peerHost, strconv.Itoa(l.Port))

	const offset, length = 20<<20 + 12345, 100_000
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), engineTransferTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, r.MagnetURI, peer, strconv.Itoa(offset), strconv.Itoa(length), out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = bgStopGrace
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	var rangeAt time.Duration
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "range ") {
			rangeAt = time.Since(start)
		}
		lines = append(lines, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		p.logTail(20)
		t.Fatalf("the program failed: %v\n%s\n%s", err, strings.Join(lines, "\n"), stderr.String())
	}
	total := time.Since(start)
	if len(lines) != 2 {
		t.Fatalf("want two lines, got %q (stderr %s)", lines, stderr.String())
	}
	var sum string
	var left int64
	if _, err := fmt.Sscanf(lines[0], "range %s %d", &sum, &left); err != nil {
		t.Fatalf("line %q: %v", lines[0], err)
	}
	if want := fmt.Sprintf("%x", sha256.Sum256(data[offset:offset+length])); sum != want {
		t.Fatalf("the range read differs from the file's bytes %d-%d", offset, offset+length-1)
	}
	if left == 0 {
		t.Fatalf("the range came only once the download was complete: nothing shows it was streamed")
	}
	path, ok := strings.CutPrefix(lines[1], "complete ")
	if !ok {
		t.Fatalf("line %q", lines[1])
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the downloaded file differs: %v", err)
	}
	t.Logf("from libtorrent: range at %d read after %v with %d of %d bytes still to come; complete after %v",
		offset, rangeAt.Round(time.Millisecond), left, len(data), total.Round(time.Millisecond))
}
