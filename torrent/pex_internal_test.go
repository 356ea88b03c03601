package torrent

import (
	"net/netip"
	"testing"

	"github.com/swarmcast/swarmcast/peerwire"
)

func TestPEXDelta(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:1")
	b := netip.MustParseAddrPort("10.0.0.2:2")
	c := netip.MustParseAddrPort("[2001:db8::3]:3")
	self := netip.MustParseAddrPort("10.0.0.9:9")
	current := map[netip.AddrPort]peerwire.PEXFlags{a: peerwire.PEXSeed, c: peerwire.PEXReachable, self: 0}
	sent := map[netip.AddrPort]struct{}{a: {}, b: {}}
	x := pexDelta(sent, current, self)
	if len(x.Added) != 1 || x.Added[0].Addr != c || x.Added[0].Flags != peerwire.PEXReachable {
		t.Errorf("added %v, want only %v (reachable): a was sent before, the peer is not told of itself", x.Added, c)
	}
	if len(x.Dropped) != 1 || x.Dropped[0] != b {
		t.Errorf("dropped %v, want %v", x.Dropped, b)
	}
	// At most 50 a message each way.
	many := map[netip.AddrPort]peerwire.PEXFlags{}
	gone := map[netip.AddrPort]struct{}{}
	for i := range 120 {
		many[netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 1)] = 0
		gone[netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, 0, byte(i)}), 1)] = struct{}{}
	}
	x = pexDelta(gone, many, self)
	if len(x.Added) != pexPerMessage || len(x.Dropped) != pexPerMessage {
		t.Errorf("%d added, %d dropped; want %d of each", len(x.Added), len(x.Dropped), pexPerMessage)
	}
}

func TestPEXAcceptable(t *testing.T) {
	public := netip.MustParseAddr("203.0.113.5")
	private := netip.MustParseAddr("192.168.1.4")
	loop := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		from netip.Addr
		a    string
		want bool
	}{
		{public, "198.51.100.7:6881", true},
		{public, "[2001:db8::1]:6881", true},
		{public, "198.51.100.7:0", false},
		{public, "0.0.0.0:6881", false},
		{public, "224.0.0.1:6881", false},
		{public, "255.255.255.255:6881", false},
		{public, "127.0.0.1:22", false},     // a remote peer naming our loopback
		{public, "192.168.1.1:80", false},   // or our network
		{public, "[fe80::1]:6881", false},   // or our link
		{private, "192.168.1.9:6881", true}, // a peer on our network naming another
		{loop, "127.0.0.2:6881", true},
		{loop, "[::ffff:127.0.0.3]:6881", true},
		{private, "127.0.0.1:6881", false},
	}
	for _, c := range cases {
		if got := pexAcceptable(c.from, netip.MustParseAddrPort(c.a)); got != c.want {
			t.Errorf("from %v: %s acceptable %v, want %v", c.from, c.a, got, c.want)
		}
	}
}
