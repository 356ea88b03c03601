package torrent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/swarmcast/swarmcast/internal/bitfield"
	"github.com/swarmcast/swarmcast/internal/picker"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/transport"
)

var (
	errIdle     = errors.New("torrent: peer sent nothing for too long")
	errProtocol = errors.New("torrent: peer broke the protocol")
	errBanned   = errors.New("torrent: peer sent data that failed verification")
	// errBothSeeds closes a connection between two seeds: neither has a
	// piece the other lacks.
	errBothSeeds = errors.New("torrent: both peers are seeds")
)

// blockKey names a block: piece index and offset in the piece.
type blockKey struct{ index, begin uint32 }

// peer is one connection. The owner goroutine owns every field not marked
// otherwise; the reader and writer goroutines use only conn, out and the
// atomics.
type peer struct {
	t       *Torrent
	conn    transport.Conn
	network string
	addr    string
	id      [20]byte
	ext     peerwire.ExtensionBits
	fast    bool
	ctx     context.Context
	cancel  context.CancelFunc
	out     outQueue

	lastRecv atomic.Int64  // unix nanoseconds of the last message (reader)
	upBytes  atomic.Int64  // payload bytes sent (writer)
	inflight atomic.Int64  // bytes of messages sent to the owner, not yet handled
	drained  chan struct{} // the owner handled a batch of this peer's

	amChoking, amInterested     bool
	unchokedEarly               bool // unchoked on connecting, before it said it was interested
	peerChoking, peerInterested bool
	has                         bitfield.Bitfield
	rawBitfield                 []byte // a bitfield and haves that came before the info
	rawHaveAll                  bool
	sawFirst                    bool // a message other than the extension handshake arrived
	requests                    map[blockKey]time.Time
	reqq                        int
	pipeline                    int
	rateMarkAt                  time.Time     // start of quickRate's window
	rateMarkBytes               int64         // downloaded at rateMarkAt
	pipelineFull                bool          // the last fillRequests stopped at the pipeline's depth, not for want of blocks
	minLatency                  time.Duration // the shortest time from a request to its block: about the round trip
	allowedFast                 map[uint32]bool
	extIDs                      map[string]uint8
	metadataSize                int
	metaAsked                   int               // ut_metadata requests received
	metaTimeouts                int               // our metadata requests it let time out, in a row
	metaAnswered                int               // metadata pieces it sent us
	metaRetryAt                 time.Time         // not asked for metadata before this (it rejected)
	metaWanted                  bitfield.Bitfield // metadata pieces asked for, not yet queued
	listenPort                  uint16
	downloaded                  int64
	lastDown, lastUp            int64
	downRate, upRate            float64 // bytes per second, smoothed
	lastRate                    time.Time
	lastBlockAt                 time.Time
	lastWantedHave              time.Time // when it last announced a piece we want (updateOriginFollows)
	snubbed                     bool
	lateRequests                int // requests that passed their deadline
	wantCount                   int // pieces it has that we want (interest)
	cid                         int // stable ID for the choker
	hashFails                   int
	connectedAt                 time.Time
	lastPEX                     time.Time                   // when we last sent it a PEX message
	local                       bool                        // on a local network, or found by LSD: preferred for requests and slots
	lastPEXIn                   time.Time                   // when we last took a PEX message from it
	pexSent                     map[netip.AddrPort]struct{} // the peers it knows of from us (BEP 11 deltas)
	closed                      bool
	webSeed                     bool   // an HTTP origin (BEP 19), not a peer
	client                      string // its "v" (clientName), for Peers
}

func newPeer(t *Torrent, conn transport.Conn, hs peerwire.Handshake) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	p := &peer{
		t: t, conn: conn, network: conn.Network(), addr: conn.RemoteAddr(), id: hs.PeerID, ext: hs.Reserved,
		fast: hs.Reserved.Has(peerwire.FastBit),
		ctx:  ctx, cancel: cancel,
		amChoking: true, peerChoking: true,
		requests: map[blockKey]time.Time{}, reqq: defaultPeerReqq, pipeline: 4 * minRequests,
		allowedFast: map[uint32]bool{},
		webSeed:     conn.Network() == transport.WebSeed,
	}
	if ap, err := netip.ParseAddrPort(p.addr); err == nil {
		p.local = t.c.cfg.isLocal(ap.Addr())
	}
	p.out = newOutQueue()
	p.drained = make(chan struct{}, 1)
	p.lastRecv.Store(time.Now().UnixNano())
	return p
}

func (p *peer) lastRecvTime() time.Time { return time.Unix(0, p.lastRecv.Load()) }

