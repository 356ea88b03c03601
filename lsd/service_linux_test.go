package lsd

import (
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/testenv"
	"github.com/swarmcast/swarmcast/metainfo"
)

// inNetnsEnv marks the copy of the test binary that runs inside the
// network namespace.
const inNetnsEnv = "SWARMCAST_LSD_NETNS"

// netnsSetup gives a fresh network namespace a multicast-capable link: a
// veth pair (loopback has no multicast), an address, and a route for the
// multicast range, so announces never leave the namespace.
const netnsSetup = `set -e
ip link set lo up
ip link add lsd0 type veth peer name lsd1
ip addr add 10.77.0.1/24 dev lsd0
ip link set lsd1 up
ip link set lsd0 up
ip route add 224.0.0.0/4 dev lsd0
exec "$@"`

// runInNetns runs the named test of this binary in a network namespace of
// its own (unshare -rn); it reports false when this process is that copy.
func runInNetns(t *testing.T, name string) bool {
	t.Helper()
	if os.Getenv(inNetnsEnv) == "1" {
		return false
	}
	testenv.NeedNamespace(t, "-rn", "ip")
	cmd := exec.Command("unshare", "-rn", "sh", "-c", netnsSetup, "sh", os.Args[0], "-test.run", "^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in the namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed in its network namespace: %v", err)
	}
	return true
}

// Two services in one namespace find each other's torrents, and skip their
// own announces.
func TestServicesFindEachOther(t *testing.T) {
	if runInNetns(t, "TestServicesFindEachOther") {
		return
	}
	var a, b, shared metainfo.Hash
	a[0], b[0], shared[0] = 1, 2, 3
	type found struct {
		ih   metainfo.Hash
		port uint16
	}
	var mu sync.Mutex
	seen := map[string][]found{}
	start := func(name string, port uint16, hashes ...metainfo.Hash) *Service {
		s, err := Start(Config{
			Port:     port,
			Torrents: func() []metainfo.Hash { return hashes },
			OnPeer: func(ih metainfo.Hash, addr netip.AddrPort) {
				mu.Lock()
				seen[name] = append(seen[name], found{ih, addr.Port()})
				mu.Unlock()
			},
			Poll: 50 * time.Millisecond, Interval: time.Hour, MinInterval: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	start("one", 1111, a, shared)
	start("two", 2222, b, shared)
	has := func(name string, f found) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, g := range seen[name] {
			if g == f {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !has("one", found{shared, 2222}) || !has("two", found{shared, 1111}) || !has("one", found{b, 2222}) {
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("announces not received: %+v", seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if has("one", found{a, 1111}) || has("two", found{b, 2222}) {
		t.Fatal("a service handled its own announce")
	}

	// A newcomer, long after the others' only periodic announce (their
	// interval is an hour), learns of them: they answer its announce.
	time.Sleep(300 * time.Millisecond)
	start("late", 3333, shared)
	deadline = time.Now().Add(5 * time.Second)
	for !has("late", found{shared, 1111}) || !has("late", found{shared, 2222}) {
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("the newcomer did not hear of the others: %+v", seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
