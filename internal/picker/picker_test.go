package picker

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func all(int) bool { return true }

// TestPick walks one picker through the rules a pick follows, each step
// building on the one before.
func TestPick(t *testing.T) {
	p := New(8, 1)
	for i := 0; i < 8; i++ {
		p.SetPriority(i, Normal)
		for k := 0; k < 8-i; k++ {
			p.PeerHas(i) // piece 7 is rarest
		}
	}
	steps := []struct {
		name    string
		change  func()
		peerHas func(int) bool
		skip    func(int) bool
		want    int // -1: nothing
	}{
		{"rarest first", func() {}, all, nil, 7},
		{"high beats a rarer normal", func() { p.SetPriority(2, High) }, all, nil, 2},
		{"readahead in index order", func() { p.SetPriority(5, Readahead); p.SetPriority(4, Readahead) }, all, nil, 4},
		{"now first", func() { p.SetPriority(6, Now) }, all, nil, 6},
		{"had pieces and skipped ones are passed over", func() { p.SetHave(6, true) }, all, func(i int) bool { return i == 4 }, 5},
		{"only what the peer has", func() {}, func(i int) bool { return i == 0 }, nil, 0},
		{"a piece had again is picked again", func() { p.SetHave(6, false) }, all, nil, 6},
		{"nothing wanted, nothing picked", func() {
			for i := 0; i < 8; i++ {
				p.SetPriority(i, None)
			}
		}, all, nil, -1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change()
			i, ok := p.Pick(s.peerHas, s.skip)
			if !ok {
				i = -1
			}
			if i != s.want {
				t.Fatalf("Pick = %d, want %d", i, s.want)
			}
			j, ok, capped := p.PickBounded(s.peerHas, s.skip, DefaultProbes)
			if !ok {
				j = -1
			}
			if j != s.want || capped {
				t.Fatalf("PickBounded = %d (capped %v), want %d", j, capped, s.want)
			}
		})
	}
}

// TestRandomTieBreak checks that equal candidates are picked in no fixed
// order, so peers starting together ask for different pieces.
func TestRandomTieBreak(t *testing.T) {
	cases := []struct {
		name    string
		peerHas func(int) bool
	}{
		{"seed", all},
		{"peer with the even pieces", func(i int) bool { return i%2 == 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New(100, 42)
			for i := 0; i < 100; i++ {
				p.SetPriority(i, Normal)
			}
			seen := map[int]bool{}
			for k := 0; k < 50; k++ {
				i, _ := p.Pick(c.peerHas, nil)
				if !c.peerHas(i) {
					t.Fatalf("picked %d, which the peer lacks", i)
				}
				seen[i] = true
			}
			if len(seen) < 20 {
				t.Fatalf("ties broken too predictably: %d distinct picks of 50", len(seen))
			}
		})
	}
}

// TestAvailNeverNegative checks that losing a peer of a piece nobody has
// leaves its availability at zero, and the piece where it was.
func TestAvailNeverNegative(t *testing.T) {
	for _, pr := range []Priority{None, Normal, High, Readahead, Now} {
		t.Run(pr.String(), func(t *testing.T) {
			p := New(4, 1)
			p.SetPriority(3, pr)
			p.PeerHas(3)
			p.PeerLost(3)
			p.PeerLost(3)
			if p.Avail(3) != 0 {
				t.Fatalf("availability %d, want 0", p.Avail(3))
			}
			checkInvariants(t, p)
		})
	}
}

