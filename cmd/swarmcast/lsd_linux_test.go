package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/testenv"
	"github.com/swarmcast/swarmcast/metainfo"
)

// Two swarmcast processes on one local network, with no tracker and no
// peer address given, find each other by local service discovery (BEP 14)
// and the downloader fetches a torrent it knows only by magnet link. The
// network is a veth pair in a network namespace the test makes (unshare
// -rn), so the multicast announces stay in it.
func TestLocalDiscovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	testenv.NeedNamespace(t, "-rn", "ip")
	bin := buildSwarmcast(t)
	dir := t.TempDir()
	data := make([]byte, 3<<20+1234)
	rand.Read(data)
	os.MkdirAll(filepath.Join(dir, "src"), 0o755)
	os.WriteFile(filepath.Join(dir, "src", "local.bin"), data, 0o644)
	mi, _, err := metainfo.Create(filepath.Join(dir, "src", "local.bin"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	tf := filepath.Join(dir, "local.torrent")
	writeFileAtomic(tf, mi)
	magnet := "magnet:?xt=urn:btih:" + mi.HashInfoBytes().String()

	// The downloader starts first: it announces the magnet's info hash; the
	// seeder, starting later, announces its torrent at once and the
	// downloader connects to it.
	script := `set -u
ip link set lo up
ip link add lan0 type veth peer name lan1
ip addr add 10.77.0.1/24 dev lan0
ip link set lan1 up
ip link set lan0 up
ip route add 224.0.0.0/4 dev lan0
timeout 45 "$BIN" download "$MAGNET" -o "$DIR/out" --listen 10.77.0.1:0 --json -v 2> "$DIR/download.log" &
dl=$!
sleep 0.5
"$BIN" seed "$TF" --data "$DIR/src" --listen 10.77.0.1:0 -v > "$DIR/seed.log" 2>&1 &
seed=$!
wait $dl; echo "download exit=$?"
kill $seed
`
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-rn", "sh", "-c", script)
	killGroupOnCancel(cmd)
	cmd.Env = append(os.Environ(), "BIN="+bin, "DIR="+dir, "TF="+tf, "MAGNET="+magnet)
	out, err := cmd.CombinedOutput()
	dl, _ := os.ReadFile(filepath.Join(dir, "download.log"))
	seed, _ := os.ReadFile(filepath.Join(dir, "seed.log"))
	if err != nil || !strings.Contains(string(out), "download exit=0") {
		t.Fatalf("download failed: %v\n%s\n--- download\n%s\n--- seed\n%s", err, out, logLines(dl), logLines(seed))
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", "local.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs: %v", err)
	}
}

// logLines returns a log's lines without its JSON progress lines, except
// the last.
func logLines(b []byte) string {
	var out, last []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("{")) {
			last = line
			continue
		}
		out = append(append(out, line...), '\n')
	}
	return string(append(out, last...))
}
