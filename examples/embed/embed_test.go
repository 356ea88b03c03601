package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast"
	"github.com/swarmcast/swarmcast/internal/testenv"
	"github.com/swarmcast/swarmcast/metainfo"
)

// runTimeout bounds the program's run (its own timeout is 2 minutes).
const runTimeout = 3 * time.Minute

// A program in a module of its own, requiring swarmcast through a replace
// directive pointing at this checkout and using only the documented
// surface, streams a range 20 MiB into a 24 MiB file before the download
// completes, then completes it; every byte is checked. The seeder sends at
// 4 MB/s, so the whole file takes about 6 s and a range read at once
// shows the reader came first. GOFLAGS, GOPROXY and the caches come from
// the environment, as for any build.
func TestEmbedInOwnModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program in a module of its own")
	}
	bin := testenv.BuildInOwnModule(t, "main.go")

	src := t.TempDir()
	data := make([]byte, 24<<20)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(src, "film.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	seeder, err := swarmcast.NewClient(swarmcast.Config{ListenAddr: "127.0.0.1:0", UploadRate: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	st, mi, err := seeder.Seed(filepath.Join(src, "film.bin"), metainfo.CreateOptions{PieceLength: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const offset, length = 20<<20 + 12345, 100_000
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, mi.Magnet(st.Info()).String(), seeder.Addr(), strconv.Itoa(offset), strconv.Itoa(length), out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
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
	t.Logf("range at %d read after %v with %d of %d bytes still to come; complete after %v",
		offset, rangeAt.Round(time.Millisecond), left, len(data), total.Round(time.Millisecond))
}
