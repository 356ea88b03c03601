package dht

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/swarmcast/swarmcast/metainfo"
)

// Closed nodes leave no goroutine behind (queries in flight end within
// testQueryTimeout, well inside goleak's retries).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testQueryTimeout is a query's timeout on loopback, where answers take
// microseconds (but a loaded 2-core machine can hold one up a while).
const testQueryTimeout = 500 * time.Millisecond

// closeNode closes n and waits until its queries in flight have ended: the
// library's queries for table upkeep take no context, so each ends only at
// its timeout, after Close has returned. Waiting here keeps goleak's check
// about our goroutines, not the library's timers.
func closeNode(t testing.TB, n *Node) error {
	err := n.Close()
	deadline := time.Now().Add(2 * testQueryTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n.server.Stats().OutstandingTransactions > 0 {
		if time.Now().After(deadline) {
			t.Errorf("queries still in flight %v after Close", 2*testQueryTimeout)
			break
		}
		<-tick.C
	}
	return err
}

// waitTimeout bounds every wait of these tests.
const waitTimeout = 10 * time.Second

// testNode is a Node on its own loopback address (127.0.0.N), as a host of
// its own would be: per-IP limits then see one node per address.
type testNode struct {
	*Node
	ip    string
	port  uint16 // announced
	peers chan found

	mu       sync.Mutex
	torrents []Torrent
}

type found struct {
	ih    metainfo.Hash
	peers []netip.AddrPort
}

var nextIP struct {
	sync.Mutex
	n int
}

// loopbackIP returns a fresh 127.0.0.N address (N from 2 to 254, then again).
func loopbackIP() string {
	nextIP.Lock()
	defer nextIP.Unlock()
	nextIP.n = nextIP.n%250 + 1
	return fmt.Sprintf("127.0.%d.%d", 10+nextIP.n/250, 1+nextIP.n)
}

type nodeOpts struct {
	boot      []string
	file      string
	port      uint16
	ip        string
	poll      time.Duration // zero: 50 ms
	dontClose bool
}

func startTestNode(t testing.TB, o nodeOpts) *testNode {
	t.Helper()
	ip := o.ip
	if ip == "" {
		ip = loopbackIP()
	}
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{ip: ip, port: o.port, peers: make(chan found, 1024)}
	poll := o.poll
	if poll == 0 {
		poll = 50 * time.Millisecond
	}
	n, err := Start(Config{
		Conn:      conn,
		Bootstrap: o.boot,
		NodesFile: o.file,
		Port:      o.port,
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
		Poll:         poll,
		QueryTimeout: testQueryTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	tn.Node = n
	if !o.dontClose {
		t.Cleanup(func() { closeNode(t, n) })
	}
	return tn
}

func (tn *testNode) addr() string { return tn.Addr().String() }

func (tn *testNode) add(ih metainfo.Hash, announce bool) {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	tn.torrents = append(tn.torrents, Torrent{InfoHash: ih, Announce: announce})
}

// waitPeer waits until tn's lookups hand on want for ih.
func (tn *testNode) waitPeer(t testing.TB, ih metainfo.Hash, want netip.AddrPort, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f := <-tn.peers:
			for _, p := range f.peers {
				if f.ih == ih && p == want {
					return
				}
			}
		case <-deadline:
			t.Fatalf("node %s: no lookup found peer %v for %s within %v; stats %+v", tn.addr(), want, ih, timeout, tn.Stats())
		}
	}
}

// waitBootstrapped waits for the node's bootstrap to end.
func (tn *testNode) waitBootstrapped(t testing.TB) {
	t.Helper()
	select {
	case <-tn.Bootstrapped():
	case <-time.After(waitTimeout):
		t.Fatalf("node %s did not bootstrap within %v", tn.addr(), waitTimeout)
	}
}

func randomHash() metainfo.Hash {
	var h metainfo.Hash
	for i := range h {
		h[i] = byte(time.Now().UnixNano() >> (i % 8 * 8))
	}
	return h
}

// startNetwork starts a bootstrap node and n-1 nodes that bootstrap from
// it, and waits until all have bootstrapped.
func startNetwork(t testing.TB, n int) []*testNode {
	t.Helper()
	root := startTestNode(t, nodeOpts{})
	nodes := []*testNode{root}
	for i := 1; i < n; i++ {
		nodes = append(nodes, startTestNode(t, nodeOpts{boot: []string{root.addr()}, port: uint16(7000 + i)}))
	}
	for _, tn := range nodes {
		tn.waitBootstrapped(t)
	}
	return nodes
}

// A node that announces a torrent is found by another node's lookup,
// through a third node that neither knew at start: the peer arrives with
// the announcing node's IP and the TCP port it announced.
func TestLookupFindsAnnouncedPeer(t *testing.T) {
	nodes := startNetwork(t, 5)
	ih := randomHash()
	seed, leech := nodes[1], nodes[4]
	seed.add(ih, true)
	leech.add(ih, false)
	want := netip.AddrPortFrom(netip.MustParseAddr(seed.ip), 7001)
	leech.waitPeer(t, ih, want, waitTimeout)
	if st := leech.Stats(); st.Lookups == 0 || st.PeersFound == 0 {
		t.Fatalf("stats say no lookup found peers: %+v", st)
	}
}

// A torrent not listed by Config.Torrents (a private one: BEP 27) is never
// announced: the announcing node's peers are absent for it however long
// the other looks, while the public torrent it announces is found.
func TestUnlistedTorrentNotAnnounced(t *testing.T) {
	nodes := startNetwork(t, 4)
	public, private := randomHash(), randomHash()
	private[0] ^= 0xff
	seed, leech := nodes[1], nodes[3]
	seed.add(public, true) // the private one is not listed
	leech.add(private, false)
	leech.add(public, false)
	leech.waitPeer(t, public, netip.AddrPortFrom(netip.MustParseAddr(seed.ip), 7001), waitTimeout)
	for _, tn := range nodes {
		tn.store.mu.Lock()
		_, ok := tn.store.torrents[private]
		tn.store.mu.Unlock()
		if ok {
			t.Fatalf("node %s stores peers for the unlisted torrent", tn.addr())
		}
	}
}

// A node restarted with its saved routing table and no bootstrap node finds
// the peers of a torrent announced meanwhile.
func TestRestartWithoutBootstrap(t *testing.T) {
	nodes := startNetwork(t, 6)
	file := filepath.Join(t.TempDir(), "nodes")
	ip := loopbackIP()
	first := startTestNode(t, nodeOpts{boot: []string{nodes[0].addr()}, file: file, ip: ip, dontClose: true})
	first.waitBootstrapped(t)
	if st := first.Stats(); st.Nodes < 2 {
		t.Fatalf("first run knows %d nodes after bootstrap", st.Nodes)
	}
	if err := closeNode(t, first.Node); err != nil {
		t.Fatal(err)
	}
	saved, err := LoadNodes(file)
	if err != nil || len(saved) < 2 {
		t.Fatalf("saved table: %d nodes, %v", len(saved), err)
	}
	ih := randomHash()
	nodes[2].add(ih, true)
	again := startTestNode(t, nodeOpts{file: file, ip: ip})
	again.add(ih, false)
	again.waitPeer(t, ih, netip.AddrPortFrom(netip.MustParseAddr(nodes[2].ip), 7002), waitTimeout)
}

// A running node saves its table every SaveInterval, not only on Close
// (a kill -9 would lose it).
func TestTableSavedWhileRunning(t *testing.T) {
	nodes := startNetwork(t, 3)
	file := filepath.Join(t.TempDir(), "nodes")
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(loopbackIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(Config{Conn: conn, Bootstrap: []string{nodes[0].addr()}, NodesFile: file,
		SaveInterval: 20 * time.Millisecond, QueryTimeout: testQueryTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer closeNode(t, n)
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if saved, err := LoadNodes(file); err == nil && len(saved) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no table saved within %v while the node ran", waitTimeout)
		}
		<-tick.C
	}
}

// A table survives a save and a load unchanged.
func TestNodesFileRoundTrip(t *testing.T) {
	nodes := startNetwork(t, 3)
	file := filepath.Join(t.TempDir(), "sub", "nodes")
	want := nodes[0].server.Nodes()
	if len(want) == 0 {
		t.Fatal("bootstrap node knows no node")
	}
	if err := SaveNodes(file, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadNodes(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %d nodes, saved %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || !got[i].Addr.IP.Equal(want[i].Addr.IP) || got[i].Addr.Port != want[i].Addr.Port {
			t.Fatalf("node %d: loaded %v, saved %v", i, got[i], want[i])
		}
	}
}