// host returns what a ban applies to: the peer's IP, so that a liar cannot
// come back from another port; but on loopback, where every local client
// shares one IP, the IP and port.
func (p *peer) host() string { return banKey(p.addr) }

func banKey(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return addr
	}
	if ap.Addr().IsLoopback() {
		return ap.String()
	}
	return ap.Addr().String()
}

// close ends the connection; the reader then reports evPeerGone.
func (p *peer) close(err error) {
	if p.closed {
		return
	}
	p.closed = true
	p.t.c.cfg.Logger.Debug("closing peer", "addr", p.addr, "err", err)
	p.cancel()
	p.conn.Close()
}

// hasPiece reports whether the peer has piece i.
func (p *peer) hasPiece(i int) bool { return p.has.Get(i) }

// canRequest reports whether we may ask the peer for piece i now.
func (p *peer) canRequest(i int) bool {
	if !p.has.Get(i) || (p.peerChoking && !p.allowedFast[uint32(i)]) {
		return false
	}
	// The origin fills what the swarm cannot: a web seed is asked for a
	// piece only when no connected peer has it (every web seed has every
	// piece, so availability beyond the web seeds' is peers'), or when no
	// peer serves us at all.
	if p.webSeed {
		t := p.t
		nobody := t.picker.Avail(i) <= t.webSeedPeers // no connected peer has it
		switch pr := t.picker.Priority(i); {
		case pr == picker.Now || (pr == picker.Readahead && t.nearReader(i)):
			// A reader waits on it: at once, unless a peer brings it.
			return nobody || t.peersServing == 0
		case t.originStartHeld:
			// The first moment, while the swarm is being found: a fast
			// origin would send in that second what peers were about to.
			return false
		case nobody:
			// Left to a peer ahead of us that is fetching it: one viewer
			// asks the origin for it, not each.
			return !t.leaderBrings(i, pr)
		case t.peersServing > 0:
			return false
		}
		// No peer serves us yet: a peer with the piece that connected a
		// moment ago is given that moment to unchoke us.
		return !t.originPeerHeld
	}
	// Traffic stays local: a remote peer is asked only for pieces no local
	// peer serving us has with room in its pipeline; a local peer that
	// cannot keep up leaves the rest to remote ones.
	if !p.local {
		for _, q := range p.t.localServing {
			if !q.closed && !q.peerChoking && len(q.requests) < q.pipeline && q.has.Get(i) {
				return false
			}
		}
	}
	return true
}

// updateRates refreshes the smoothed rates and the pipeline depth.
func (p *peer) updateRates(now time.Time) {
	if p.lastRate.IsZero() {
		p.lastRate = now
		return
	}
	dt := now.Sub(p.lastRate).Seconds()
	if dt <= 0 {
		return
	}
	up := p.upBytes.Load()
	// A time constant of a few ticks: quick to follow a peer that speeds up.
	const alpha = 0.5
	p.downRate = alpha*float64(p.downloaded-p.lastDown)/dt + (1-alpha)*p.downRate
	p.upRate = alpha*float64(up-p.lastUp)/dt + (1-alpha)*p.upRate
	p.lastDown, p.lastUp, p.lastRate = p.downloaded, up, now
	want := int(p.downRate*requestLatency.Seconds()/BlockSize) + minRequests
	// Never shrink below what the last second needed; grow freely.
	p.pipeline = max(min(max(want, p.pipeline*3/4), maxRequests, p.reqq), minRequests)
}

// quickRate raises the pipeline between ticks, from the rate of each
// 512 KiB received (over 25 ms or more, so that a burst is not a rate), to
// twice what that rate needs over the shortest request-to-block time seen
// (about the round trip): twice the bandwidth-delay product, as BBR keeps
// in flight. A fresh connection's 32 requests (512 KiB) otherwise held it to
// 512 KiB per round trip for its first second, whatever the path carried:
// 12 MB/s at 41 ms, 5 at 101 ms.
//
// While the pipeline is what holds the peer back, its rate is the pipeline
// over the round trip, so the target is twice the pipeline: it doubles each
// window, as slow start doubles a window per round trip. Once the path is
// what holds it, the rate stops growing and so does the target. It raises
// nothing unless the last top-up filled the pipeline (a peer with little
// more we want says nothing about depth), never above the tick's rule
// (500 ms of the rate), and only the tick lowers it. On loopback the round
// trip is a fraction of a millisecond, so nothing is raised and the tick
// alone sets the depth, as before. Web seeds keep the tick's rule: the
// origin's ranges follow the origin scheduler.
func (p *peer) quickRate(now time.Time) {
	if p.webSeed {
		return
	}
	if p.rateMarkAt.IsZero() {
		p.rateMarkAt, p.rateMarkBytes = now, p.downloaded
		return
	}
	n, dt := p.downloaded-p.rateMarkBytes, now.Sub(p.rateMarkAt)
	if n < quickRateBytes || dt < quickRateMinTime {
		return
	}
	p.rateMarkAt, p.rateMarkBytes = now, p.downloaded
	if !p.pipelineFull || p.minLatency <= 0 {
		return
	}
	depth := min(2*p.minLatency, requestLatency)
	want := int(float64(n)/dt.Seconds()*depth.Seconds()/BlockSize) + minRequests
	p.pipeline = max(p.pipeline, min(want, 2*p.pipeline, maxRequests, p.reqq))
}

