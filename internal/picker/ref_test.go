package picker

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// ref is the reference the picker is checked against: the whole scan the
// picker used to make, returning every best candidate rather than one.
type ref struct {
	avail []int
	prio  []Priority
	have  []bool
}

func newRef(n int) *ref {
	return &ref{avail: make([]int, n), prio: make([]Priority, n), have: make([]bool, n)}
}

func (r *ref) wanted(i int) bool { return !r.have[i] && r.prio[i] != None }

// best returns the pieces a pick may return: the pickable ones of the
// highest tier, and of those the lowest index (streaming tiers) or every one
// of the lowest availability. counted leaves out pieces of availability 0.
func (r *ref) best(peerHas, skip func(int) bool, counted bool) map[int]bool {
	set := map[int]bool{}
	var bestPr Priority
	bestA := 0
	for i := range r.prio {
		pr := r.prio[i]
		if !r.wanted(i) || !peerHas(i) || (skip != nil && skip(i)) || (counted && r.avail[i] == 0) {
			continue
		}
		switch {
		case pr < bestPr:
			continue
		case pr > bestPr:
			clear(set)
			bestPr, bestA = pr, r.avail[i]
		case pr >= Readahead:
			continue // the lowest index is already in
		case r.avail[i] > bestA:
			continue
		case r.avail[i] < bestA:
			clear(set)
			bestA = r.avail[i]
		}
		set[i] = true
	}
	return set
}

// source gives the operations' choices: random ones, or a fuzzer's bytes.
type source interface {
	intn(n int) int
	done() bool
}

type randSource struct {
	r    *rand.Rand
	left int
}

func (s *randSource) intn(n int) int { return s.r.IntN(n) }
func (s *randSource) done() bool     { s.left--; return s.left < 0 }

type byteSource struct{ b []byte }

func (s *byteSource) intn(n int) int {
	if len(s.b) == 0 {
		return 0
	}
	v := int(s.b[0])
	if n > 256 && len(s.b) > 1 {
		v = v<<8 | int(s.b[1])
		s.b = s.b[1:]
	}
	s.b = s.b[1:]
	return v % n
}
func (s *byteSource) done() bool { return len(s.b) == 0 }

// refPeers is how many peers the model keeps; their pieces are recorded
// with PeerHas, so PickBounded's assumption holds for them.
const refPeers = 4

// runAgainstRef applies the source's operations to a picker and the
// reference alike, and fails at the first difference: in any piece's state,
// in WantedCount or the wanted events, in the picker's own invariants, or a
// pick outside the reference's best candidates.
func runAgainstRef(t *testing.T, n int, src source) {
	t.Helper()
	p := New(n, uint64(n))
	r := newRef(n)
	wantedByEvents := make([]bool, n)
	p.OnWantedChange(func(i int, w bool) {
		if wantedByEvents[i] == w {
			t.Fatalf("piece %d: wanted event %v twice", i, w)
		}
		wantedByEvents[i] = w
	})
	peers := make([][]bool, refPeers)
	for k := range peers {
		peers[k] = make([]bool, n)
	}
	for op := 0; !src.done(); op++ {
		i := src.intn(n)
		k := src.intn(refPeers)
		switch src.intn(9) {
		case 0, 1:
			pr := Priority(src.intn(5))
			p.SetPriority(i, pr)
			r.prio[i] = pr
		case 2:
			h := src.intn(3) == 0
			p.SetHave(i, h)
			r.have[i] = h
		case 3:
			if !peers[k][i] {
				peers[k][i] = true
				p.PeerHas(i)
				r.avail[i]++
			}
		case 4: // the peer leaves
			full := !slices.Contains(peers[k], false)
			set := src.intn(2) == 0
			switch {
			case full:
				p.PeerLostAll()
			case set:
				p.PeerLostSet(func(j int) bool { return peers[k][j] })
			}
			for j, h := range peers[k] {
				if h {
					if !full && !set {
						p.PeerLost(j)
					}
					r.avail[j]--
					peers[k][j] = false
				}
			}
		case 5: // the peer has everything
			// The pieces it lacked: all of them at once when it had none.
			if !slices.Contains(peers[k], true) {
				p.PeerHasAll()
			} else {
				p.PeerHasSet(func(j int) bool { return !peers[k][j] })
			}
			for j, h := range peers[k] {
				if !h {
					peers[k][j] = true
					r.avail[j]++
				}
			}
		case 6, 7, 8:
			peerHas := func(j int) bool { return peers[k][j] }
			if src.intn(4) == 0 { // a peer not recorded: Pick only
				mask := src.intn(4) + 1
				peerHas = func(j int) bool { return (j+k)%mask == 0 }
			}
			skipSet := map[int]bool{}
			for range src.intn(4) {
				skipSet[src.intn(n)] = true
			}
			skip := func(j int) bool { return skipSet[j] }
			limit := src.intn(5)
			checkPick(t, op, p, r, peerHas, skip, peers[k], limit)
		}
		for j := 0; j < n; j++ {
			if p.Avail(j) != r.avail[j] || p.Priority(j) != r.prio[j] || p.Have(j) != r.have[j] || p.Wanted(j) != r.wanted(j) {
				t.Fatalf("op %d: piece %d: avail %d prio %v have %v, want %d %v %v", op, j,
					p.Avail(j), p.Priority(j), p.Have(j), r.avail[j], r.prio[j], r.have[j])
			}
			if wantedByEvents[j] != r.wanted(j) {
				t.Fatalf("op %d: piece %d: events say wanted %v", op, j, wantedByEvents[j])
			}
		}
		checkInvariants(t, p)
	}
}

