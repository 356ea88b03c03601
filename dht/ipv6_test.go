package dht

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
)

// startNode6 starts a node on an IPv6 loopback socket.
func startNode6(t *testing.T, boot []string, port uint16) *testNode {
	t.Helper()
	conn, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	tn := &testNode{ip: "::1", port: port, peers: make(chan found, 1024)}
	n, err := Start(Config{
		Conn: conn, Bootstrap: boot, Port: port, Poll: 50 * time.Millisecond, QueryTimeout: testQueryTimeout,
		Torrents: func() []Torrent {
			tn.mu.Lock()
			defer tn.mu.Unlock()
			return append([]Torrent(nil), tn.torrents...)
		},
		OnPeers: func(ih metainfo.Hash, p []netip.AddrPort) {
			select {
			case tn.peers <- found{ih, p}:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tn.Node = n
	t.Cleanup(func() { closeNode(t, n) })
	return tn
}

// Over IPv6 (BEP 32, as the library implements it), a peer announced by
// one node is found by another: nodes6 and 18-byte peer values.
func TestLookupOverIPv6(t *testing.T) {
	root := startNode6(t, nil, 0)
	nodes := []*testNode{root}
	for i := 1; i < 4; i++ {
		nodes = append(nodes, startNode6(t, []string{root.addr()}, uint16(8000+i)))
	}
	for _, tn := range nodes {
		tn.waitBootstrapped(t)
	}
	ih := randomHash()
	nodes[1].add(ih, true)
	nodes[3].add(ih, false)
	nodes[3].waitPeer(t, ih, netip.MustParseAddrPort("[::1]:8001"), waitTimeout)
}
