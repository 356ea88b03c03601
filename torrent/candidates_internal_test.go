package torrent

import (
	"math/rand/v2"
	"testing"
	"time"
)

// An address that fails every dial is retried at growing intervals: from
// about a second for one the user gave, capped at 30 s and never dropped;
// from about two seconds for one a discovery gave, dropped after
// maxDiscoveredFailures.
func TestRedialBackoffGrows(t *testing.T) {
	for _, tc := range []struct {
		src         PeerSource
		first, most time.Duration
		kept        bool
	}{
		{SourceUser, userRedialFirst, userRedialMax, true},
		{SourceTracker, redialFirst, redialMax, false},
	} {
		t.Run(tc.src.String(), func(t *testing.T) {
			l := newCandidateList(rand.New(rand.NewPCG(1, 2)))
			now := time.Unix(1000, 0)
			c := l.add(tc.src, "127.0.0.1:7000", now)
			var prev time.Duration
			for k := 1; k <= 12; k++ {
				l.dialFailed(c, "connection refused", now)
				if l.get(c.addr) == nil {
					if tc.kept || k != maxDiscoveredFailures {
						t.Fatalf("dropped after %d failures", k)
					}
					return
				}
				wait := c.nextTry.Sub(now)
				ideal := min(tc.first<<(k-1), tc.most)
				if wait < ideal*3/4 || wait > ideal*5/4 {
					t.Fatalf("failure %d: next try in %v, want %v ±25%%", k, wait, ideal)
				}
				if ideal < tc.most && k > 1 && wait <= prev*3/4 {
					t.Fatalf("failure %d: wait %v did not grow from %v", k, wait, prev)
				}
				prev = wait
			}
			if !tc.kept {
				t.Fatal("a discovered address that always fails was never dropped")
			}
			// A success resets it.
			l.connectedTo(c)
			l.disconnected(c, now.Add(-time.Hour), now)
			l.dialFailed(c, "refused", now)
			if w := c.nextTry.Sub(now); w > tc.first*5/4 {
				t.Fatalf("after a success the next failure waits %v", w)
			}
		})
	}
}

// A full share evicts its most-failed address for a newcomer, and the
// user's addresses are never pushed out by a discovery's.
func TestCandidateSharesEvict(t *testing.T) {
	l := newCandidateList(rand.New(rand.NewPCG(3, 4)))
	l.limits[SourcePEX] = 3
	now := time.Unix(1000, 0)
	a := l.add(SourcePEX, "127.0.0.1:1", now)
	l.add(SourcePEX, "127.0.0.1:2", now)
	l.add(SourcePEX, "127.0.0.1:3", now)
	l.dialFailed(a, "refused", now)
	if l.add(SourcePEX, "127.0.0.1:4", now) == nil || l.get(a.addr) != nil {
		t.Fatal("the failing address was not evicted for a newcomer")
	}
	if l.add(SourceUser, "127.0.0.1:9", now) == nil || l.perSrc[SourceUser] != 1 || l.len() != 4 {
		t.Fatalf("a user address was refused: %v", l.countBySource())
	}
}
