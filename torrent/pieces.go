package torrent

import (
	"fmt"
	"time"

	"github.com/swarmcast/swarmcast/internal/picker"
	"github.com/swarmcast/swarmcast/peerwire"
)

// pieceState tracks a piece being downloaded, block by block.
type pieceState struct {
	index    int
	size     int64
	nblocks  int
	reqs     []uint8 // outstanding requests per block
	received []bool
	sources  []*peer // who sent each received block, for smart-ban
	nrecv    int
	nfree    int // blocks neither received nor requested
	hint     int // no free block below this index
	hashing  bool
	// writeFailed: a block of this piece did not reach the disk; its
	// hash result is ignored and the piece fetched again.
	writeFailed bool
	// exclusive is set after a failed hash with blocks from several peers:
	// the next attempt comes from one peer only (owner), so that if it fails
	// again the liar is known.
	exclusive bool
	owner     *peer
	// suspects holds, after a failed hash, each block's SHA-1 and sender, so
	// that when the piece later verifies the liar can be named (smart-ban).
	suspects map[*peer][]suspectBlock
}

type suspectBlock struct {
	block int
	sum   [20]byte
}

func (t *Torrent) pieceLength() int64 { return t.infoPtr.Load().PieceLength }

func (t *Torrent) blockLen(piece, block int) uint32 {
	size := t.info.PieceSize(piece)
	return uint32(min(int64(BlockSize), size-int64(block)*BlockSize))
}

func (t *Torrent) startPiece(i int) *pieceState {
	size := t.info.PieceSize(i)
	n := int((size + BlockSize - 1) / BlockSize)
	st := &pieceState{index: i, size: size, nblocks: n, reqs: make([]uint8, n), received: make([]bool, n),
		sources: make([]*peer, n), nfree: n}
	t.partial[i] = st
	t.active = append(t.active, i)
	return st
}

func (t *Torrent) endPiece(i int) {
	delete(t.partial, i)
	for k, a := range t.active {
		if a == i {
			t.active = append(t.active[:k], t.active[k+1:]...)
			break
		}
	}
}

// usableBy reports whether p may be asked for blocks of the piece now.
func (st *pieceState) usableBy(p *peer) bool {
	if !st.exclusive {
		return true
	}
	if st.owner == nil || st.owner.closed {
		st.owner = p
	}
	return st.owner == p
}

// nextFree returns a block that is neither received nor requested, or -1.
func (st *pieceState) nextFree() int {
	if st.nfree == 0 {
		return -1
	}
	for b := st.hint; b < st.nblocks; b++ {
		if st.reqs[b] == 0 && !st.received[b] {
			st.hint = b
			return b
		}
	}
	return -1
}

func (st *pieceState) request(b int) {
	if st.reqs[b] == 0 {
		st.nfree--
	}
	st.reqs[b]++
}

func (st *pieceState) release(b int) {
	if st.reqs[b] == 0 {
		return
	}
	st.reqs[b]--
	if st.reqs[b] == 0 && !st.received[b] {
		st.nfree++
		st.hint = min(st.hint, b)
	}
}

// fillRequests tops up the peer's pipeline. Inside a batch of events it
// only notes the peer, and the batch's end tops it up once.
func (t *Torrent) fillRequests(p *peer) {
	if t.inBatch {
		t.refill[p] = struct{}{}
		return
	}
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
	for _, i := range t.active {
		st := t.partial[i]
		if st.hashing || st.nfree == 0 || !t.picker.Wanted(i) || !p.canRequest(i) || !st.usableBy(p) {
			continue
		}
		if b := st.nextFree(); b >= 0 {
			st.request(b)
			return blockKey{uint32(i), uint32(b * BlockSize)}, t.blockLen(i, b), true
		}
	}
	i, ok, capped := t.picker.PickBounded(p.canRequest, t.underWay, picker.DefaultProbes)
	if ok {
		st := t.startPiece(i)
		b := st.nextFree()
		st.request(b)
		return blockKey{uint32(i), 0}, t.blockLen(i, b), true
	}
	if capped {
		// Nothing found among the candidates looked at (a peer with few
		// pieces we want): the next call looks elsewhere. Not the end
		// game yet.
		return blockKey{}, 0, false
	}
	// End-game: every wanted block is requested somewhere. Ask this peer
	// too for blocks that only one other peer has been asked for.
	for _, i := range t.active {
		st := t.partial[i]
		if st.hashing || st.exclusive || !t.picker.Wanted(i) || !p.canRequest(i) {
			continue
		}
		if k, n, ok := t.duplicateRequest(p, st); ok {
			return k, n, true
		}
	}
	return blockKey{}, 0, false
}

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
		if st.hashing || !st.usableBy(p) {
			continue
		}
		if b := st.nextFree(); b >= 0 {
			if t.picker.Priority(i) == picker.Now {
				t.cancelBackground(p)
			}
			st.request(b)
			return blockKey{uint32(i), uint32(b * BlockSize)}, t.blockLen(i, b), true
		}
	}
	for _, i := range t.urgent {
		st := t.partial[i]
		if st == nil || st.hashing || st.exclusive || t.picker.Priority(i) != picker.Now || !p.canRequest(i) {
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
		t.releaseRequest(p, k)
		p.queue(peerwire.Message{Type: peerwire.Cancel, Index: k.index, Begin: k.begin,
			Length: t.blockLen(int(k.index), int(k.begin/BlockSize))})
	}
}

