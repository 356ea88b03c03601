package torrent

import (
	"fmt"
	"time"

	"github.com/swarmcast/swarmcast/internal/picker"
	"github.com/swarmcast/swarmcast/internal/sched"
	"github.com/swarmcast/swarmcast/peerwire"
)

// pieceState is a piece under way: its block bookkeeping lives in
// internal/sched, which the owner drives.
type pieceState = sched.Piece[*peer]

// gone reports whether a peer's connection has ended (for exclusive pieces).
func gone(p *peer) bool { return p.closed }

func (t *Torrent) pieceLength() int64 { return t.infoPtr.Load().PieceLength }

func (t *Torrent) blockLen(piece, block int) uint32 {
	size := t.info.PieceSize(piece)
	return uint32(min(int64(BlockSize), size-int64(block)*BlockSize))
}

func (t *Torrent) startPiece(i int) *pieceState {
	st := sched.NewPiece[*peer](i, t.info.PieceSize(i))
	st.Track(&t.freeBlocks)
	t.partial[i] = st
	t.active = append(t.active, st)
	return st
}

// endPiece takes piece i off the pieces under way. The active list, oldest
// first, keeps ended pieces until they are half of it, so that ending one
// costs O(1) even when a thousand small pieces are under way at once.
func (t *Torrent) endPiece(i int) {
	st := t.partial[i]
	if st == nil {
		return
	}
	delete(t.partial, i)
	st.Untrack()
	st.Ended = true
	t.activeEnded++
	if t.activeEnded > len(t.active)/2 {
		kept := t.active[:0]
		for _, a := range t.active {
			if !a.Ended {
				kept = append(kept, a)
			}
		}
		clear(t.active[len(kept):])
		t.active, t.activeEnded = kept, 0
	}
}

// fillRequests tops up the peer's pipeline. Inside a batch of events it
// only notes the peer, and the batch's end tops it up once.
func (t *Torrent) fillRequests(p *peer) {
	if t.inBatch {
		t.refill[p] = struct{}{}
		return
	}
	p.pipelineFull = false
	if t.info == nil || t.err != nil || !p.amInterested || p.closed || t.diskThrottled.Load() {
		return
	}
	if p.peerChoking && len(p.allowedFast) == 0 {
		return
	}
	target := p.pipeline
	if p.snubbed {
		target = 1
	}
	sent := false
	now := time.Now()
	for len(p.requests) < target {
		k, length, ok := t.nextRequest(p)
		if !ok {
			break
		}
		p.requests[k] = now
		p.queue(peerwire.Message{Type: peerwire.Request, Index: k.index, Begin: k.begin, Length: length})
		sent = true
	}
	p.pipelineFull = len(p.requests) >= target
	if sent {
		p.wakeWriter()
	}
}

// nextRequest chooses the peer's next block: first blocks of pieces already
// under way, then a new piece from the picker, and at the very end blocks
// already asked of slower peers (end-game).
func (t *Torrent) nextRequest(p *peer) (blockKey, uint32, bool) {
	if len(t.urgent) > 0 {
		if k, n, ok := t.nextUrgent(p); ok {
			return k, n, true
		}
	}
	// With small pieces a thousand may be under way, each with every
	// block asked for: the free-block count spares that walk per request.
	for k := 0; t.freeBlocks > 0 && k < len(t.active); k++ {
		st := t.active[k]
		i := st.Index
		if st.Ended || st.Hashing || st.Free() == 0 || !t.picker.Wanted(i) || !p.canRequest(i) || !st.UsableBy(p, gone) {
			continue
		}
		if b := st.NextFree(); b >= 0 {
			st.Request(b)
			return blockKey{uint32(i), uint32(b * BlockSize)}, st.BlockLen(b), true
		}
	}
	i, ok, capped := t.picker.PickBounded(p.canRequest, t.underWay, picker.DefaultProbes)
	if ok {
		st := t.startPiece(i)
		b := st.NextFree()
		st.Request(b)
		return blockKey{uint32(i), 0}, st.BlockLen(b), true
	}
	if capped {
		// Nothing found among the candidates looked at (a peer with few
		// pieces we want): the next call looks elsewhere. Not the end
		// game yet.
		return blockKey{}, 0, false
	}
	// End-game: every wanted block is requested somewhere. Ask this peer
	// too for blocks that only one other peer has been asked for. Not while
	// a piece that some peer has is not under way yet: this peer has
	// nothing more to give, but others will get that piece, and duplicates
	// then are waste (four downloaders behind a 40 ms link each received
	// 17-20 MB of blocks twice, 7 MB of it over the link, when a peer with
	// few pieces went into end-game as soon as those were all under way).
	if _, ok, capped := t.picker.PickBounded(anyPeer, t.underWay, picker.DefaultProbes); ok || capped {
		return blockKey{}, 0, false
	}
	for _, st := range t.active {
		if st.Ended || !t.picker.Wanted(st.Index) || !p.canRequest(st.Index) {
			continue
		}
		if k, n, ok := t.duplicateRequest(p, st); ok {
			return k, n, true
		}
	}
	return blockKey{}, 0, false
}

