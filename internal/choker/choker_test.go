package choker

import (
	"testing"
	"time"
)

func ids(m map[int]bool) []int {
	var out []int
	for id := range 100 {
		if m[id] {
			out = append(out, id)
		}
	}
	return out
}

func TestFewInterestedAllUnchoked(t *testing.T) {
	c := New(4, 1)
	now := time.Unix(1000, 0)
	peers := []Peer{{ID: 0, Interested: true}, {ID: 1}, {ID: 2, Interested: true}}
	got := c.Rechoke(now, peers)
	if len(got) != 2 || !got[0] || !got[2] {
		t.Fatalf("unchoked %v, want 0 and 2", ids(got))
	}
}

func TestFastestGetSlotsSnubbedLast(t *testing.T) {
	c := New(2, 1)
	now := time.Unix(1000, 0)
	peers := []Peer{
		{ID: 0, Interested: true, Rate: 100},
		{ID: 1, Interested: true, Rate: 900, Snubbed: true},
		{ID: 2, Interested: true, Rate: 500},
		{ID: 3, Interested: true, Rate: 300},
		{ID: 4, Interested: true, Rate: 50},
	}
	got := c.Rechoke(now, peers)
	if !got[2] || !got[3] || len(got) != 3 {
		t.Fatalf("unchoked %v: want the two fastest unsnubbed (2, 3) and one optimistic", ids(got))
	}
	if o := c.Optimistic(); o == 2 || o == 3 || !got[o] {
		t.Fatalf("optimistic %d", o)
	}
}

func TestOptimisticRotatesEveryInterval(t *testing.T) {
	c := New(1, 7)
	now := time.Unix(1000, 0)
	var peers []Peer
	for i := range 10 {
		peers = append(peers, Peer{ID: i, Interested: true, Rate: float64(100 - i), ConnectedAt: now.Add(-time.Hour)})
	}
	c.Rechoke(now, peers)
	first := c.Optimistic()
	for s := 10 * time.Second; s < OptimisticInterval; s += 10 * time.Second {
		c.Rechoke(now.Add(s), peers)
		if c.Optimistic() != first {
			t.Fatalf("optimistic changed after %v", s)
		}
	}
	seen := map[int]bool{first: true}
	for k := 1; k <= 20; k++ {
		c.Rechoke(now.Add(time.Duration(k)*OptimisticInterval), peers)
		seen[c.Optimistic()] = true
	}
	if len(seen) < 4 {
		t.Fatalf("optimistic unchoke visited only %d peers in 20 rounds", len(seen))
	}
}

// New peers are several times as likely to be the optimistic unchoke.
func TestOptimisticFavoursNewPeers(t *testing.T) {
	start := time.Unix(10000, 0)
	c := New(1, 3)
	newCount := 0
	const rounds = 4000
	for k := range rounds {
		now := start.Add(time.Duration(k) * OptimisticInterval)
		peers := []Peer{{ID: 0, Interested: true, Rate: 1000, ConnectedAt: now.Add(-time.Hour)}}
		for i := 1; i <= 8; i++ {
			age := time.Hour
			if i <= 4 {
				age = time.Second
			}
			peers = append(peers, Peer{ID: i, Interested: true, ConnectedAt: now.Add(-age)})
		}
		c.Rechoke(now, peers)
		if o := c.Optimistic(); o >= 1 && o <= 4 {
			newCount++
		}
	}
	// 4 new peers of weight 3 against 4 old of weight 1: 75% expected.
	if share := float64(newCount) / rounds; share < 0.68 || share > 0.82 {
		t.Fatalf("new peers were optimistic %.0f%% of the time, want ~75%%", share*100)
	}
}

func TestForgetOptimistic(t *testing.T) {
	c := New(1, 1)
	now := time.Unix(1000, 0)
	peers := []Peer{{ID: 0, Interested: true, Rate: 10}, {ID: 1, Interested: true}, {ID: 2, Interested: true}}
	c.Rechoke(now, peers)
	o := c.Optimistic()
	c.Forget(o)
	if c.Optimistic() != -1 {
		t.Fatal("forgotten optimistic kept")
	}
}

// Local peers take all rate slots but one, however slow; the last goes by
// rate over everyone, and a snubbed local peer gets no preference.
func TestLocalPeersFirst(t *testing.T) {
	now := time.Unix(1000, 0)
	var peers []Peer
	for i := range 6 {
		peers = append(peers, Peer{ID: i, Interested: true, Rate: float64(100 + i), Local: true, ConnectedAt: now.Add(-time.Hour)})
	}
	peers[0].Snubbed = true
	for i := 6; i < 12; i++ {
		peers = append(peers, Peer{ID: i, Interested: true, Rate: float64(1000 + i), ConnectedAt: now.Add(-time.Hour)})
	}
	c := New(4, 1)
	got := c.Rechoke(now, peers)
	local, remote := 0, 0
	for id := range got {
		if id == c.Optimistic() {
			continue
		}
		if peers[id].Local {
			local++
		} else {
			remote++
		}
	}
	if local != 3 || remote != 1 || got[0] && c.Optimistic() != 0 {
		t.Fatalf("rate slots: %d local, %d remote (%v); want the 3 fastest unsnubbed local and the fastest remote", local, remote, got)
	}
	for _, id := range []int{5, 4, 3, 11} {
		if !got[id] {
			t.Errorf("peer %d choked; unchoked %v", id, got)
		}
	}
}
