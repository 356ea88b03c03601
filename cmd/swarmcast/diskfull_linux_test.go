package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// A download onto a disk that fills up stops with an error that says so,
// keeps what it verified, and, once space is freed, resumes without
// fetching those pieces again. The small disk is a 10 MiB tmpfs mounted in
// a mount namespace of the test's own (unshare -rm), so nothing outside the
// test sees it and it goes away with the test.
func TestDownloadFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	// In CI a missing tool fails the test, as in interop/.
	skip := t.Skipf
	if ci := strings.ToLower(os.Getenv("CI")); ci != "" && ci != "0" && ci != "false" && ci != "no" {
		skip = t.Fatalf
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		skip("needs unshare (util-linux; scripts/install-test-deps.sh installs it)")
	}
	if out, err := exec.Command("unshare", "-rm", "true").CombinedOutput(); err != nil {
		skip("cannot make a user and mount namespace here: %v %s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "swarmcast")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const size, pl = 8 << 20, 128 << 10
	dir := t.TempDir()
	data := make([]byte, size)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "data.bin"), data, 0o644)
	mi, _, err := metainfo.Create(filepath.Join(dir, "data.bin"), metainfo.CreateOptions{PieceLength: pl})
	if err != nil {
		t.Fatal(err)
	}
	tf := filepath.Join(dir, "data.torrent")
	writeFileAtomic(tf, mi)
	l, err := tcp.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seeder := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir)})
	t.Cleanup(func() { seeder.Close() })
	go seeder.Serve(l)
	if _, err := seeder.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}

	// The disk holds 10 MiB, 5 of them taken by a filler: the 8 MiB download
	// runs out of space half way. Removing the filler makes room.
	host := t.TempDir()
	script := `set -u
mount -t tmpfs -o size=10m tmpfs "$DISK" || exit 90
head -c 5242880 /dev/zero > "$DISK/filler"
dl() { "$BIN" download "$TF" -o "$DISK/out" --peer "$SEEDER" --listen 127.0.0.1:0 --json; }
dl 2> "$HOST/run1.log"; echo "exit1=$?"
rm "$DISK/filler"
dl 2> "$HOST/run2.log"; echo "exit2=$?"
cp "$DISK/out/data.bin" "$HOST/data.bin"
`
	disk := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-rm", "sh", "-c", script)
	killGroupOnCancel(cmd)
	cmd.Env = append(os.Environ(), "DISK="+disk, "HOST="+host, "BIN="+bin, "TF="+tf, "SEEDER="+l.Addr())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("namespace script: %v\n%s", err, out)
	}
	run1, _ := os.ReadFile(filepath.Join(host, "run1.log"))
	run2, _ := os.ReadFile(filepath.Join(host, "run2.log"))
	if !strings.Contains(string(out), "exit1=1") {
		t.Fatalf("the first run did not fail with exit status 1:\n%s\n%s", out, run1)
	}
	if !strings.Contains(string(run1), "no space left on device") || !strings.Contains(string(run1), "free disk space") {
		t.Fatalf("the first run did not say the disk is full:\n%s", run1)
	}
	first := lastProgress(t, run1)
	verified := first.Length - first.BytesLeft
	if verified == 0 || verified >= size {
		t.Fatalf("the first run verified %d of %d bytes before the disk filled", verified, size)
	}
	if !strings.Contains(string(out), "exit2=0") {
		t.Fatalf("the second run failed:\n%s\n%s", out, run2)
	}
	second := lastProgress(t, run2)
	if !second.Complete {
		t.Fatalf("second run's last line: %+v", second)
	}
	if limit := int64(size) - verified; second.Downloaded > limit {
		t.Fatalf("the second run downloaded %d bytes; only %d were unverified when the disk filled", second.Downloaded, limit)
	}
	got, err := os.ReadFile(filepath.Join(host, "data.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file differs after the resume: %v", err)
	}
	t.Logf("disk full at %d of %d bytes verified (%q); the second run downloaded %d", verified, size, first.Error, second.Downloaded)
}

// lastProgress returns the last JSON progress line of a download's stderr.
func lastProgress(t *testing.T, log []byte) progressLine {
	t.Helper()
	var last progressLine
	found := false
	for _, line := range bytes.Split(log, []byte("\n")) {
		var p progressLine
		if json.Unmarshal(line, &p) == nil && p.InfoHash != "" {
			last, found = p, true
		}
	}
	if !found {
		t.Fatalf("no progress line in:\n%s", log)
	}
	return last
}