// anyPeer is a peer that has every piece: with PickBounded, any wanted
// piece some connected peer has.
func anyPeer(int) bool { return true }

// underWay reports whether piece i is being downloaded already: the picker
// skips it.
func (t *Torrent) underWay(i int) bool { return t.partial[i] != nil }

// nextUrgent serves readers first: free blocks of the pieces under them, in
// the order readers need them, starting those pieces if need be; then, for
// the piece under a playhead, blocks already asked of another peer (an
// end-game for the playhead, so one slow peer cannot stall playback).
func (t *Torrent) nextUrgent(p *peer) (blockKey, uint32, bool) {
	for _, i := range t.urgent {
		if !t.picker.Wanted(i) || !p.canRequest(i) {
			continue
		}
		st := t.partial[i]
		if st == nil {
			st = t.startPiece(i)
		}
		if st.Hashing || !st.UsableBy(p, gone) {
			continue
		}
		if b := st.NextFree(); b >= 0 {
			if t.picker.Priority(i) == picker.Now {
				t.cancelBackground(p)
			}
			st.Request(b)
			return blockKey{uint32(i), uint32(b * BlockSize)}, st.BlockLen(b), true
		}
	}
	for _, i := range t.urgent {
		st := t.partial[i]
		if st == nil || t.picker.Priority(i) != picker.Now || !p.canRequest(i) {
			continue
		}
		if k, n, ok := t.duplicateRequest(p, st); ok {
			return k, n, true
		}
	}
	return blockKey{}, 0, false
}

// cancelBackground withdraws p's requests for pieces no reader is waiting
// for, so that a block under a playhead is not queued at the peer behind
// half a second of background data. They are asked again, after it.
func (t *Torrent) cancelBackground(p *peer) {
	for k := range p.requests {
		if t.picker.Priority(int(k.index)) >= picker.Readahead {
			continue
		}
		t.cancelRequest(p, k)
	}
}

// duplicateRequest asks p for a block of st that one other peer has been
// asked for and has not sent yet (end-game, for the last blocks of a
// download or the piece under a playhead).
func (t *Torrent) duplicateRequest(p *peer, st *pieceState) (blockKey, uint32, bool) {
	b, ok := st.Duplicate(func(b int) bool {
		_, mine := p.requests[blockKey{uint32(st.Index), uint32(b * BlockSize)}]
		return mine
	})
	if !ok {
		return blockKey{}, 0, false
	}
	return blockKey{uint32(st.Index), uint32(b * BlockSize)}, st.BlockLen(b), true
}

// requestTimeout is how long a request to p may wait (internal/sched).
func (p *peer) requestTimeout() time.Duration {
	return sched.RequestTimeout(len(p.requests), p.downRate)
}

// expireRequests cancels p's late requests and frees their blocks for any
// peer, p included. It reports how many it cancelled.
func (t *Torrent) expireRequests(p *peer, now time.Time) int {
	if p.webSeed || len(p.requests) == 0 {
		return 0 // web seeds time out their own HTTP requests
	}
	timeout := p.requestTimeout()
	n := 0
	for k, at := range p.requests {
		if now.Sub(at) < timeout {
			continue
		}
		t.cancelRequest(p, k)
		p.lateRequests++
		n++
	}
	if n > 0 {
		p.wakeWriter()
		t.c.cfg.Logger.Debug("requests late", "addr", p.addr, "n", n, "timeout", timeout)
	}
	return n
}