// push queues a message and wakes the writer. A peer whose queue is over
// its budget is closed.
func (p *peer) push(m peerwire.Message) {
	p.queue(m)
	p.wakeWriter()
}

// queue adds a message without waking the writer (fillRequests queues many
// and wakes once).
func (p *peer) queue(m peerwire.Message) {
	if p.closed {
		return
	}
	if !p.out.add(m, notMetadata) {
		p.close(errSlowReader)
	}
}

func (p *peer) wakeWriter() {
	select {
	case p.out.wake <- struct{}{}:
	default:
	}
}

// startIO starts the reader and writer goroutines.
func (p *peer) startIO() {
	p.t.wg.Add(2)
	go p.readLoop()
	go p.writeLoop()
}

// maxBatch bounds the messages a reader hands over in one event.
const maxBatch = 64

// readLoop decodes messages and hands them to the owner, batching those that
// arrived together so the owner wakes once per batch rather than per block.
func (p *peer) readLoop() {
	defer p.t.wg.Done()
	t := p.t
	maxMsg := peerwire.DefaultMaxMessageLength
	dec := peerwire.NewDecoderConfig(p.conn, peerwire.DecoderConfig{Blocks: t.c.blocks, MaxMessageLength: maxMsg, BufferSize: readBufferSize})
	var batch []event
	var cost int64
	blocks := false // the batch holds a block
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		// Blocks wait here while the disk is behind, so that the backlog
		// stays in the kernel's socket buffers (TCP pushes back on the
		// sender) rather than in our memory.
		if blocks && !t.waitDisk(p.ctx) {
			p.dropBatch(batch)
			batch, cost, blocks = nil, 0, false
			return true
		}
		// What one peer has on its way to the owner is bounded: a flood
		// waits here, and TCP pushes back on the sender.
		for p.inflight.Load() > maxInFlight {
			select {
			case <-p.drained:
			case <-p.ctx.Done():
				// Closed by us: the reader ends at its next read and
				// reports the peer gone.
				p.dropBatch(batch)
				batch, cost, blocks = nil, 0, false
				return true
			}
		}
		p.inflight.Add(cost)
		if !t.send(evBatch{p: p, evs: batch, cost: cost}) {
			p.inflight.Add(-cost)
			p.dropBatch(batch)
			return false
		}
		batch, cost, blocks = nil, 0, false
		return true
	}
	var err error
	for {
		var m peerwire.Message
		err = dec.Decode(&m)
		if errors.Is(err, peerwire.ErrUnknownMessage) {
			continue
		}
		if err != nil {
			break
		}
		p.lastRecv.Store(time.Now().UnixNano())
		var ev event
		switch m.Type {
		case peerwire.KeepAlive:
			continue
		case peerwire.Piece:
			if err = t.c.dnLimit.Load().wait(p.ctx, len(m.Piece)); err == nil {
				err = t.dnLimit.Load().wait(p.ctx, len(m.Piece))
			}
			if err != nil {
				t.c.blocks.Put(m.Piece)
				break
			}
			ev = evBlock{p: p, index: m.Index, begin: m.Begin, data: m.Piece}
			blocks = true
		case peerwire.Bitfield:
			m.Bitfield = append([]byte(nil), m.Bitfield...)
			ev = evMsg{p: p, m: m}
		case peerwire.Extended:
			m.ExtendedPayload = append([]byte(nil), m.ExtendedPayload...)
			ev = evMsg{p: p, m: m}
		default:
			ev = evMsg{p: p, m: m}
		}
		if err != nil {
			break
		}
		cost += int64(eventOverhead + len(m.Piece) + len(m.Bitfield) + len(m.ExtendedPayload))
		batch = append(batch, ev)
		if len(batch) >= maxBatch || !dec.MessageBuffered() {
			if !flush() {
				return
			}
		}
	}
	if !flush() {
		return
	}
	p.conn.Close()
	t.send(evPeerGone{p: p, err: err})
}

// dropBatch returns a batch's block buffers to the pool.
func (p *peer) dropBatch(batch []event) {
	for _, e := range batch {
		if b, ok := e.(evBlock); ok {
			p.t.c.blocks.Put(b.data)
		}
	}
}

