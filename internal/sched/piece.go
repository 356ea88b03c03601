// Package sched holds the request scheduler's pure parts: the block
// bookkeeping of a piece under way (who was asked for which block, what
// arrived from whom), end-game duplicates, the exclusive retry of a piece
// that failed with blocks from several peers and the smart-ban comparison
// after it, and request deadlines. It has no I/O, no clock and no locks:
// the torrent's owner goroutine drives it and decides which peer to ask.
// Peers are the caller's type P.
package sched

import "time"

// BlockSize is the request size every client uses (BEP 3).
const BlockSize = 16 << 10

// Piece tracks a piece being downloaded, block by block.
type Piece[P comparable] struct {
	Index    int
	Size     int64
	Blocks   int
	reqs     []uint8 // outstanding requests per block
	received []bool
	sources  []P // who sent each received block
	nrecv    int
	nfree    int  // blocks neither received nor requested
	total    *int // a caller's sum of nfree over its pieces (Track), or nil
	hint     int  // no free block below this index
	// Hashing is set while the whole piece is being verified: no block of
	// it is asked for or accepted.
	Hashing bool
	// WriteFailed: a block did not reach storage; the verification is
	// ignored and the piece fetched again.
	WriteFailed bool
	// Ended is set by the caller when the piece is no longer under way
	// (verified, or dropped), so lists of pieces can skip it cheaply.
	Ended bool
	// exclusive is set after a failed hash with blocks from several
	// peers: the next attempt comes from one peer only, so that if it
	// fails again the liar is known.
	exclusive bool
	owner     P
	hasOwner  bool
	// suspects holds, after a failed hash, each block's SHA-1 and sender,
	// so that when the piece later verifies the liars can be named.
	suspects map[P][]suspectBlock
}

type suspectBlock struct {
	block int
	sum   [20]byte
}

// NewPiece returns the bookkeeping of piece index of size bytes.
func NewPiece[P comparable](index int, size int64) *Piece[P] {
	n := int((size + BlockSize - 1) / BlockSize)
	return &Piece[P]{Index: index, Size: size, Blocks: n, reqs: make([]uint8, n), received: make([]bool, n),
		sources: make([]P, n), nfree: n}
}

// Track adds the piece's free blocks to *total, and keeps them added as
// they change, so that a caller with many pieces under way knows at once
// whether any of them has a block to ask for. Untrack takes them out.
func (st *Piece[P]) Track(total *int) {
	st.Untrack()
	st.total = total
	*total += st.nfree
}

// Untrack undoes Track.
func (st *Piece[P]) Untrack() {
	if st.total != nil {
		*st.total -= st.nfree
		st.total = nil
	}
}

// addFree changes the count of free blocks by d.
func (st *Piece[P]) addFree(d int) {
	st.nfree += d
	if st.total != nil {
		*st.total += d
	}
}

// BlockLen returns the length of block b.
func (st *Piece[P]) BlockLen(b int) uint32 {
	return uint32(min(int64(BlockSize), st.Size-int64(b)*BlockSize))
}

// Free returns how many blocks are neither received nor requested.
func (st *Piece[P]) Free() int { return st.nfree }

// NextFree returns a block that is neither received nor requested, or -1.
func (st *Piece[P]) NextFree() int {
	if st.nfree == 0 {
		return -1
	}
	for b := st.hint; b < st.Blocks; b++ {
		if st.reqs[b] == 0 && !st.received[b] {
			st.hint = b
			return b
		}
	}
	return -1
}

// Request records that block b was asked of one more peer.
func (st *Piece[P]) Request(b int) {
	if st.reqs[b] == 0 && !st.received[b] {
		st.addFree(-1)
	}
	st.reqs[b]++
}

// Release records that one request for block b is gone (rejected,
// cancelled, late, or its peer left).
func (st *Piece[P]) Release(b int) {
	if st.reqs[b] == 0 {
		return
	}
	st.reqs[b]--
	if st.reqs[b] == 0 && !st.received[b] {
		st.addFree(1)
		st.hint = min(st.hint, b)
	}
}

// Received reports whether block b has arrived.
func (st *Piece[P]) Received(b int) bool { return st.received[b] }

// Receive records block b from peer from, after its own request (if any)
// was released. It reports whether other peers still have the block
// requested (end-game duplicates to cancel at them).
func (st *Piece[P]) Receive(b int, from P) (othersAsked bool) {
	st.received[b] = true
	st.sources[b] = from
	st.nrecv++
	if st.reqs[b] == 0 {
		st.addFree(-1) // it was counted free until now
		return false
	}
	st.reqs[b] = 0
	return true
}