// withdrawFromOrigin cancels requests at web seed w for pieces that a
// connected peer now has (or nobody wants): the origin fills only what the
// swarm cannot, and a Cancel for a whole range aborts its HTTP request, so
// the origin stops sending what peers will bring. piece < 0 checks every
// request (the tick); otherwise only that piece's blocks (a have: only a
// piece under way can have requests, so most haves cost one map lookup).
func (t *Torrent) withdrawFromOrigin(w *peer, piece int) {
	keep := func(i int) bool { return w.canRequest(i) && t.picker.Wanted(i) }
	n := 0
	if piece >= 0 {
		st := t.partial[piece]
		if st == nil || keep(piece) {
			return
		}
		for b := 0; b < st.Blocks; b++ {
			k := blockKey{uint32(piece), uint32(b * BlockSize)}
			if _, ok := w.requests[k]; ok {
				t.cancelRequest(w, k)
				n++
			}
		}
	} else {
		for k := range w.requests {
			if !keep(int(k.index)) {
				t.cancelRequest(w, k)
				n++
			}
		}
	}
	if n > 0 {
		w.wakeWriter()
	}
}

// withdrawFromOrigins does withdrawFromOrigin at every web seed.
func (t *Torrent) withdrawFromOrigins(piece int) {
	if t.webSeedPeers == 0 {
		return
	}
	for w := range t.peers {
		if w.webSeed {
			t.withdrawFromOrigin(w, piece)
		}
	}
}

// cancelRequest withdraws block k asked of p: the block is free for any
// peer again and p is sent a Cancel (queued: the caller wakes the writer).
func (t *Torrent) cancelRequest(p *peer, k blockKey) {
	t.releaseRequest(p, k)
	p.queue(peerwire.Message{Type: peerwire.Cancel, Index: k.index, Begin: k.begin, Length: t.blockLen(int(k.index), int(k.begin/BlockSize))})
}

// releaseRequests gives back every block requested of p.
func (t *Torrent) releaseRequests(p *peer) {
	for k := range p.requests {
		if st := t.partial[int(k.index)]; st != nil {
			st.Release(int(k.begin / BlockSize))
		}
		delete(p.requests, k)
	}
}

// releaseRequest gives back one block requested of p.
func (t *Torrent) releaseRequest(p *peer, k blockKey) {
	if _, ok := p.requests[k]; !ok {
		return
	}
	delete(p.requests, k)
	if st := t.partial[int(k.index)]; st != nil {
		st.Release(int(k.begin / BlockSize))
	}
}

// onBlock stores a received block: it is counted received at once and
// written by the disk worker, which takes data (a pooled block) over; onBlock
// reports whether it did. Blocks that nobody needs (a late duplicate, a
// piece already verified or being verified) are dropped, so that verified
// data is never overwritten.
func (t *Torrent) onBlock(p *peer, index, begin uint32, data []byte) (took bool) {
	i := int(index)
	k := blockKey{index, begin}
	askedAt, requested := p.requests[k]
	if requested {
		delete(p.requests, k)
	}
	if t.info == nil || i >= t.info.NumPieces() || begin%BlockSize != 0 || int64(begin) >= t.info.PieceSize(i) {
		p.close(fmt.Errorf("%w: block %d+%d out of range", errProtocol, index, begin))
		return false
	}
	b := int(begin / BlockSize)
	if uint32(len(data)) != t.blockLen(i, b) {
		p.close(fmt.Errorf("%w: block %d+%d has %d bytes, want %d", errProtocol, index, begin, len(data), t.blockLen(i, b)))
		return false
	}
	st := t.partial[i]
	if st == nil || st.Hashing || st.Received(b) {
		if st != nil && requested {
			st.Release(b)
		}
		t.wasted += int64(len(data))
		t.fillRequests(p)
		return false
	}
	if requested {
		st.Release(b)
	}
	if st.Receive(b, p) {
		// End-game duplicates: cancel them at the other peers.
		for q := range t.peers {
			if _, ok := q.requests[k]; ok && q != p {
				delete(q.requests, k)
				q.push(peerwire.Message{Type: peerwire.Cancel, Index: index, Begin: begin, Length: uint32(len(data))})
			}
		}
	}
	n := int64(len(data))
	if p.webSeed && p.downloaded == 0 {
		t.clearNotice("webseed " + p.addr) // it serves now
	}
	p.downloaded += n
	p.lastBlockAt = time.Now()
	if requested {
		if lat := p.lastBlockAt.Sub(askedAt); p.minLatency == 0 || lat < p.minLatency {
			p.minLatency = lat
		}
	}
	p.quickRate(p.lastBlockAt)
	p.snubbed = false
	t.bytesDown.Add(n)
	t.byNet.add(p.network, n, 0)
	if p.local {
		t.localDown.Add(n)
	}
	if st.Complete() {
		st.Hashing = true
		if st.Blocks == 1 {
			t.submitDisk(diskJob{kind: diskWrite, piece: i, begin: begin, data: data, hash: true})
		} else {
			t.submitDisk(diskJob{kind: diskWrite, piece: i, begin: begin, data: data})
			t.hashPiece(i, false)
		}
	} else {
		t.submitDisk(diskJob{kind: diskWrite, piece: i, begin: begin, data: data})
	}
	t.fillRequests(p)
	return true
}

