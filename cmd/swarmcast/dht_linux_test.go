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

	"github.com/swarmcast/swarmcast/internal/testenv"
)

// A client stopped and started again finds peers through the DHT with no
// --dht-bootstrap: its first run joins the DHT through a `swarmcast
// dht-node` and saves its routing table on exit; its second run, given
// only a magnet link, loads the table and resolves the magnet from a seeder
// that announced meanwhile. The hosts are addresses of a network namespace
// the test makes (unshare -rn), so the public routers the second run also
// tries cannot be reached and no packet leaves it.
func TestDHTRestartWithoutBootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	testenv.NeedNamespace(t, "-rn", "ip")
	bin := buildSwarmcast(t)
	dir := t.TempDir()
	data := make([]byte, 1<<20+99)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "restart.bin"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "other.bin"), data[:1000], 0o644)
	script := `set -u
pids=""
trap 'kill $pids 2>/dev/null; wait' EXIT # they save their tables as they exit
wait_for() { # FILE TEXT: waits up to 30 s for TEXT to appear in FILE
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i+1)); if [ $i -gt 300 ]; then echo "no '$2' in $1"; cat "$1"; return 1; fi
		sleep 0.1
	done
}
ip link set lo up
ip link add lan0 type veth peer name lan1
for a in 1 2 3; do ip addr add 10.78.0.$a/24 dev lan0; done
ip link set lan1 up
ip link set lan0 up
"$BIN" dht-node --listen 10.78.0.1:6881 > "$DIR/node.out" 2>&1 & pids="$pids $!"
wait_for "$DIR/node.out" "listening" || exit 1
"$BIN" seed "$DIR/other.bin" --listen 10.78.0.3:0 --dht-bootstrap 10.78.0.1:6881 -v > "$DIR/first.out" 2> "$DIR/first.err" &
first=$!
wait_for "$DIR/first.err" "dht: bootstrapped" || exit 1
kill -INT $first; wait $first
[ -s "$XDG_CACHE_HOME/swarmcast/dht-nodes" ] || { echo "no routing table saved"; exit 1; }
"$BIN" seed "$DIR/restart.bin" --listen 10.78.0.2:0 --dht-bootstrap 10.78.0.1:6881 > "$DIR/seed.out" 2>&1 & pids="$pids $!"
wait_for "$DIR/seed.out" "magnet:" || exit 1
magnet=$(sed -n 's/^magnet: //p' "$DIR/seed.out")
timeout 30 "$BIN" download "$magnet" -o "$DIR/out" --listen 10.78.0.3:0 --json -v 2> "$DIR/second.err"
echo "download exit=$?"
`
	ctx, cancel := context.WithTimeout(context.Background(), dhtTestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-rn", "sh", "-c", script)
	killGroupOnCancel(cmd)
	cmd.Env = append(os.Environ(), "BIN="+bin, "DIR="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	out, err := cmd.CombinedOutput()
	second, _ := os.ReadFile(filepath.Join(dir, "second.err"))
	if err != nil || !strings.Contains(string(out), "download exit=0") {
		t.Fatalf("second run failed: %v\n%s\n--- second run\n%s", err, out, logLines(second))
	}
	if !strings.Contains(string(second), "routing table loaded") {
		t.Errorf("the second run did not say it loaded the routing table:\n%s", logLines(second))
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", "restart.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs: %v", err)
	}
}

// A client listening on every address runs a second DHT node on IPv6 (BEP
// 32): with the only bootstrap node on ::1, a magnet resolves over IPv6
// alone. In a network namespace of the test's own (unshare -rn) with only
// the loopback interface, so that no packet leaves it.
func TestDHTOverIPv6(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	testenv.NeedNamespace(t, "-rn", "ip")
	bin := buildSwarmcast(t)
	dir := t.TempDir()
	data := make([]byte, 1<<20+5)
	rand.Read(data)
	os.WriteFile(filepath.Join(dir, "six.bin"), data, 0o644)
	script := `set -u
pids=""
trap 'kill $pids 2>/dev/null; wait' EXIT # they save their tables as they exit
wait_for() { # FILE TEXT: waits up to 30 s for TEXT to appear in FILE
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i+1)); if [ $i -gt 300 ]; then echo "no '$2' in $1"; cat "$1"; return 1; fi
		sleep 0.1
	done
}
ip link set lo up
"$BIN" dht-node --listen '[::1]:6881' > "$DIR/node.out" 2>&1 & pids="$pids $!"
wait_for "$DIR/node.out" "listening" || exit 1
"$BIN" seed "$DIR/six.bin" --listen :0 --dht-bootstrap '[::1]:6881' > "$DIR/seed.out" 2>&1 & pids="$pids $!"
wait_for "$DIR/seed.out" "magnet:" || exit 1
magnet=$(sed -n 's/^magnet: //p' "$DIR/seed.out")
timeout 30 "$BIN" download "$magnet" -o "$DIR/out" --listen :0 --dht-bootstrap '[::1]:6881' --json -v 2> "$DIR/dl.err"
echo "download exit=$?"
`
	ctx, cancel := context.WithTimeout(context.Background(), dhtTestTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-rn", "sh", "-c", script)
	killGroupOnCancel(cmd)
	cmd.Env = append(os.Environ(), "BIN="+bin, "DIR="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	out, err := cmd.CombinedOutput()
	dl, _ := os.ReadFile(filepath.Join(dir, "dl.err"))
	if err != nil || !strings.Contains(string(out), "download exit=0") {
		t.Fatalf("download over IPv6 failed: %v\n%s\n--- download\n%s", err, out, logLines(dl))
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", "six.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs: %v", err)
	}
	if !strings.Contains(string(dl), `"dht":`) {
		t.Fatalf("no address found by the DHT:\n%s", logLines(dl))
	}
}
