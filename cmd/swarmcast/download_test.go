package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// seedInProcess seeds a random file from an engine in the test and returns
// the torrent path, the data and the seeder's address.
func seedInProcess(t *testing.T) (string, []byte, string) {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, 3<<20+5)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "movie.bin"), data, 0o644)
	mi, _, err := metainfo.Create(filepath.Join(dir, "movie.bin"), metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tf := filepath.Join(dir, "movie.torrent")
	if err := writeFileAtomic(tf, mi); err != nil {
		t.Fatal(err)
	}
	l, err := tcp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir)})
	t.Cleanup(func() { c.Close() })
	go c.Serve(l)
	if _, err := c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	return tf, data, l.Addr()
}

func TestDownloadCommand(t *testing.T) {
	tf, data, addr := seedInProcess(t)
	out := t.TempDir()
	code, _, errs := runCLI(t, "download", tf, "-o", out, "--peer", addr, "--listen", "127.0.0.1:0", "--json")
	if code != 0 {
		t.Fatalf("download exit %d: %s", code, errs)
	}
	got, err := os.ReadFile(filepath.Join(out, "movie.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	var last progressLine
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last progress line %q: %v", lines[len(lines)-1], err)
	}
	if !last.Complete || last.Progress != 1 || last.BySource["tcp"] < int64(len(data)) {
		t.Fatalf("last progress line: %+v", last)
	}
	// Again: everything is verified on disk already, nothing is downloaded.
	code, _, errs = runCLI(t, "download", tf, "-o", out, "--listen", "127.0.0.1:0", "--json")
	if code != 0 {
		t.Fatalf("second download exit %d: %s", code, errs)
	}
	lines = strings.Split(strings.TrimSpace(errs), "\n")
	json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if last.Downloaded != 0 || !last.Complete {
		t.Fatalf("second run downloaded %d bytes: %+v", last.Downloaded, last)
	}
}

func TestDownloadRefusesUnsafeTorrent(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "evil.torrent")
	b := []byte("d4:infod5:filesld6:lengthi1e4:pathl2:..2:..3:etceee4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee")
	os.WriteFile(evil, b, 0o644)
	out := filepath.Join(dir, "out")
	code, _, errs := runCLI(t, "download", evil, "-o", out, "--listen", "127.0.0.1:0", "--quiet")
	if code != 1 || !strings.Contains(errs, "unsafe file path") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 0 {
		t.Fatalf("wrote %v", entries)
	}
}