// Complete reports whether every block has arrived.
func (st *Piece[P]) Complete() bool { return st.nrecv == st.Blocks }

// UsableBy reports whether p may be asked for blocks of the piece: anyone,
// unless a failed attempt made it exclusive, when one peer (the first that
// asks, or the next after its owner is gone) has it alone.
func (st *Piece[P]) UsableBy(p P, gone func(P) bool) bool {
	if !st.exclusive {
		return true
	}
	if !st.hasOwner || gone(st.owner) {
		st.owner, st.hasOwner = p, true
	}
	return st.owner == p
}

// Exclusive reports whether the piece is being retried from one peer.
func (st *Piece[P]) Exclusive() bool { return st.exclusive }

// Duplicate returns, for the end-game, a block that one peer has been
// asked for and has not sent yet, that mine does not say is already asked
// of this peer; it requests it. It reports false when there is none.
func (st *Piece[P]) Duplicate(mine func(b int) bool) (int, bool) {
	if st.Hashing || st.exclusive {
		return -1, false
	}
	for b := 0; b < st.Blocks; b++ {
		if st.received[b] || st.reqs[b] >= 2 || mine(b) {
			continue
		}
		st.Request(b)
		return b, true
	}
	return -1, false
}

// Failed records a failed verification with each block's SHA-1 as stored
// (sums may be shorter when they could not be read). It returns the peers
// that sent blocks, and the liar when one peer sent them all. With several
// senders the next attempt is one peer's alone, and Liars names the peers
// whose blocks differ once the piece verifies. The piece starts again.
func (st *Piece[P]) Failed(sums [][20]byte) (senders []P, liar P, found bool) {
	seen := map[P]bool{}
	for _, s := range st.sources {
		if !seen[s] {
			seen[s] = true
			senders = append(senders, s)
		}
	}
	if st.suspects == nil {
		st.suspects = map[P][]suspectBlock{}
	}
	for b, s := range st.sources {
		if b < len(sums) {
			st.suspects[s] = append(st.suspects[s], suspectBlock{block: b, sum: sums[b]})
		}
	}
	if len(senders) == 1 {
		liar, found = senders[0], true
	} else {
		st.exclusive, st.hasOwner = true, false
	}
	st.Reset()
	return senders, liar, found
}

// Suspicious reports whether a failed attempt left blocks to compare.
func (st *Piece[P]) Suspicious() bool { return len(st.suspects) > 0 }

// Liars compares the suspects' blocks with the verified piece's block
// sums and returns the peers whose blocks differ.
func (st *Piece[P]) Liars(sums [][20]byte) []P {
	var liars []P
	for p, blocks := range st.suspects {
		for _, sb := range blocks {
			if sb.block < len(sums) && sums[sb.block] != sb.sum {
				liars = append(liars, p)
				break
			}
		}
	}
	return liars
}

// Reset starts the piece again: every block is to be fetched anew (requests
// still outstanding stay counted).
func (st *Piece[P]) Reset() {
	var zero P
	for b := range st.received {
		st.received[b] = false
		st.sources[b] = zero
	}
	st.nrecv, st.hint, st.Hashing, st.WriteFailed = 0, 0, false, false
	free := 0
	for b := range st.reqs {
		if st.reqs[b] == 0 {
			free++
		}
	}
	st.addFree(free - st.nfree)
}

// Request deadlines. A peer serves requests in the order they came, so a
// block is late when it has waited several times what the peer's queue of
// requests ahead of it should take at the peer's measured rate.
const (
	// MinRequestTimeout is the least a request waits: a few round trips
	// on any path a WebRTC or TCP peer takes.
	MinRequestTimeout = 3 * time.Second
	// RequestTimeoutFactor is how many times the expected wait a request
	// may take before it is late: rates swing by 2-3x from second to
	// second.
	RequestTimeoutFactor = 4
	// UnmeasuredRequestTimeout applies while a peer has sent too little
	// to have a rate.
	UnmeasuredRequestTimeout = 15 * time.Second
)

// RequestTimeout is how long a request may wait at a peer that has
// outstanding requests queued and sends rate bytes per second.
func RequestTimeout(outstanding int, rate float64) time.Duration {
	if rate < BlockSize {
		return UnmeasuredRequestTimeout
	}
	expected := time.Duration(float64(outstanding*BlockSize) / rate * float64(time.Second))
	return max(MinRequestTimeout, RequestTimeoutFactor*expected)
}