// TestPickBoundedCaps checks that a peer holding only one wanted piece among
// many candidates costs maxProbes looks per call at most (the streaming tiers
// are looked at in full), that such a call says it was capped, and that
// calls made again find the piece.
func TestPickBoundedCaps(t *testing.T) {
	const n, only, limit = 10_000, 7777, 64
	cases := []struct {
		name string
		prio Priority
	}{
		{"normal", Normal},
		{"high", High},
		{"readahead", Readahead},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New(n, 3)
			for i := 0; i < n; i++ {
				p.SetPriority(i, c.prio)
				p.PeerHas(i)
			}
			looks := 0
			peerHas := func(i int) bool { looks++; return i == only }
			calls := 0
			for {
				calls++
				looks = 0
				i, ok, capped := p.PickBounded(peerHas, nil, limit)
				if looks > limit && c.prio < Readahead {
					t.Fatalf("call %d asked peerHas %d times, limit %d", calls, looks, limit)
				}
				if ok {
					if i != only || capped {
						t.Fatalf("got %d (capped %v), want %d", i, capped, only)
					}
					break
				}
				if !capped {
					t.Fatalf("call %d found nothing and was not capped", calls)
				}
				if calls > 100*n/limit {
					t.Fatalf("not found in %d calls", calls)
				}
			}
		})
	}
}

// TestPickBoundedPassesOverUnheld checks that pieces no peer has are not
// picked by PickBounded, and not looked at in the rarest-first tiers.
func TestPickBoundedPassesOverUnheld(t *testing.T) {
	p := New(1000, 1)
	for i := 0; i < 1000; i++ {
		p.SetPriority(i, Normal)
	}
	p.PeerHas(500)
	looks := 0
	i, ok, capped := p.PickBounded(func(i int) bool { looks++; return true }, nil, 10)
	if !ok || i != 500 || capped || looks != 1 {
		t.Fatalf("got %d ok %v capped %v after %d looks, want 500 after 1", i, ok, capped, looks)
	}
}

// TestWanted checks WantedCount and OnWantedChange through every kind of
// change that moves a piece in or out of the wanted set.
func TestWanted(t *testing.T) {
	p := New(10, 1)
	var events []int // +i+1 when wanted, -(i+1) when not
	p.OnWantedChange(func(i int, w bool) {
		if w {
			events = append(events, i+1)
		} else {
			events = append(events, -(i + 1))
		}
	})
	steps := []struct {
		name   string
		change func()
		count  int
		events []int
	}{
		{"priority set", func() { p.SetPriority(1, Normal); p.SetPriority(2, Now) }, 2, []int{2, 3}},
		{"priority raised: no event", func() { p.SetPriority(1, High) }, 2, nil},
		{"piece had", func() { p.SetHave(1, true) }, 1, []int{-2}},
		{"had piece's priority changed: no event", func() { p.SetPriority(1, Normal) }, 1, nil},
		{"had piece lost", func() { p.SetHave(1, false) }, 2, []int{2}},
		{"set to none", func() { p.SetPriority(2, None) }, 1, []int{-3}},
		{"same again: no event", func() { p.SetPriority(2, None); p.SetHave(3, false) }, 1, nil},
		{"peers change no wants", func() { p.PeerHas(1); p.PeerLost(1) }, 1, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			events = nil
			s.change()
			if p.WantedCount() != s.count {
				t.Errorf("WantedCount = %d, want %d", p.WantedCount(), s.count)
			}
			if !slices.Equal(events, s.events) {
				t.Errorf("events %v, want %v", events, s.events)
			}
		})
	}
}

// TestBucketsGiveMemoryBack checks that buckets shrink once the pieces have
// moved on, as they do when peers arrive one after another.
func TestBucketsGiveMemoryBack(t *testing.T) {
	const n, peers = 20_000, 20
	p := New(n, 1)
	for i := 0; i < n; i++ {
		p.SetPriority(i, Normal)
	}
	for k := 0; k < peers; k++ {
		for i := 0; i < n; i++ {
			p.PeerHas(i)
		}
	}
	slots := 0
	for _, b := range p.rare[Normal-Normal] {
		slots += cap(b)
	}
	// Every piece is in the last bucket; the others hold minBucketCap at
	// most, and the last up to twice what it holds (append's growth).
	if max := 2*n + peers*minBucketCap; slots > max {
		t.Fatalf("%d bucket slots for %d pieces, want at most %d", slots, n, max)
	}
	checkInvariants(t, p)
}

