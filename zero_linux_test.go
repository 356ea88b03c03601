package swarmcast_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast"
	"github.com/swarmcast/swarmcast/internal/testenv"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// zeroChildEnv marks the test binary started by TestZeroConfig inside its
// network namespace.
const zeroChildEnv = "SWARMCAST_TEST_ZERO_CONFIG"

// The zero Config is a working client with the CLI's defaults: port 6881,
// a second client falling back to a free port, local service discovery on
// (two zero-config clients find each other with no address given), the
// DHT on (with the public routers, unreachable here). The clients run in a
// network namespace the test makes (unshare -rn: loopback and a veth pair
// with a multicast route, nothing else), so the zero value's DHT and LSD
// send nothing off the host, and 6881 is free whatever the machine runs.
// The test binary runs itself there (zeroConfigChild).
func TestZeroConfig(t *testing.T) {
	if os.Getenv(zeroChildEnv) != "" {
		zeroConfigChild(t)
		return
	}
	testenv.NeedNamespace(t, "-rn", "ip")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-rn", "sh", "-c", `set -e
ip link set lo up
ip link add lan0 type veth peer name lan1
ip addr add 10.77.0.1/24 dev lan0
ip link set lan1 up
ip link set lan0 up
ip route add 224.0.0.0/4 dev lan0
exec "$0" -test.run '^TestZeroConfig$' -test.v`, os.Args[0])
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), zeroChildEnv+"=1", "XDG_CACHE_HOME="+filepath.Join(dir, "cache"), "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestZeroConfig") {
		t.Fatalf("in the namespace: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// zeroConfigChild runs in the namespace, in a fresh temporary folder.
func zeroConfigChild(t *testing.T) {
	first, err := swarmcast.NewClient(swarmcast.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if got := first.Addr(); !strings.HasSuffix(got, ":6881") || first.DefaultPortErr() != nil {
		t.Fatalf("zero config listens on %s (%v), want port 6881", got, first.DefaultPortErr())
	}
	second, err := swarmcast.NewClient(swarmcast.Config{DataDir: "second"})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if strings.HasSuffix(second.Addr(), ":6881") || !errors.Is(second.DefaultPortErr(), syscall.EADDRINUSE) {
		t.Fatalf("second client on %s (%v): want any other port, and why", second.Addr(), second.DefaultPortErr())
	}
	t.Logf("first on %s, second on %s (%v)", first.Addr(), second.Addr(), second.DefaultPortErr())

	data := bytes.Repeat([]byte("zero value "), 50_000)
	if err := os.WriteFile("zero.bin", data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, mi, err := first.Seed("zero.bin", metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lt, err := second.AddMagnet(mi.Magnet(st.Info()).String(), torrent.AddOptions{Peers: []string{"127.0.0.1:6881"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := lt.WaitComplete(ctx); err != nil {
		t.Fatalf("not complete: %v; %+v", err, lt.Stats())
	}
	got, err := os.ReadFile(filepath.Join("second", "zero.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("second/zero.bin differs: %v", err)
	}

	// Local service discovery: the second client asks for a torrent it
	// knows by info hash alone, then the first seeds it, announces it on
	// the local network at once, and is found.
	local := bytes.Repeat([]byte("found locally "), 40_000)
	if err := os.WriteFile("local.bin", local, 0o644); err != nil {
		t.Fatal(err)
	}
	lmi, _, err := metainfo.Create("local.bin", metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lt, err = second.AddMagnet("magnet:?xt=urn:btih:"+lmi.HashInfoBytes().String(), torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := first.Seed("local.bin", metainfo.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := lt.WaitComplete(ctx); err != nil {
		t.Fatalf("not found by LSD: %v; %+v", err, lt.Stats())
	}
	if s := lt.Stats(); s.CandidatesBySource["lsd"] == 0 {
		t.Fatalf("complete, but no address came from LSD: %+v", s.CandidatesBySource)
	}
	got, err = os.ReadFile(filepath.Join("second", "local.bin"))
	if err != nil || !bytes.Equal(got, local) {
		t.Fatalf("second/local.bin differs: %v", err)
	}

	// The DHT is on by default: a client with only a logger added says it
	// started a node on each address family.
	var log syncBuffer
	third, err := swarmcast.NewClient(swarmcast.Config{DataDir: "third", Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	third.Close()
	if n := strings.Count(log.String(), "DHT on"); n != 2 {
		t.Fatalf("%d DHT nodes started by default, want 2 (udp4 and udp6):\n%s", n, log.String())
	}
}
