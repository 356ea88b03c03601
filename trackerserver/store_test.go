package trackerserver

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// checkSwarm fails if sw's indexes and counts disagree with its lists.
func checkSwarm(t *testing.T, sw *swarm) {
	t.Helper()
	hosts := map[[16]byte]int{}
	seeders := 0
	for k := range sw.sets {
		ps := &sw.sets[k]
		if ps.index != nil && len(ps.index) != len(ps.list) {
			t.Fatalf("set %d: index of %d, list of %d", k, len(ps.index), len(ps.list))
		}
		for i := range ps.list {
			key := ps.list[i].setKey()
			if j, ok := ps.lookup(&key); !ok || j != int32(i) {
				t.Fatalf("set %d: peer %d found at %d, %v", k, i, j, ok)
			}
			if ps.list[i].seeder {
				seeders++
			}
			if setKind(k) != kindWS {
				hosts[hostKey(ps.list[i].addr.Addr())]++
			}
		}
	}
	if seeders != sw.seeders {
		t.Fatalf("%d seeders counted, %d in the lists", sw.seeders, seeders)
	}
	for hk, n := range hosts {
		if got := sw.hostCount(hk); got != n {
			t.Fatalf("host %x: count %d, %d in the lists", hk, got, n)
		}
	}
	if sw.perIP != nil {
		for hk, n := range sw.perIP {
			if hosts[hk] != int(n) {
				t.Fatalf("host %x: map says %d, lists %d", hk, n, hosts[hk])
			}
		}
	}
}

// TestStoreInvariants: random announces, restarts and stops from a few
// hosts keep the small-set scans, the indexes, the per-host counts and the
// counters in step, across the lines where indexes are built and dropped.
func TestStoreInvariants(t *testing.T) {
	s := New(Config{MaxPeersPerTorrent: 40, MaxPeersPerIP: 6, NewTorrentRate: -1})
	defer s.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	ihs := [][20]byte{hash20(1), hash20(2)}
	for range 20_000 {
		ih := ihs[rng.IntN(len(ihs))]
		id := peerIDn(rng.IntN(200))
		ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(12))})
		if rng.IntN(4) == 0 {
			ip = netip.AddrFrom16([16]byte{0x20, 0x01, 7: byte(rng.IntN(3)), 15: byte(rng.IntN(5))})
		}
		kind := kindV4
		if ip.Is6() {
			kind = kindV6
		}
		ev := []event{eventStarted, eventUpdate, eventCompleted, eventStopped}[rng.IntN(4)]
		left := []leftState{leftUnknown, leftZero, leftSome}[rng.IntN(3)]
		p := announceParams{infoHash: &ih, peerID: &id, kind: kind, proto: protoHTTP, event: ev, left: left,
			addr: netip.AddrPortFrom(ip, uint16(6881+rng.IntN(8))), now: s.now(), ttl: s.ttlHTTP, numWant: 5, otherKind: -1, mayInsert: true}
		res, err := s.store.announce(&p, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[netip.AddrPort]bool{}
		for _, pp := range res.picked {
			if seen[pp.addr] || pp.addr == p.addr {
				t.Fatalf("picked %v twice or the asker's own (%v)", pp.addr, p.addr)
			}
			seen[pp.addr] = true
		}
		if res.sw != nil {
			checkSwarm(t, res.sw)
			if n := res.sw.size(); n > 40 {
				t.Fatalf("swarm of %d", n)
			}
		}
	}
	st := s.Stats()
	var peers, active int64
	for _, ih := range ihs {
		c := s.store.scrape(&ih, protoHTTP)
		peers += int64(c.complete + c.incomplete)
		if c.complete+c.incomplete > 0 {
			active++
		}
	}
	if st.Peers != peers || st.ActiveTorrents != active {
		t.Fatalf("stats %+v; the swarms hold %d peers, %d of them have any", st, peers, active)
	}
}
