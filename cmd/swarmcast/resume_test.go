package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// Kill -9 the downloader half way, start it again: it downloads no piece it
// had verified, and the file comes out right.
func TestResumeAfterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildSwarmcast(t)
	const size = 12 << 20
	data, tf, seederAddr := seededFile(t, size, 128<<10, 3<<20)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"download", tf, "-o", out, "--peer", seederAddr, "--listen", "127.0.0.1:0", "--json"}

	first := exec.CommandContext(ctx, bin, args...)
	stderr, _ := first.StderrPipe()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var atKill progressLine
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		var p progressLine
		if json.Unmarshal(sc.Bytes(), &p) == nil && p.Progress >= 0.5 {
			first.Process.Kill() // SIGKILL: no chance to save anything
			atKill = p
			break
		}
	}
	first.Wait()
	if atKill.Progress < 0.5 || atKill.Complete {
		t.Fatalf("never saw the download half done (last %+v)", atKill)
	}
	verified := atKill.Length - atKill.BytesLeft

	second := exec.CommandContext(ctx, bin, args...)
	var errb bytes.Buffer
	second.Stderr = &errb
	if err := second.Run(); err != nil {
		t.Fatalf("second run: %v\n%s", err, errb.String())
	}
	lines := bytes.Split(bytes.TrimSpace(errb.Bytes()), []byte("\n"))
	var last progressLine
	if err := json.Unmarshal(lines[len(lines)-1], &last); err != nil || !last.Complete {
		t.Fatalf("second run's last line %q: %v", lines[len(lines)-1], err)
	}
	// Pieces verified before the kill are found on disk again (from resume
	// data, or by hash-checking what is there), so the second run fetches
	// only what was missing.
	if limit := int64(size) - verified; last.Downloaded > limit {
		t.Fatalf("second run downloaded %d bytes; only %d were unverified at the kill", last.Downloaded, limit)
	}
	got, err := os.ReadFile(filepath.Join(out, "data.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file differs after resume: %v", err)
	}
	t.Logf("killed at %.0f%% (%d bytes verified); second run downloaded %d of %d bytes", atKill.Progress*100, verified, last.Downloaded, size)
}

// buildSwarmcast builds this command into a temporary folder, for tests
// that run it as its own process.
func buildSwarmcast(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "swarmcast")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// seededFile writes size random bytes to data.bin in a temporary folder,
// makes its torrent (data.torrent beside it) and seeds it from a client in
// this process on loopback, uploading at most uploadRate bytes a second (0:
// no limit). It returns the bytes, the torrent's path and the seeder's
// address.
func seededFile(t *testing.T, size int, pieceLength, uploadRate int64) (data []byte, torrentPath, addr string) {
	t.Helper()
	dir := t.TempDir()
	data = make([]byte, size)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "data.bin"), data, 0o644)
	mi, _, err := metainfo.Create(filepath.Join(dir, "data.bin"), metainfo.CreateOptions{PieceLength: pieceLength})
	if err != nil {
		t.Fatal(err)
	}
	torrentPath = filepath.Join(dir, "data.torrent")
	writeFileAtomic(torrentPath, mi)
	l, err := tcp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seeder := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir), UploadRate: uploadRate})
	t.Cleanup(func() { seeder.Close() })
	go seeder.Serve(l)
	if _, err := seeder.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	return data, torrentPath, l.Addr()
}