// checkPick checks Pick, and PickBounded when the peer is one the model
// records, against the reference.
func checkPick(t *testing.T, op int, p *Picker, r *ref, peerHas, skip func(int) bool, recorded []bool, limit int) {
	t.Helper()
	best := r.best(peerHas, skip, false)
	i, ok := p.Pick(peerHas, skip)
	if ok != (len(best) > 0) || (ok && !best[i]) {
		t.Fatalf("op %d: Pick = %d, %v; best candidates %v", op, i, ok, best)
	}
	recordedHas := func(j int) bool { return recorded[j] }
	best = r.best(recordedHas, skip, true)
	i, ok, capped := p.PickBounded(recordedHas, skip, limit)
	switch {
	case ok && !best[i]:
		t.Fatalf("op %d: PickBounded(limit %d) = %d; best candidates %v", op, limit, i, best)
	case ok && capped:
		t.Fatalf("op %d: PickBounded(limit %d) found %d and says capped", op, limit, i)
	case !ok && !capped && len(best) > 0:
		t.Fatalf("op %d: PickBounded(limit %d) found none, not capped; best candidates %v", op, limit, best)
	case !ok && capped && limit == 0:
		t.Fatalf("op %d: PickBounded with no limit says capped", op)
	}
}

// checkInvariants checks the picker's own structure: each wanted High or
// Normal piece in the bucket of its availability at the position it
// records, each wanted streaming piece in its tier's set, nothing else.
func checkInvariants(t *testing.T, p *Picker) {
	t.Helper()
	inBuckets := 0
	for tier, buckets := range p.rare {
		for a, b := range buckets {
			for j, i := range b {
				if int(p.pos[i]) != j || !p.inRare(int(i)) || int(p.prio[i]-Normal) != tier || int(p.avail[i]) != a {
					t.Fatalf("piece %d in bucket %d/%d at %d: pos %d prio %v avail %d have %v",
						i, tier, a, j, p.pos[i], p.prio[i], p.avail[i], p.have[i])
				}
				inBuckets++
			}
		}
	}
	wanted, rare := 0, 0
	for i := range p.prio {
		if p.Wanted(i) {
			wanted++
		}
		if p.inRare(i) {
			rare++
		}
		for tier := range p.stream {
			in := p.stream[tier].next(i) == i
			if want := p.Wanted(i) && p.prio[i] == Readahead+Priority(tier); in != want {
				t.Fatalf("piece %d: in stream tier %d %v, want %v", i, tier, in, want)
			}
		}
	}
	if inBuckets != rare {
		t.Fatalf("%d pieces in buckets, want %d", inBuckets, rare)
	}
	if p.WantedCount() != wanted {
		t.Fatalf("WantedCount = %d, want %d", p.WantedCount(), wanted)
	}
}

// TestAgainstReference applies random operations to the picker and the
// reference alike: every pick must be one of the reference's best.
func TestAgainstReference(t *testing.T) {
	cases := []struct {
		name string
		n    int
		ops  int
	}{
		{"1 piece", 1, 500},
		{"7 pieces", 7, 3000},
		{"64 pieces", 64, 3000},
		{"300 pieces", 300, 3000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := uint64(0); seed < 5; seed++ {
				runAgainstRef(t, c.n, &randSource{r: rand.New(rand.NewPCG(seed, uint64(c.n))), left: c.ops})
			}
		})
	}
}

// FuzzPicker drives the same operations from the fuzzer's bytes: the first
// chooses the number of pieces.
func FuzzPicker(f *testing.F) {
	f.Add([]byte{7, 0, 0, 1, 1, 3, 3, 6, 0})
	f.Add([]byte{64, 1, 2, 0, 3, 4, 2, 1, 5, 3, 1, 7, 2, 0, 2, 0, 8, 8, 1, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := int(data[0])%200 + 1
		runAgainstRef(t, n, &byteSource{b: data[1:]})
	})
}
