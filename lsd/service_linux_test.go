package lsd

import (
	"net/netip"
	"os"
	"os/exec"
	"slices"
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
// multicast range, so announces never leave the namespace. For IPv6, where
// the host has it: an address on lsd0 (no duplicate detection, so it is
// usable at once), and none on lsd1, so that lsd0 alone has the ff00::/8
// multicast route.
const netnsSetup = `set -e
ip link set lo up
ip link add lsd0 type veth peer name lsd1
ip addr add 10.77.0.1/24 dev lsd0
ip link set lsd1 up
ip link set lsd0 up
ip route add 224.0.0.0/4 dev lsd0
if [ -d /proc/sys/net/ipv6/conf/lsd1 ]; then
	echo 1 > /proc/sys/net/ipv6/conf/lsd1/disable_ipv6
	ip -6 addr add fd77::1/64 dev lsd0 nodad
fi
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
// own announces: on both groups (the default), on IPv4 only, on IPv6 only.
func TestServicesFindEachOther(t *testing.T) {
	if runInNetns(t, "TestServicesFindEachOther") {
		return
	}
	for _, tc := range []struct {
		name, group string
		want        []string // the groups joined
	}{
		{"both", "", []string{Group4, Group6}},
		{"ipv4", Group4, []string{Group4}},
		{"ipv6", Group6, []string{Group6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.group == Group6 || tc.group == "" {
				if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
					t.Skip("this kernel has no IPv6")
				}
			}
			servicesFindEachOther(t, tc.group, tc.want)
		})
	}
}

func servicesFindEachOther(t *testing.T, group string, wantGroups []string) {
	var a, b, shared metainfo.Hash
	a[0], b[0], shared[0] = 1, 2, 3
	type found struct {
		ih   metainfo.Hash
		port uint16
	}
	var mu sync.Mutex
	seen := map[string][]found{}
	families := map[string]bool{} // "4", "6": the address families peers came from
	start := func(name string, port uint16, hashes ...metainfo.Hash) *Service {
		s, err := Start(Config{
			Port:     port,
			Group:    group,
			Torrents: func() []metainfo.Hash { return hashes },
			OnPeer: func(ih metainfo.Hash, addr netip.AddrPort) {
				mu.Lock()
				seen[name] = append(seen[name], found{ih, addr.Port()})
				if addr.Addr().Is4() {
					families["4"] = true
				} else {
					families["6"] = true
				}
				mu.Unlock()
			},
			Poll: 50 * time.Millisecond, Interval: time.Hour, MinInterval: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Groups(); !slices.Equal(got, wantGroups) {
			t.Fatalf("joined %q, want %q", got, wantGroups)
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
	mu.Lock()
	defer mu.Unlock()
	for _, g := range wantGroups {
		fam := "4"
		if g == Group6 {
			fam = "6"
		}
		if !families[fam] {
			t.Errorf("no peer found over IPv%s (%s)", fam, g)
		}
	}
}
