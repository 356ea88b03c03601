package torrent

import (
	"time"

	"github.com/swarmcast/swarmcast/internal/choker"
	"github.com/swarmcast/swarmcast/peerwire"
)

// runChoker picks whom we upload to (internal/choker): the interested peers
// that give us most (or, once we seed, that take most), plus one optimistic
// unchoke that rotates and favours newcomers. It runs every chokeInterval
// and when a slot frees (a peer unchoked by us leaves or loses interest),
// not on every change of interest.
func (t *Torrent) runChoker(now time.Time) {
	t.lastChoke, t.rechoke = now, false
	seeding := t.Complete()
	ps := t.chokeBuf[:0]
	for p := range t.peers {
		if p.closed {
			continue
		}
		rate := p.downRate
		if seeding {
			rate = p.upRate
		}
		ps = append(ps, choker.Peer{ID: p.cid, Interested: p.peerInterested, Snubbed: p.snubbed, Rate: rate, ConnectedAt: p.connectedAt, Local: p.local})
	}
	t.chokeBuf = ps
	unchoke := t.choker.Rechoke(now, ps)
	for p := range t.peers {
		t.setChoking(p, !unchoke[p.cid])
	}
}

// unchokeIfFree unchokes a peer at once when a slot is free: a newly
// interested one, so that a viewer's first request does not wait for the
// next round, and a new connection while we have pieces to give, so that
// its first request does not wait for the round trip of its interest
// either. A slot is taken by an unchoked peer that is interested: one
// unchoked on connecting that never says it is (a seed, say) takes none,
// costs nothing (it asks for nothing) and is choked at the next round.
func (t *Torrent) unchokeIfFree(p *peer) {
	if !p.amChoking {
		return
	}
	n := 0
	for q := range t.peers {
		if !q.amChoking && q.peerInterested {
			n++
		}
	}
	if n < t.choker.Slots() {
		t.setChoking(p, false)
	}
}

func (t *Torrent) setChoking(p *peer, choke bool) {
	if p.amChoking == choke {
		return
	}
	p.amChoking = choke
	p.unchokedEarly = false
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