// maxInFlight bounds the bytes of messages one peer's reader has handed to
// the owner and the owner has not handled yet: 128 blocks, two full batches,
// so a fast peer is never held back by it (the owner handles a batch in
// microseconds) while a flood costs at most this much per peer.
const maxInFlight = 2 << 20

// eventOverhead is what a message costs on its way to the owner besides
// its payload: the boxed event and its slot in the batch.
const eventOverhead = msgOverhead + 32

// readBufferSize is each connection's read buffer: 16 full piece messages,
// so a fast peer's data takes a quarter as many read calls as with the
// decoder's default, for 256 KiB per connection.
const readBufferSize = 16 * (13 + BlockSize)

// maxUploadsPerRound bounds blocks written between two looks at the queue,
// so that cancels and control messages are not stuck behind a long queue.
const maxUploadsPerRound = 32

// writeLoop sends queued messages and blocks, batching them into few writes.
func (p *peer) writeLoop() {
	defer p.t.wg.Done()
	defer p.conn.Close()
	t := p.t
	enc := peerwire.NewEncoder(p.conn)
	keepAlive := time.NewTimer(keepAliveInterval)
	defer keepAlive.Stop()
	// The store is looked up at the first upload, not here: a magnet's
	// connection starts before the info, and with it the store, is known.
	// Uploads are queued by the owner after setInfo, through p.out's lock,
	// so reading t.store then is ordered after its write.
	var src storeReader
	var msgs []peerwire.Message
	var rejects []upload
	var ups [maxUploadsPerRound]upload
	for {
		select {
		case <-p.out.wake:
		case <-keepAlive.C:
			if enc.WriteMessage(peerwire.Message{Type: peerwire.KeepAlive}) != nil || enc.Flush() != nil {
				return
			}
		case <-p.ctx.Done():
			return
		}
		for {
			var n int
			var more bool
			msgs, rejects, n, more = p.out.take(msgs, rejects, ups[:])
			for i := range msgs {
				if enc.WriteMessage(msgs[i]) != nil {
					return
				}
			}
			for _, r := range rejects {
				if enc.WriteMessage(peerwire.Message{Type: peerwire.RejectRequest, Index: r.key.index, Begin: r.key.begin, Length: r.length}) != nil {
					return
				}
			}
			for _, u := range ups[:n] {
				if t.c.upLimit.Load().wait(p.ctx, int(u.length)) != nil || t.upLimit.Load().wait(p.ctx, int(u.length)) != nil {
					return
				}
				off := int64(u.key.index)*t.pieceLength() + int64(u.key.begin)
				if src.s == nil {
					src.s = t.store
				}
				src.err = nil
				if err := enc.WritePieceFrom(u.key.index, u.key.begin, int(u.length), &src, off); err != nil {
					if src.err == nil {
						return // the connection failed
					}
					// Our storage failed, not the peer: the owner decides
					// (retry, or stop the torrent); this block is skipped.
					t.send(evDiskError{what: fmt.Sprintf("reading piece %d to upload", u.key.index), err: src.err})
					continue
				}
				p.out.wrote(false)
				p.upBytes.Add(int64(u.length))
				t.bytesUp.Add(int64(u.length))
				t.byNet.add(p.network, 0, int64(u.length))
				if p.local {
					t.localUp.Add(int64(u.length))
				}
			}
			if !more {
				break
			}
		}
		if enc.Flush() != nil {
			return
		}
		p.out.wrote(true)
		keepAlive.Reset(keepAliveInterval)
	}
}

// storeReader reads blocks to upload from storage and remembers a read
// error, so that the writer can tell our disk's failure from the network's.
type storeReader struct {
	s   io.ReaderAt
	err error
}

func (r *storeReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.s.ReadAt(p, off)
	if n < len(p) && err != nil {
		r.err = err
	}
	return n, err
}

// maxRawPieces bounds the haves kept before the info is known: no torrent
// has this many pieces (16 KiB pieces would make 32 GiB).
const maxRawPieces = 1 << 21

// rawHave records a have that came before the info.
func (p *peer) rawHave(i uint32) {
	if i >= maxRawPieces {
		return
	}
	if need := int(i/8) + 1; len(p.rawBitfield) < need {
		p.rawBitfield = append(p.rawBitfield, make([]byte, need-len(p.rawBitfield))...)
	}
	p.rawBitfield[i/8] |= 0x80 >> (i % 8)
}

// orBits returns a | b, reusing the longer.
func orBits(a, b []byte) []byte {
	if len(a) < len(b) {
		a, b = b, a
	}
	for i, x := range b {
		a[i] |= x
	}
	return a
}
