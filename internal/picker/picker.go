// Package picker chooses which piece to download next. It is pure state and
// arithmetic, owned by one torrent's goroutine, with no locks and no I/O.
//
// Pieces have a priority tier: Now > Readahead > High > Normal > None. Pieces
// in the streaming tiers (Now, Readahead) are taken in index order, since a
// reader consumes them in order; the others rarest first, with random
// tie-breaks so that peers starting together fetch different pieces, in runs
// of neighbours: the piece after the last pick is taken when it is as rare as
// any (writes land together on disk). None means not wanted.
//
// The picker keeps the wanted pieces (not had, not None) sorted as it goes,
// so that a pick looks only at candidates, never at every piece: the
// streaming tiers each in a hierarchical bitset (next wanted index in
// O(log64 n)), High and Normal each in buckets by availability (a slice of
// pieces per availability count, with each piece's position kept so that a
// move between buckets is O(1)). A pick walks the tiers from the top, the
// buckets from the rarest, and each bucket from a random offset, asking
// peerHas and skip only of wanted pieces; it stops at the first piece both
// allow. Its cost is the number of wanted pieces it has to pass over (the
// peer lacks them or they are under way) plus the number of buckets, and no
// longer grows with the number of pieces.
//
// The price is paid when availability changes: PeerHas and PeerLost move a
// wanted piece between buckets (tens to hundreds of ns, mostly cache misses,
// where they used to be one increment). For a whole peer at once, PeerHasAll
// and PeerLostAll (a seed) move every bucket in one step, and PeerHasSet and
// PeerLostSet (a bitfield) rebuild the buckets in passes.
package picker

import (
	"math/bits"
	"math/rand/v2"
)

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

// DefaultProbes is a limit for PickBounded. For a peer with nothing we
// want, 1024 looks cost 5 µs at 1k pieces, 10 µs at 100k and 14 µs at 1M
// (BenchmarkPickBounded/useless; misses grow with the pieces), against 4 µs,
// 0.8 ms and 8.6 ms for the whole scan the picker used to make: such a peer
// costs about what it did at 1k pieces, whatever the size. The common peers
// (BenchmarkPickBounded's seed, half, mosthad and stream) need a handful of
// looks, far from the limit.
const DefaultProbes = 1024

// minBucketCap is the capacity below which a bucket's slice is never
// reallocated smaller: small enough not to matter (256 bytes), large enough
// that pieces moving in and out of a small bucket never reallocate it.
const minBucketCap = 64

// Picker tracks, for each piece, how many peers have it, whether we have it,
// and its priority.
type Picker struct {
	avail []int32
	prio  []Priority
	have  []bool
	// pos is each piece's index in its availability bucket (High and
	// Normal pieces that we want); meaningless for others.
	pos []int32
	// rare holds, for High (1) and Normal (0), the wanted pieces bucketed
	// by availability: rare[t][a] lists those held by a peers.
	rare [2][][]int32
	// stream holds the wanted pieces of Readahead (0) and Now (1).
	stream [2]hbits
	wanted int
	// onWanted, when set, hears of every piece entering or leaving the
	// wanted set.
	onWanted func(i int, wanted bool)
	rng      *rand.Rand
	// runNext is the piece after the last one taken from the buckets
	// (runOn says there is one): it is taken next when it is as rare as
	// what the buckets offer, so pieces come in runs of neighbours (their
	// blocks reach the disk together, in one write call, and files fill
	// front to back), while each run starts at a random piece.
	runNext int
	runOn   bool
}

