package trackerserver

import (
	"iter"
	"math/rand/v2"
	"net/netip"
)

// A swarm's peers of one kind (WebSocket, IPv4, IPv6), and the random picks
// an announce gets from them.

// Small sets and swarms are scanned instead of indexed: most torrents have
// a handful of peers, and a Go map costs about 200–250 bytes even with one
// entry, a scan of 16 keys some tens of nanoseconds. TestStoreMemory
// measured a torrent with one peer at 920 bytes with both maps, 450
// without.
const (
	// indexAbove: a set with more peers than this gets its key index; it
	// drops the index again below half of it, so that a set going up and
	// down around the line does not build one each time.
	indexAbove = 16
	// perIPAbove: a swarm with more HTTP and UDP peers than this keeps its
	// per-host counts in a map; below half, it counts by scanning.
	perIPAbove = 16
)

// peerSet is a dense list of peers, for random picks in O(1) each, and
// above indexAbove peers an index from set key to position, for announces
// in O(1).
type peerSet struct {
	index map[[20]byte]int32
	list  []peer
}

func (ps *peerSet) lookup(k *[20]byte) (int32, bool) {
	if ps.index == nil {
		for i := range ps.list {
			if ps.list[i].setKey() == *k {
				return int32(i), true
			}
		}
		return 0, false
	}
	i, ok := ps.index[*k]
	return i, ok
}

func (ps *peerSet) add(p peer) {
	ps.list = append(ps.list, p)
	switch {
	case ps.index != nil:
		ps.index[p.setKey()] = int32(len(ps.list) - 1)
	case len(ps.list) > indexAbove:
		ps.index = make(map[[20]byte]int32, len(ps.list))
		for i := range ps.list {
			ps.index[ps.list[i].setKey()] = int32(i)
		}
	}
}

// remove deletes the peer at i by moving the last peer into its place.
func (ps *peerSet) remove(i int32) {
	last := int32(len(ps.list) - 1)
	if ps.index != nil {
		delete(ps.index, ps.list[i].setKey())
	}
	if i != last {
		ps.list[i] = ps.list[last]
		if ps.index != nil {
			ps.index[ps.list[i].setKey()] = i
		}
	}
	ps.list[last] = peer{}
	ps.list = ps.list[:last]
	// Give memory back after a crowd has left.
	if c := cap(ps.list); c > 64 && len(ps.list) < c/4 {
		ps.list = append(make([]peer, 0, c/2), ps.list...)
	}
	if len(ps.list) < indexAbove/2 {
		ps.index = nil // maps never shrink, and a scan will do
	}
}

// walk returns a random start and a step coprime with n: start, start+step,
// start+2·step, ... (mod n) visits every index once, in an order that is
// different for every announce, without shuffling the list.
func walk(n int) (start, step int) {
	start = rand.IntN(n)
	step = 1
	if n > 2 {
		for {
			step = 1 + rand.IntN(n-1)
			if gcd(step, n) == 1 {
				break
			}
		}
	}
	return start, step
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// order yields the indices of a walk over n entries from start by step
// (mod size), but skip.
func order(size, start, step, n int, skip int32) iter.Seq[int] {
	return func(yield func(int) bool) {
		j := start
		for range n {
			if int32(j) != skip && !yield(j) {
				return
			}
			if j += step; j >= size {
				j -= size
			}
		}
	}
}

// pick appends up to n random peers of the set to dst, skipping the one at
// index skip (the announcing peer; -1 for none). A set holds each key once,
// so the picks of one set are distinct addresses (or distinct sockets).
func (ps *peerSet) pick(dst []pickedPeer, n int, skip int32) []pickedPeer {
	size := len(ps.list)
	if n <= 0 || size == 0 {
		return dst
	}
	start, step := walk(size)
	for j := range order(size, start, step, size, skip) {
		dst = append(dst, ps.list[j].picked())
		if n--; n == 0 {
			break
		}
	}
	return dst
}

// picked is p as handed to an announcing peer.
func (p *peer) picked() pickedPeer {
	return pickedPeer{id: p.id, addr: p.addr, conn: p.conn, ref: p.ref}
}

// nearWalk bounds how many entries pickNear looks at per peer asked for:
// an instance with few sockets in a big swarm gets far peers instead of a
// walk over the whole swarm.
const nearWalk = 32

// pickNear is pick for a WebSocket announce in a cluster: of the n peers,
// n-far are on instance near (the announcing socket's), far on other
// instances; when one kind has too few, the other makes up the number.
// Offers to a socket of the announcing instance, and their answers, never
// cross the cluster, and the far picks keep the swarm one swarm across
// the instances rather than one per instance. Like pick, it walks the set
// in a random order, twice at most: the second walk takes, of the kind
// that has more, those the first walk passed over once that kind's share
// was full.
func (ps *peerSet) pickNear(dst []pickedPeer, n int, skip int32, near uint64, far int) []pickedPeer {
	size := len(ps.list)
	if n <= 0 || size == 0 {
		return dst
	}
	kind := func(p *peer) int { // 0 near, 1 far
		if p.ref.inst == near {
			return 0
		}
		return 1
	}
	far = min(max(far, 0), n)
	want := [2]int{n - far, far}
	var got [2]int
	limit := min(size, nearWalk*n)
	start, step := walk(size)
	for j := range order(size, start, step, limit, skip) {
		p := &ps.list[j]
		if k := kind(p); got[k] < want[k] {
			got[k]++
			dst = append(dst, p.picked())
			if got[0]+got[1] == n {
				return dst
			}
		}
	}
	// One kind ran short: take more of the other, past its share.
	other := 1
	if got[1] < want[1] {
		other = 0
	}
	taken, seen := got[other], 0
	for j := range order(size, start, step, limit, skip) {
		p := &ps.list[j]
		if kind(p) != other {
			continue
		}
		if seen++; seen > taken {
			dst = append(dst, p.picked())
			if got[other]++; got[0]+got[1] == n {
				break
			}
		}
	}
	return dst
}

// pickFar appends up to n random peers of the set whose sockets are not on
// instance near, skipping the one at index skip: the far picks of an
// announce whose instance picked its near peers itself (relayNear). Its walk
// is bounded as pickNear's.
func (ps *peerSet) pickFar(dst []pickedPeer, n int, skip int32, near uint64) []pickedPeer {
	size := len(ps.list)
	if n <= 0 || size == 0 {
		return dst
	}
	start, step := walk(size)
	for j := range order(size, start, step, min(size, nearWalk*n), skip) {
		if p := &ps.list[j]; p.ref.inst != near {
			dst = append(dst, p.picked())
			if n--; n == 0 {
				break
			}
		}
	}
	return dst
}

// pickedPeer is a peer handed to an announcing peer.
type pickedPeer struct {
	id   [20]byte
	addr netip.AddrPort
	conn *wsConn // nil when the socket is on another instance
	ref  connRef
}