func (t *Torrent) onHashed(ev evHashed) {
	i := ev.piece
	if ev.check {
		if ev.err != nil {
			// Our disk failed us, not the data: the piece is fetched
			// again, and a lasting error stops the torrent.
			t.checked(i, false)
			t.diskError(fmt.Sprintf("reading piece %d", i), ev.err)
			return
		}
		t.checked(i, ev.ok)
		return
	}
	st := t.partial[i]
	if st == nil {
		return
	}
	if st.WriteFailed {
		// A block never reached the disk: nobody is to blame.
		t.resetPiece(st)
		return
	}
	if ev.err != nil {
		// Our disk failed us, not the data: no hash failure, no ban.
		if isTransient(ev.err) {
			t.rehash = append(t.rehash, i) // again at the next tick
		}
		t.diskError(fmt.Sprintf("reading piece %d", i), ev.err)
		return
	}
	if ev.ok {
		if st.Suspicious() {
			t.submitDisk(diskJob{kind: diskBanRead, piece: i, suspects: st})
		}
		t.endPiece(i)
		t.pieceVerified(i)
		t.updateLeft()
		return
	}
	t.hashFails++
	t.wasted += st.Size
	t.c.cfg.Logger.Info("piece failed verification", "torrent", t.Name(), "piece", i)
	// Who sent what: if one peer sent every block, it is the liar; else
	// the next attempt is one peer's alone, and smart-ban compares blocks
	// once the piece verifies.
	senders, liar, found := st.Failed(ev.blocks)
	if found {
		t.ban(liar)
	} else {
		for _, s := range senders {
			s.hashFails++
			if s.hashFails >= maxMixedHashFails {
				t.ban(s)
			}
		}
	}
	t.resetPiece(st)
}

// resetPiece starts a piece again: every block is fetched anew.
func (t *Torrent) resetPiece(st *pieceState) {
	st.Reset()
	for p := range t.peers {
		t.fillRequests(p)
	}
}

// ban closes p and refuses its host from now on.
func (t *Torrent) ban(p *peer) {
	t.banned[p.host()] = true
	t.c.cfg.Logger.Info("banning peer", "torrent", t.Name(), "addr", p.addr)
	p.close(errBanned)
}

// pieceVerified records piece i as ours and tells peers.
func (t *Torrent) pieceVerified(i int) {
	if t.have.Get(i) {
		return
	}
	t.markHave(i)
	t.markVerified(i)
	for p := range t.peers {
		if !p.hasPiece(i) {
			p.push(peerwire.Message{Type: peerwire.Have, Index: uint32(i)})
		}
	}
	// Waiters hear of it once the owner has handled what arrived with it:
	// one wake-up for a batch of verified pieces (with 16 KiB pieces, a
	// thousand a second), not one each.
	t.changeDue = true
}
