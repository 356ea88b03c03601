// Package picker chooses which piece to download next. It is pure state and
// arithmetic, owned by one torrent's goroutine, with no locks and no I/O.
//
// Pieces have a priority tier: Now > Readahead > High > Normal > None. Pieces
// in the streaming tiers (Now, Readahead) are taken in index order, since a
// reader consumes them in order; the others rarest first, with random
// tie-breaks so that peers starting together fetch different pieces. None
// means not wanted.
package picker

import "math/rand/v2"

// Priority is a piece's tier. The zero value is None: not wanted.
type Priority int8

// The tiers, lowest first.
const (
	None Priority = iota
	Normal
	High
	Readahead
	Now
)

// String names the tier.
func (p Priority) String() string {
	switch p {
	case None:
		return "none"
	case Normal:
		return "normal"
	case High:
		return "high"
	case Readahead:
		return "readahead"
	case Now:
		return "now"
	}
	return "priority?"
}

// Picker tracks, for each piece, how many peers have it, whether we have it,
// and its priority.
type Picker struct {
	avail []int32
	prio  []Priority
	have  []bool
	rng   *rand.Rand
}

// New returns a picker for n pieces, all at priority None.
func New(n int, seed uint64) *Picker {
	return &Picker{
		avail: make([]int32, n),
		prio:  make([]Priority, n),
		have:  make([]bool, n),
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Len returns the number of pieces.
func (p *Picker) Len() int { return len(p.avail) }

// SetPriority sets piece i's tier.
func (p *Picker) SetPriority(i int, pr Priority) { p.prio[i] = pr }

// Priority returns piece i's tier.
func (p *Picker) Priority(i int) Priority { return p.prio[i] }

// SetHave records whether we have piece i (verified).
func (p *Picker) SetHave(i int, have bool) { p.have[i] = have }

// Have reports whether we have piece i.
func (p *Picker) Have(i int) bool { return p.have[i] }

// Avail returns how many peers have piece i.
func (p *Picker) Avail(i int) int { return int(p.avail[i]) }

// PeerHas records that a peer has piece i (a have message).
func (p *Picker) PeerHas(i int) { p.avail[i]++ }

// PeerLost records that a peer with piece i has gone.
func (p *Picker) PeerLost(i int) {
	if p.avail[i] > 0 {
		p.avail[i]--
	}
}

// Wanted reports whether piece i is wanted and missing.
func (p *Picker) Wanted(i int) bool { return !p.have[i] && p.prio[i] != None }

// Pick returns the best piece that we want, that the peer has (peerHas) and
// that the caller does not rule out (skip, which may be nil), or false.
func (p *Picker) Pick(peerHas func(int) bool, skip func(int) bool) (int, bool) {
	best := -1
	var bestPrio Priority
	var bestAvail int32
	ties := 0
	for i, pr := range p.prio {
		if pr == None || pr < bestPrio || p.have[i] {
			continue
		}
		if best >= 0 && pr == bestPrio {
			if pr >= Readahead {
				continue // streaming tiers: the lowest index wins
			}
			if p.avail[i] > bestAvail {
				continue
			}
		}
		if !peerHas(i) || (skip != nil && skip(i)) {
			continue
		}
		switch {
		case best < 0 || pr > bestPrio || p.avail[i] < bestAvail:
			best, bestPrio, bestAvail, ties = i, pr, p.avail[i], 1
		default: // an equal candidate: keep each with probability 1/ties
			ties++
			if p.rng.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return best, best >= 0
}
