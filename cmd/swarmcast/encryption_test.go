package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/mse"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// TestDownloadEncryptionRequired: `download --encryption require` fetches
// from a seeder that accepts RC4-encrypted connections only, and the
// seeder's listener saw the torrent asked for by its MSE key.
func TestDownloadEncryptionRequired(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 1<<20+7)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "secret.bin"), data, 0o644)
	mi, _, err := metainfo.Create(filepath.Join(dir, "secret.bin"), metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tf := filepath.Join(dir, "secret.torrent")
	if err := writeFileAtomic(tf, mi); err != nil {
		t.Fatal(err)
	}
	ih := mi.HashInfoBytes()
	var lookups atomic.Int32
	l, err := tcp.ListenConfig{Encryption: mse.Require, InfoHash: func(h [20]byte) ([20]byte, bool) {
		lookups.Add(1)
		return ih, h == mse.SKeyHash(ih)
	}}.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir)})
	t.Cleanup(func() { c.Close() })
	go c.Serve(l)
	if _, err := c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	code, _, errs := runCLI(t, "download", tf, "-o", out, "--peer", l.Addr(), "--listen", "127.0.0.1:0", "--json", "--encryption", "require")
	if code != 0 {
		t.Fatalf("download exit %d: %s", code, errs)
	}
	got, err := os.ReadFile(filepath.Join(out, "secret.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs: %v", err)
	}
	if lookups.Load() == 0 {
		t.Fatal("the seeder never looked up an MSE key: the connection was not encrypted")
	}
}

func TestEncryptionFlagRefusesNonsense(t *testing.T) {
	code, _, errs := runCLI(t, "download", "x.torrent", "--encryption", "maybe")
	if code == 0 || !bytes.Contains([]byte(errs), []byte(`unknown encryption policy "maybe"`)) {
		t.Fatalf("exit %d: %s", code, errs)
	}
}