// TestHbits checks the hierarchical bitset against a plain set.
func TestHbits(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 4096, 4097, 300_000} {
		t.Run(sizeName(n), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(n), 1))
			h := newHbits(n)
			set := make([]bool, n)
			for op := 0; op < 2000; op++ {
				i := r.IntN(n)
				if r.IntN(2) == 0 {
					h.set(i)
					set[i] = true
				} else {
					h.clear(i)
					set[i] = false
				}
				from := r.IntN(n + 1)
				want := -1
				for j := from; j < n; j++ {
					if set[j] {
						want = j
						break
					}
				}
				if got := h.next(from); got != want {
					t.Fatalf("op %d: next(%d) = %d, want %d", op, from, got, want)
				}
			}
		})
	}
}

// TestPeerLostAllMergesBuckets checks that PeerLostAll leaves pieces no
// peer had at availability 0, together with those it takes down to 0,
// whichever of the two buckets is the larger.
func TestPeerLostAllMergesBuckets(t *testing.T) {
	cases := []struct {
		name  string
		avail []int // per piece, before
	}{
		{"more at 1 than at 0", []int{0, 1, 1, 1, 2}},
		{"more at 0 than at 1", []int{0, 0, 0, 1, 2}},
		{"none at 0", []int{1, 2, 3}},
		{"only at 0", []int{0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := New(len(c.avail), 1)
			for i, a := range c.avail {
				p.SetPriority(i, Normal)
				for range a {
					p.PeerHas(i)
				}
			}
			p.PeerLostAll()
			for i, a := range c.avail {
				if want := max(a-1, 0); p.Avail(i) != want {
					t.Errorf("piece %d: availability %d, want %d", i, p.Avail(i), want)
				}
			}
			checkInvariants(t, p)
		})
	}
}

// TestPicksComeInRuns checks that among equally rare pieces the picker goes
// on from the last pick, so that neighbouring pieces arrive together, while
// two pickers (two clients) start their runs at different pieces.
func TestPicksComeInRuns(t *testing.T) {
	starts := map[int]bool{}
	for seed := uint64(1); seed <= 4; seed++ {
		p := New(1000, seed)
		for i := 0; i < 1000; i++ {
			p.SetPriority(i, Normal)
			p.PeerHas(i)
		}
		under := map[int]bool{}
		skip := func(i int) bool { return under[i] }
		first, _, _ := p.PickBounded(all, skip, DefaultProbes)
		under[first] = true
		starts[first] = true
		next := 0
		last := first
		for k := 0; k < 200; k++ {
			i, ok, _ := p.PickBounded(all, skip, DefaultProbes)
			if !ok {
				t.Fatal("nothing picked")
			}
			if i == last+1 {
				next++
			}
			under[i] = true
			last = i
		}
		// A run breaks only at the last piece (the seeds are fixed, so
		// this is deterministic).
		if next < 190 {
			t.Errorf("seed %d: %d of 200 picks followed the one before", seed, next)
		}
	}
	if len(starts) < 3 {
		t.Errorf("4 pickers started at %d distinct pieces", len(starts))
	}
}

// TestRunsYieldToRarerPieces checks that a run does not go on past a piece
// more common than what the buckets offer.
func TestRunsYieldToRarerPieces(t *testing.T) {
	p := New(100, 7)
	for i := 0; i < 100; i++ {
		p.SetPriority(i, Normal)
		p.PeerHas(i)
		if i%2 == 1 {
			p.PeerHas(i) // odd pieces: two peers have them
		}
	}
	under := map[int]bool{}
	skip := func(i int) bool { return under[i] }
	for k := 0; k < 50; k++ {
		i, ok, _ := p.PickBounded(all, skip, DefaultProbes)
		if !ok || i%2 == 1 {
			t.Fatalf("pick %d: %d (ok %v), want a rarest (even) piece", k, i, ok)
		}
		under[i] = true
	}
}