// New returns a picker for n pieces, all at priority None.
func New(n int, seed uint64) *Picker {
	return &Picker{
		avail:  make([]int32, n),
		prio:   make([]Priority, n),
		have:   make([]bool, n),
		pos:    make([]int32, n),
		stream: [2]hbits{newHbits(n), newHbits(n)},
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
}

// Len returns the number of pieces.
func (p *Picker) Len() int { return len(p.avail) }

// SetPriority sets piece i's tier.
func (p *Picker) SetPriority(i int, pr Priority) {
	if p.prio[i] == pr {
		return
	}
	was := p.Wanted(i)
	p.unlink(i)
	p.prio[i] = pr
	p.link(i)
	p.wantedChanged(i, was)
}

// Priority returns piece i's tier.
func (p *Picker) Priority(i int) Priority { return p.prio[i] }

// SetHave records whether we have piece i (verified).
func (p *Picker) SetHave(i int, have bool) {
	if p.have[i] == have {
		return
	}
	was := p.Wanted(i)
	p.unlink(i)
	p.have[i] = have
	p.link(i)
	p.wantedChanged(i, was)
}

// Have reports whether we have piece i.
func (p *Picker) Have(i int) bool { return p.have[i] }

// Avail returns how many peers have piece i.
func (p *Picker) Avail(i int) int { return int(p.avail[i]) }

// PeerHas records that a peer has piece i (a have message).
func (p *Picker) PeerHas(i int) {
	if p.inRare(i) {
		p.unlink(i)
		p.avail[i]++
		p.link(i)
		return
	}
	p.avail[i]++
}

// PeerLost records that a peer with piece i has gone.
func (p *Picker) PeerLost(i int) {
	if p.avail[i] == 0 {
		return
	}
	if p.inRare(i) {
		p.unlink(i)
		p.avail[i]--
		p.link(i)
		return
	}
	p.avail[i]--
}

// PeerHasAll records that a peer has every piece (a have-all, or a full
// bitfield): PeerHas for each piece, but every availability bucket moves up
// one as a whole. A seed joining and leaving costs 1.5 to 3 ns a piece this
// way (PeerHasAll then PeerLostAll), about what the old picker's PeerHas and
// PeerLost did (3 to 15 ns), against 65 to 200 ns a piece with PeerHas and
// PeerLost one piece at a time, which move each piece between buckets
// (BenchmarkPeerJoin on a loaded machine: for a seed at 1M pieces, 3 ms
// against 0.1 to 0.2 s).
func (p *Picker) PeerHasAll() {
	for i := range p.avail {
		p.avail[i]++
	}
	for t, buckets := range p.rare {
		if len(buckets) > 0 {
			p.rare[t] = append([][]int32{nil}, buckets...)
		}
	}
}

// PeerLostAll records that a peer that had every piece has gone: PeerLost
// for each piece, at a fraction of the cost, like PeerHasAll.
func (p *Picker) PeerLostAll() {
	for i, a := range p.avail {
		if a > 0 {
			p.avail[i] = a - 1
		}
	}
	for t, buckets := range p.rare {
		if len(buckets) < 2 {
			continue
		}
		// Availability 0 stays 0 (as with PeerLost), so the pieces of
		// buckets 0 and 1 end up together: the smaller moves.
		b0, b1 := buckets[0], buckets[1]
		if len(b0) < len(b1) {
			b0, b1 = b1, b0
		}
		for _, i := range b1 {
			p.pos[i] = int32(len(b0))
			b0 = append(b0, i)
		}
		buckets[1] = b0
		p.rare[t] = buckets[1:]
	}
}

// PeerHasSet records that a peer has each piece i for which has(i) is true
// (a bitfield: the pieces it adds to what it had): PeerHas for each, but in
// passes over all the pieces that rebuild the buckets, instead of a move
// between buckets per piece. Its cost goes with the number of pieces, not
// with the peer's: for a peer with half the pieces it costs 50 to 130 ns per
// piece the peer has against 65 to 200 ns with PeerHas one by one
// (BenchmarkPeerJoin/set and /one, loaded machine), so it pays for peers
// that bring a large share of the pieces; PeerHas suits the others.
func (p *Picker) PeerHasSet(has func(i int) bool) {
	for i := range p.avail {
		if has(i) {
			p.avail[i]++
		}
	}
	p.rebuild()
}

// PeerLostSet records that a peer with each piece i for which has(i) is true
// has gone, like PeerHasSet.
func (p *Picker) PeerLostSet(has func(i int) bool) {
	for i, a := range p.avail {
		if a > 0 && has(i) {
			p.avail[i] = a - 1
		}
	}
	p.rebuild()
}

// rebuild puts every High and Normal piece we want in the bucket of its
// availability again: one pass to size the buckets, one to fill them.
func (p *Picker) rebuild() {
	var counts [2][]int
	for i, a := range p.avail {
		if p.inRare(i) {
			c := &counts[p.prio[i]-Normal]
			for len(*c) <= int(a) {
				*c = append(*c, 0)
			}
			(*c)[a]++
		}
	}
	for t := range p.rare {
		old := p.rare[t]
		buckets := old[:0] // written at a after old[a] is read
		for a, n := range counts[t] {
			var b []int32
			if a < len(old) {
				b = old[a][:0]
			}
			// Keep a bucket's memory when it fits, as unlink would.
			if cap(b) < n || (cap(b) > minBucketCap && n < cap(b)/4) {
				b = make([]int32, 0, n)
			}
			buckets = append(buckets, b)
		}
		if len(buckets) < len(old) {
			clear(old[len(buckets):]) // buckets no longer used
		}
		p.rare[t] = buckets
	}
	for i, a := range p.avail {
		if p.inRare(i) {
			b := &p.rare[p.prio[i]-Normal][a]
			p.pos[i] = int32(len(*b))
			*b = append(*b, int32(i))
		}
	}
}

// Wanted reports whether piece i is wanted and missing.
func (p *Picker) Wanted(i int) bool { return !p.have[i] && p.prio[i] != None }

// WantedCount returns how many pieces are wanted and missing, in O(1): with
// the pieces' sizes it gives the bytes left to fetch without a scan.
func (p *Picker) WantedCount() int { return p.wanted }

// OnWantedChange registers f (nil to remove it) to be called, from within
// SetPriority and SetHave, each time piece i becomes wanted (wanted true) or
// stops being wanted. It lets the caller keep per-peer interest
// incrementally: a count per peer of the wanted pieces that peer has, raised
// by PeerHas of a wanted piece and by f(i, true) for each peer holding i,
// lowered by f(i, false) likewise; a peer is interesting while its count is
// above zero. f must not call back into the picker.
func (p *Picker) OnWantedChange(f func(i int, wanted bool)) { p.onWanted = f }

// Pick returns the best piece that we want, that the peer has (peerHas) and
// that the caller does not rule out (skip, which may be nil), or false.
//
// Among equally rare pieces it takes the first the peer can send from a
// random place in their bucket: any of them may be picked, though not with
// equal odds (one just after pieces the peer lacks is likelier), which is
// enough to keep peers starting together apart.
//
// It passes over as many wanted pieces as it must, with no limit, so it
// never misses a piece the peer could send: for a peer that has few of the
// pieces we want (or none: one we should not be interested in) that can be
// every wanted piece, as with the old full scan. PickBounded caps that.
func (p *Picker) Pick(peerHas func(int) bool, skip func(int) bool) (int, bool) {
	i, ok, _ := p.pick(peerHas, skip, -1, false)
	return i, ok
}

// PickBounded is Pick with the work of one call bounded, for a caller that
// records every peer's pieces with PeerHas. It never picks a piece that no
// peer has (availability 0: such a peer cannot have it), and passes over the
// High and Normal ones without looking at them. It looks at every candidate
// of the streaming tiers (a reader's window: a few dozen pieces, whose
// order matters more than the cost) and at maxProbes candidates at most of
// the High and Normal ones, the one it returns included, stopping with
// capped true when more were left: then false means "none found yet", not
// "none".
// Each call starts every bucket at a new random offset, so a call made again
// (at the next block or tick) looks at other candidates; a peer holding one
// wanted piece among c candidates is served within about c/maxProbes calls.
// The piece it returns is always one Pick could have returned. maxProbes <= 0
// means no limit.
func (p *Picker) PickBounded(peerHas func(int) bool, skip func(int) bool, maxProbes int) (piece int, ok, capped bool) {
	if maxProbes <= 0 {
		maxProbes = -1
	}
	return p.pick(peerHas, skip, maxProbes, true)
}

// pick walks the tiers from the top, looking at no more than probes
// candidates (no limit when probes < 0). capped reports that it stopped with
// candidates left to look at.
func (p *Picker) pick(peerHas, skip func(int) bool, probes int, counted bool) (piece int, ok, capped bool) {
	// look spends a probe on the next candidate, and reports false when
	// none is left to spend.
	look := func() bool {
		if probes == 0 {
			return false
		}
		if probes > 0 {
			probes--
		}
		return true
	}
	for t := len(p.stream) - 1; t >= 0; t-- {
		s := &p.stream[t]
		for i := s.next(0); i >= 0; i = s.next(i + 1) {
			if (!counted || p.avail[i] > 0) && (skip == nil || !skip(i)) && peerHas(i) {
				return i, true, false
			}
		}
	}
	first := 0
	if counted {
		first = 1 // no counted peer has a piece of availability 0
	}
	for t := len(p.rare) - 1; t >= 0; t-- {
		buckets := p.rare[t]
		for a := first; a < len(buckets); a++ {
			b := buckets[a]
			if len(b) == 0 {
				continue
			}
			// A random start breaks ties: peers asking together start
			// at different pieces of the rarest bucket.
			j := int(p.rng.Uint32N(uint32(len(b))))
			for range b {
				if !look() {
					return -1, false, true
				}
				if i := int(b[j]); (skip == nil || !skip(i)) && peerHas(i) {
					return p.extendRun(i, peerHas, skip, counted), true, false
				}
				if j++; j == len(b) {
					j = 0
				}
			}
		}
	}
	return -1, false, false
}

// extendRun returns the piece to take instead of i, the buckets' pick:
// the one after the last pick when it is wanted in i's tier, no more
// common than i, and allowed; else i. It starts the next run after it.
func (p *Picker) extendRun(i int, peerHas, skip func(int) bool, counted bool) int {
	if c := p.runNext; p.runOn && c != i && c < len(p.avail) && p.inRare(c) && p.prio[c] == p.prio[i] &&
		p.avail[c] <= p.avail[i] && (!counted || p.avail[c] > 0) && (skip == nil || !skip(c)) && peerHas(c) {
		i = c
	}
	p.runNext, p.runOn = i+1, true
	return i
}

// inRare reports whether piece i is in an availability bucket.
func (p *Picker) inRare(i int) bool {
	return !p.have[i] && (p.prio[i] == Normal || p.prio[i] == High)
}

// link puts piece i where its current state says (nowhere when unwanted).
func (p *Picker) link(i int) {
	if p.have[i] {
		return
	}
	switch pr := p.prio[i]; pr {
	case Normal, High:
		t, a := int(pr-Normal), int(p.avail[i])
		for len(p.rare[t]) <= a {
			p.rare[t] = append(p.rare[t], nil)
		}
		p.pos[i] = int32(len(p.rare[t][a]))
		p.rare[t][a] = append(p.rare[t][a], int32(i))
	case Readahead, Now:
		p.stream[pr-Readahead].set(i)
	}
}

// unlink takes piece i out of where its current state put it.
func (p *Picker) unlink(i int) {
	if p.have[i] {
		return
	}
	switch pr := p.prio[i]; pr {
	case Normal, High:
		t, a := int(pr-Normal), int(p.avail[i])
		b := p.rare[t][a]
		last := b[len(b)-1]
		b[p.pos[i]] = last
		p.pos[last] = p.pos[i]
		b = b[:len(b)-1]
		// Give memory back once a bucket has emptied (pieces move to the
		// next bucket up as peers arrive), so buckets hold about one slot
		// per wanted piece in all, not one per piece that ever passed.
		if cap(b) > minBucketCap && len(b) < cap(b)/4 {
			b = append(make([]int32, 0, cap(b)/2), b...)
		}
		p.rare[t][a] = b
	case Readahead, Now:
		p.stream[pr-Readahead].clear(i)
	}
}

// wantedChanged keeps the count and tells onWanted, if piece i's Wanted is
// no longer was.
func (p *Picker) wantedChanged(i int, was bool) {
	now := p.Wanted(i)
	if now == was {
		return
	}
	if now {
		p.wanted++
	} else {
		p.wanted--
	}
	if p.onWanted != nil {
		p.onWanted(i, now)
	}
}

// hbits is a set of indexes as a hierarchical bitset: lv[0] holds a bit per
// index, and each level above a bit per word of the one below, set when that
// word is not zero, up to a single word. Set, clear and next cost one word
// per level: 4 levels at 1M pieces, 132 KiB in all.
type hbits struct{ lv [][]uint64 }

func newHbits(n int) hbits {
	var h hbits
	for {
		w := (n + 63) / 64
		h.lv = append(h.lv, make([]uint64, w))
		if w <= 1 {
			return h
		}
		n = w
	}
}

func (h *hbits) set(i int) {
	for _, l := range h.lv {
		w := i >> 6
		was := l[w]
		l[w] |= 1 << (i & 63)
		if was != 0 {
			return
		}
		i = w
	}
}

func (h *hbits) clear(i int) {
	for _, l := range h.lv {
		w := i >> 6
		l[w] &^= 1 << (i & 63)
		if l[w] != 0 {
			return
		}
		i = w
	}
}

// next returns the least index in the set that is at least i, or -1.
func (h *hbits) next(i int) int {
	l := 0
	for {
		if l == len(h.lv) {
			return -1
		}
		w := i >> 6
		if w >= len(h.lv[l]) {
			return -1
		}
		if m := h.lv[l][w] & (^uint64(0) << (i & 63)); m != 0 {
			i = w<<6 | bits.TrailingZeros64(m)
			break
		}
		// Nothing at or after i in this word: go on from the next word,
		// one level up.
		i = w + 1
		l++
	}
	for ; l > 0; l-- {
		i = i<<6 | bits.TrailingZeros64(h.lv[l-1][i])
	}
	return i
}
