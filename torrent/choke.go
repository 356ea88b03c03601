package torrent

import (
	"sort"
	"time"

	"github.com/swarmcast/swarmcast/peerwire"
)

// runChoker picks whom we upload to (BEP 3 tit-for-tat): the interested
// peers that give us most (or, once we seed, that take most), plus one
// optimistic unchoke that rotates so newcomers get a chance.
func (t *Torrent) runChoker(now time.Time) {
	t.lastChoke, t.rechoke = now, false
	var interested []*peer
	for p := range t.peers {
		if p.peerInterested && !p.closed {
			interested = append(interested, p)
		}
	}
	unchoke := map[*peer]bool{}
	if len(interested) <= uploadSlots+1 {
		for _, p := range interested {
			unchoke[p] = true
		}
	} else {
		seeding := t.Complete()
		sort.Slice(interested, func(i, j int) bool {
			a, b := interested[i], interested[j]
			if a.snubbed != b.snubbed {
				return !a.snubbed
			}
			if seeding {
				return a.upRate > b.upRate
			}
			return a.downRate > b.downRate
		})
		for _, p := range interested[:uploadSlots] {
			unchoke[p] = true
		}
		if t.optimistic == nil || now.Sub(t.lastOptim) >= optimisticInterval || !t.optimistic.peerInterested {
			rest := interested[uploadSlots:]
			t.optimistic = rest[t.rng.IntN(len(rest))]
			t.lastOptim = now
		}
		unchoke[t.optimistic] = true
	}
	for p := range t.peers {
		t.setChoking(p, !unchoke[p])
	}
}

// unchokeIfFree unchokes a newly interested peer at once when a slot is
// free, so a viewer's first request is not kept waiting for the next round.
func (t *Torrent) unchokeIfFree(p *peer) {
	if !p.amChoking {
		return
	}
	n := 0
	for q := range t.peers {
		if !q.amChoking {
			n++
		}
	}
	if n < uploadSlots+1 {
		t.setChoking(p, false)
	}
}

func (t *Torrent) setChoking(p *peer, choke bool) {
	if p.amChoking == choke {
		return
	}
	p.amChoking = choke
	if !choke {
		p.push(peerwire.Message{Type: peerwire.Unchoke})
		return
	}
	// Queued blocks are dropped; with the fast extension each is rejected.
	dropped := p.out.dropUploads()
	p.queue(peerwire.Message{Type: peerwire.Choke})
	if p.fast {
		for _, u := range dropped {
			p.out.addReject(u.key, u.length) // at most maxServedQueue: never over
		}
	}
	p.wakeWriter()
}
