package dht

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/testenv"
)

// privateDHTSize and lookupTrials: the private DHT of 20 nodes, and
// enough lookups for a p95.
const (
	privateDHTSize = 20
	lookupTrials   = 20
	// resolveBudget is the goal: a magnet resolves in ≤ 5 s.
	resolveBudget = 5 * time.Second
)

// measureLookups runs trials on a private DHT of size nodes (each on its own
// loopback address, all bootstrapped from the first): a node announces a
// new torrent, and once a node stores that announce another node, chosen
// far from the first, is given the torrent; the time from then to its first
// peer is one sample. Nodes poll their torrents every DefaultPoll, as a
// client does.
func measureLookups(t testing.TB, size, trials int) []time.Duration {
	root := startTestNode(t, nodeOpts{})
	nodes := []*testNode{root}
	for i := 1; i < size; i++ {
		nodes = append(nodes, startTestNode(t, nodeOpts{boot: []string{root.addr()}, port: uint16(7000 + i), poll: DefaultPoll}))
	}
	for _, tn := range nodes {
		tn.waitBootstrapped(t)
	}
	var took []time.Duration
	for i := range trials {
		ih := randomHash()
		ih[19] = byte(i)
		seed := nodes[1+i%(size-1)]
		leech := nodes[1+(i+size/2)%(size-1)]
		seed.add(ih, true)
		waitStored(t, nodes, ih)
		start := time.Now()
		leech.add(ih, false)
		leech.waitPeer(t, ih, netip.AddrPortFrom(netip.MustParseAddr(seed.ip), seed.port), waitTimeout)
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	return took
}

// waitStored waits until some node stores an announce for ih.
func waitStored(t testing.TB, nodes []*testNode, ih [20]byte) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		for _, tn := range nodes {
			if len(tn.store.GetPeers(ih)) > 0 {
				return
			}
		}
		<-tick.C
	}
	t.Fatalf("no node stored an announce for %x within %v", ih, waitTimeout)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// In a private DHT of 20 nodes, a torrent announced by one node is found
// by another within the 5 s, at the 95th percentile.
func TestPrivateDHTLookupTime(t *testing.T) {
	if testing.Short() {
		t.Skip("20 nodes, 20 lookups")
	}
	took := measureLookups(t, privateDHTSize, lookupTrials)
	p50, p95 := percentile(took, 0.5), percentile(took, 0.95)
	t.Logf("time to first peer over %d lookups in a %d-node DHT: p50 %v, p95 %v, max %v",
		len(took), privateDHTSize, p50.Round(time.Millisecond), p95.Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	if limit := testenv.TimeLimit(resolveBudget, 20*time.Second); p95 > limit {
		t.Fatalf("p95 time to first peer %v, want ≤ %v (goal %v)", p95, limit, resolveBudget)
	}
}

// BenchmarkPrivateDHTLookup reports the time to first peer in a private DHT
// of 20 nodes (p50 and p95 in milliseconds), b.N lookups.
func BenchmarkPrivateDHTLookup(b *testing.B) {
	took := measureLookups(b, privateDHTSize, max(b.N, 2))
	b.ReportMetric(float64(percentile(took, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(took, 0.95).Microseconds())/1000, "p95-ms")
}
