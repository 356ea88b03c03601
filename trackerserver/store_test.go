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

// nearSet is a WebSocket peer set of near peers on instance 1 and far ones
// on instances 2 and 3, in a shuffled order; peer i has socket number i+1.
func nearSet(near, far int) *peerSet {
	ps := &peerSet{}
	for i := range near + far {
		inst := uint64(1)
		if i >= near {
			inst = 2 + uint64(i%2)
		}
		var id [20]byte
		id[0], id[1] = byte(i>>8), byte(i)
		ps.add(peer{id: id, ref: connRef{inst: inst, id: uint64(i + 1)}})
	}
	rand.Shuffle(len(ps.list), func(i, j int) { ps.list[i], ps.list[j] = ps.list[j], ps.list[i] })
	for i := range ps.list {
		if ps.index != nil {
			ps.index[ps.list[i].setKey()] = int32(i)
		}
	}
	return ps
}

// TestPickNear: a cluster's WebSocket picks take their far share from other
// instances and the rest from the announcing one, make up a short kind from
// the other, never pick the announcing peer or one peer twice, and are
// random within each kind.
func TestPickNear(t *testing.T) {
	cases := []struct {
		near, far, n, farPicks int
		wantNear, wantFar      int
	}{
		{50, 50, 5, 1, 4, 1},
		{50, 50, 5, 0, 5, 0},
		{50, 50, 5, 5, 0, 5},
		{2, 50, 5, 1, 2, 3},  // few near: far make up the number
		{50, 0, 5, 1, 5, 0},  // no far: all near
		{0, 50, 5, 1, 0, 5},  // no near: all far
		{3, 1, 10, 1, 3, 1},  // a small swarm: everyone
		{50, 50, 5, 9, 0, 5}, // more far asked than picks
	}
	for _, c := range cases {
		for skipSelf := range 2 {
			ps := nearSet(c.near, c.far)
			skip := int32(-1)
			if skipSelf == 1 {
				// Skip a near peer: the announcing one.
				for i := range ps.list {
					if ps.list[i].ref.inst == 1 {
						skip = int32(i)
						break
					}
				}
			}
			availNear := c.near
			if skip >= 0 {
				availNear--
			}
			// What the walk should give: each kind's share, the short one's
			// shortfall made up by the other.
			wantFar := min(c.farPicks, c.n, c.far)
			wantNear := min(availNear, c.n-wantFar)
			wantFar = min(c.far, c.n-wantNear)
			if skipSelf == 0 && (wantNear != c.wantNear || wantFar != c.wantFar) {
				t.Fatalf("%+v: the table says %d and %d", c, wantNear, wantFar)
			}
			for range 50 {
				got := ps.pickNear(nil, c.n, skip, 1, c.farPicks)
				seen := map[uint64]bool{}
				nearN := 0
				for _, p := range got {
					if seen[p.ref.id] {
						t.Fatalf("%+v: socket %d picked twice", c, p.ref.id)
					}
					seen[p.ref.id] = true
					if skip >= 0 && p.ref == ps.list[skip].ref {
						t.Fatalf("%+v: the announcing peer was picked", c)
					}
					if p.ref.inst == 1 {
						nearN++
					}
				}
				if nearN != wantNear || len(got)-nearN != wantFar {
					t.Fatalf("%+v skip %d: %d near and %d far picked, want %d and %d",
						c, skip, nearN, len(got)-nearN, wantNear, wantFar)
				}
			}
		}
	}

	// Random within each kind: 500 picks of 4 near among 50 reach every
	// near peer (each is missed by one pick with p = 0.92; by all, 1e-18).
	ps := nearSet(50, 50)
	hit := map[uint64]bool{}
	for range 500 {
		for _, p := range ps.pickNear(nil, 5, -1, 1, 1) {
			hit[p.ref.id] = true
		}
	}
	if len(hit) != 100 {
		t.Fatalf("%d distinct peers picked over 500 picks, want all 100", len(hit))
	}

	// One near peer in a big swarm: the walk is bounded, so it may be
	// missed, but the picks are always full.
	ps = nearSet(1, 20000)
	for range 20 {
		if got := ps.pickNear(nil, 5, -1, 1, 1); len(got) != 5 {
			t.Fatalf("%d picks in a swarm of 20,001", len(got))
		}
	}
}

// TestPickFar: the far picks of an announce whose instance picked its near
// peers itself: only far peers, each once, up to what there is, all of
// them reachable.
func TestPickFar(t *testing.T) {
	for _, c := range []struct{ near, far, n, want int }{
		{50, 50, 1, 1}, {50, 50, 5, 5}, {50, 2, 5, 2}, {50, 0, 5, 0}, {0, 3, 5, 3}, {50, 50, 0, 0},
	} {
		ps := nearSet(c.near, c.far)
		for range 50 {
			got := ps.pickFar(nil, c.n, -1, 1)
			seen := map[connRef]bool{}
			for _, p := range got {
				if p.ref.inst == 1 || seen[p.ref] {
					t.Fatalf("%+v: picked %+v (near, or twice)", c, p.ref)
				}
				seen[p.ref] = true
			}
			if len(got) != c.want {
				t.Fatalf("%+v: %d far picks, want %d", c, len(got), c.want)
			}
		}
	}
	ps := nearSet(50, 50)
	hit := map[uint64]bool{}
	for range 2000 { // each missed by all with p = 0.98^2000, 3e-18
		for _, p := range ps.pickFar(nil, 1, -1, 1) {
			hit[p.ref.id] = true
		}
	}
	if len(hit) != 50 {
		t.Fatalf("%d distinct far peers over 2,000 picks of 1 among 50, want all", len(hit))
	}
}
