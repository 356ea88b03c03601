package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/testenv"
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
	testenv.NeedNamespace(t, "-rm")
	bin := buildSwarmcast(t)
	const size = 8 << 20
	data, tf, seederAddr := seededFile(t, size, 128<<10, 0)

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
	cmd.Env = append(os.Environ(), "DISK="+disk, "HOST="+host, "BIN="+bin, "TF="+tf, "SEEDER="+seederAddr)
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