// duplicateRequest asks p for a block of st that one other peer has been
// asked for and has not sent yet (end-game, for the last blocks of a
// download or the piece under a playhead).
func (t *Torrent) duplicateRequest(p *peer, st *pieceState) (blockKey, uint32, bool) {
	for b := 0; b < st.nblocks; b++ {
		k := blockKey{uint32(st.index), uint32(b * BlockSize)}
		if st.received[b] || st.reqs[b] >= 2 {
			continue
		}
		if _, mine := p.requests[k]; mine {
			continue
		}
		st.request(b)
		return k, t.blockLen(st.index, b), true
	}
	return blockKey{}, 0, false
}

// Request deadlines. A peer serves requests in the order they came, so a
// block is late when it has waited several times what the peer's queue of
// requests ahead of it should take at the peer's measured rate. A late
// block is cancelled and asked again, of another peer if one has it; the
// snub (snubTimeout) stays as the second line for peers that send nothing.
const (
	// minRequestTimeout is the least a request waits: a few round trips
	// on any path a WebRTC or TCP peer takes.
	minRequestTimeout = 3 * time.Second
	// requestTimeoutFactor is how many times the expected wait a request
	// may take before it is late: rates swing by 2-3x from second to
	// second.
	requestTimeoutFactor = 4
	// unmeasuredRequestTimeout applies while a peer has sent too little
	// to have a rate.
	unmeasuredRequestTimeout = 15 * time.Second
)

// requestTimeout is how long a request to p may wait.
func (p *peer) requestTimeout() time.Duration {
	if p.downRate < BlockSize {
		return unmeasuredRequestTimeout
	}
	expected := time.Duration(float64(len(p.requests)*BlockSize) / p.downRate * float64(time.Second))
	return max(minRequestTimeout, requestTimeoutFactor*expected)
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
		t.releaseRequest(p, k)
		p.queue(peerwire.Message{Type: peerwire.Cancel, Index: k.index, Begin: k.begin, Length: t.blockLen(int(k.index), int(k.begin/BlockSize))})
		p.lateRequests++
		n++
	}
	if n > 0 {
		p.wakeWriter()
		t.c.cfg.Logger.Debug("requests late", "addr", p.addr, "n", n, "timeout", timeout)
	}
	return n
}

// releaseRequests gives back every block requested of p.
func (t *Torrent) releaseRequests(p *peer) {
	for k := range p.requests {
		if st := t.partial[int(k.index)]; st != nil {
			st.release(int(k.begin / BlockSize))
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
		st.release(int(k.begin / BlockSize))
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
	_, requested := p.requests[k]
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
	if st == nil || st.hashing || st.received[b] {
		if st != nil && requested {
			st.release(b)
		}
		t.wasted += int64(len(data))
		t.fillRequests(p)
		return false
	}
	if requested {
		st.release(b)
	}
	st.received[b] = true
	st.sources[b] = p
	st.nrecv++
	if st.reqs[b] == 0 {
		st.nfree-- // it was counted free until now
	} else {
		// End-game duplicates: cancel them at the other peers.
		for q := range t.peers {
			if _, ok := q.requests[k]; ok && q != p {
				delete(q.requests, k)
				q.push(peerwire.Message{Type: peerwire.Cancel, Index: index, Begin: begin, Length: uint32(len(data))})
			}
		}
		st.reqs[b] = 0
	}
	n := int64(len(data))
	p.downloaded += n
	p.lastBlockAt = time.Now()
	p.snubbed = false
	t.bytesDown.Add(n)
	t.byNet.add(p.network, n, 0)
	t.submitDisk(diskJob{kind: diskWrite, piece: i, begin: begin, data: data})
	if st.nrecv == st.nblocks {
		st.hashing = true
		t.hashPiece(i, false)
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
	if st.writeFailed {
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
		if len(st.suspects) > 0 {
			t.submitDisk(diskJob{kind: diskBanRead, piece: i, suspects: st.suspects})
		}
		t.endPiece(i)
		t.pieceVerified(i)
		t.updateLeft()
		return
	}
	t.hashFails++
	t.wasted += st.size
	t.c.cfg.Logger.Info("piece failed verification", "torrent", t.Name(), "piece", i)
	// Who sent what: if one peer sent every block, it is the liar.
	senders := map[*peer]bool{}
	for _, s := range st.sources {
		senders[s] = true
	}
	if st.suspects == nil {
		st.suspects = map[*peer][]suspectBlock{}
	}
	for b, s := range st.sources {
		if b < len(ev.blocks) {
			st.suspects[s] = append(st.suspects[s], suspectBlock{block: b, sum: ev.blocks[b]})
		}
	}
	if len(senders) == 1 {
		for s := range senders {
			t.ban(s)
		}
	} else {
		// Several peers sent blocks: the next attempt is one peer's alone,
		// and smart-ban compares blocks once the piece verifies.
		st.exclusive, st.owner = true, nil
		for s := range senders {
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
	for b := range st.received {
		st.received[b] = false
		st.sources[b] = nil
	}
	st.nrecv, st.hint, st.hashing, st.writeFailed = 0, 0, false, false
	st.nfree = 0
	for b := range st.reqs {
		if st.reqs[b] == 0 {
			st.nfree++
		}
	}
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
	t.submitDisk(diskJob{kind: diskMark, piece: i})
	for p := range t.peers {
		if !p.hasPiece(i) {
			p.push(peerwire.Message{Type: peerwire.Have, Index: uint32(i)})
		}
	}
	t.broadcast()
}
