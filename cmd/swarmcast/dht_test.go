package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// dhtTestTimeout bounds each DHT test's processes.
const dhtTestTimeout = 60 * time.Second

// startLines starts bin with args and returns a channel of its stdout lines.
func startLines(t *testing.T, ctx context.Context, env []string, bin string, args ...string) (<-chan string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	killGroupOnCancel(cmd)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		<-done
		cmd.Wait()
	})
	return lines, &stderr
}

// waitLine returns the rest of the first line that starts with prefix.
func waitLine(t *testing.T, lines <-chan string, prefix string, stderr *bytes.Buffer) string {
	t.Helper()
	deadline := time.After(dhtTestTimeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("no line %q before the process ended", prefix)
			}
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return rest
			}
		case <-deadline:
			t.Fatalf("no line %q within %v", prefix, dhtTestTimeout)
		}
	}
}

// A magnet link with no tracker and no peer resolves through the DHT:
// `swarmcast dht-node` runs a bootstrap node, `swarmcast seed` announces to
// the DHT through it, and `swarmcast download MAGNET --dht-bootstrap NODE`
// finds the seeder, fetches the info and the data, and counts the seeder's
// address as found by the DHT. Every process is on its own loopback
// address.
func TestDHTMagnetDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildSwarmcast(t)
	dir := t.TempDir()
	env := append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	ctx, cancel := context.WithTimeout(context.Background(), dhtTestTimeout)
	defer cancel()
	nodeLines, nodeErr := startLines(t, ctx, env, bin, "dht-node", "--listen", "127.0.0.1:0")
	node := waitLine(t, nodeLines, "dht node listening on ", nodeErr)

	data := make([]byte, 2<<20+77)
	rand.Read(data)
	src := filepath.Join(dir, "dht.bin")
	os.WriteFile(src, data, 0o644)
	seedLines, seedErr := startLines(t, ctx, env, bin, "seed", src, "--listen", "127.0.0.2:0", "--dht-bootstrap", node)
	magnet := waitLine(t, seedLines, "magnet: ", seedErr)
	if strings.Contains(magnet, "tr=") || strings.Contains(magnet, "x.pe=") {
		t.Fatalf("the magnet link names a tracker or a peer: %s", magnet)
	}
	out := filepath.Join(dir, "out")
	dl := exec.CommandContext(ctx, bin, "download", magnet, "-o", out, "--listen", "127.0.0.3:0", "--dht-bootstrap", node, "--json")
	killGroupOnCancel(dl)
	dl.Env = env
	var errb bytes.Buffer
	dl.Stderr = &errb
	start := time.Now()
	if err := dl.Run(); err != nil {
		t.Fatalf("download: %v\n%s\n--- seed\n%s", err, errb.String(), seedErr.String())
	}
	t.Logf("magnet resolved and downloaded through the DHT in %v", time.Since(start).Round(time.Millisecond))
	got, err := os.ReadFile(filepath.Join(out, "dht.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs: %v", err)
	}
	var last progressLine
	for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if strings.HasPrefix(l, "{") {
			json.Unmarshal([]byte(l), &last)
		}
	}
	if last.Addresses["dht"] == 0 {
		t.Fatalf("the last progress line counts no address found by the DHT: %+v", last)
	}
}
