// Package choker decides whom a torrent uploads to (BEP 3's choking): the
// interested peers that give us most (or, once we seed, that take most),
// local peers first for all rate slots but one, plus one optimistic unchoke that rotates so that newcomers get a chance to
// show what they give. It is pure state and arithmetic, owned by one
// torrent's goroutine: no locks, no I/O, no clock of its own.
package choker

import (
	"math/rand/v2"
	"sort"
	"time"
)

// Tunables, from BEP 3 and libtorrent.
const (
	// DefaultSlots is how many peers are unchoked by rate besides the
	// optimistic one (BEP 3 suggests four).
	DefaultSlots = 4
	// OptimisticInterval is how long an optimistic unchoke lasts (BEP 3:
	// every 30 seconds).
	OptimisticInterval = 30 * time.Second
	// NewPeerAge and NewPeerWeight: a peer connected less than NewPeerAge
	// ago is NewPeerWeight times as likely to be the optimistic unchoke,
	// as in libtorrent, since it has nothing to trade yet.
	NewPeerAge    = time.Minute
	NewPeerWeight = 3
)

// Peer is what the choker knows of one peer. ID is the caller's handle.
type Peer struct {
	ID          int
	Interested  bool
	Snubbed     bool    // sends us nothing though asked: last for a slot
	Rate        float64 // bytes/s it sends us (or, when seeding, takes from us)
	ConnectedAt time.Time
	Local       bool // on our network: goes first for all but one rate slot
}

// Choker holds the optimistic unchoke between rounds. The zero value is not
// usable: use New.
type Choker struct {
	slots      int
	optimistic int // ID, or -1
	optimSince time.Time
	rng        *rand.Rand
}

// New returns a choker with the given rate slots (0 means DefaultSlots).
func New(slots int, seed uint64) *Choker {
	if slots <= 0 {
		slots = DefaultSlots
	}
	return &Choker{slots: slots, optimistic: -1, rng: rand.New(rand.NewPCG(seed, seed^0x5deece66d))}
}

// Slots returns how many peers are unchoked at most: the rate slots and the
// optimistic one.
func (c *Choker) Slots() int { return c.slots + 1 }

// Optimistic returns the ID of the optimistic unchoke, or -1.
func (c *Choker) Optimistic() int { return c.optimistic }

// Forget drops a peer that left; if it was the optimistic unchoke, the next
// round picks another.
func (c *Choker) Forget(id int) {
	if c.optimistic == id {
		c.optimistic = -1
	}
}

// Rechoke returns the IDs to unchoke now; every other peer is choked. Peers
// must come in a stable order for ties (the caller's).
func (c *Choker) Rechoke(now time.Time, peers []Peer) map[int]bool {
	var interested []Peer
	for _, p := range peers {
		if p.Interested {
			interested = append(interested, p)
		}
	}
	unchoke := make(map[int]bool, c.slots+1)
	if len(interested) <= c.slots+1 {
		for _, p := range interested {
			unchoke[p.ID] = true
		}
		c.optimistic = -1
		return unchoke
	}
	sort.SliceStable(interested, func(i, j int) bool {
		a, b := interested[i], interested[j]
		if a.Snubbed != b.Snubbed {
			return !a.Snubbed
		}
		return a.Rate > b.Rate
	})
	// Local peers, fastest first, take up to all rate slots but one, so
	// that traffic stays on our network; the last slot (and the optimistic
	// one) goes by rate over everyone, so a local-only crowd never shuts
	// remote peers out and the swarm does not split.
	local := 0
	for k, p := range interested {
		if local == c.slots-1 {
			break
		}
		if p.Local && !p.Snubbed {
			copy(interested[local+1:k+1], interested[local:k])
			interested[local] = p
			local++
		}
	}
	for _, p := range interested[:c.slots] {
		unchoke[p.ID] = true
	}
	rest := interested[c.slots:]
	keep := false
	for _, p := range rest {
		if p.ID == c.optimistic {
			keep = now.Sub(c.optimSince) < OptimisticInterval
		}
	}
	if !keep {
		c.optimistic = c.pickOptimistic(now, rest)
		c.optimSince = now
	}
	unchoke[c.optimistic] = true
	return unchoke
}

// pickOptimistic draws among rest, new peers weighted up.
func (c *Choker) pickOptimistic(now time.Time, rest []Peer) int {
	total := 0
	weight := func(p Peer) int {
		if now.Sub(p.ConnectedAt) < NewPeerAge {
			return NewPeerWeight
		}
		return 1
	}
	for _, p := range rest {
		total += weight(p)
	}
	n := c.rng.IntN(total)
	for _, p := range rest {
		if n -= weight(p); n < 0 {
			return p.ID
		}
	}
	return rest[len(rest)-1].ID
}
