package torrent

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmcast/swarmcast/internal/bitfield"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/transport"
)

var (
	errIdle     = errors.New("torrent: peer sent nothing for too long")
	errProtocol = errors.New("torrent: peer broke the protocol")
	errBanned   = errors.New("torrent: peer sent data that failed verification")
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

	lastRecv atomic.Int64 // unix nanoseconds of the last message (reader)
	upBytes  atomic.Int64 // payload bytes sent (writer)

	amChoking, amInterested     bool
	peerChoking, peerInterested bool
	has                         bitfield.Bitfield
	rawBitfield                 []byte // a bitfield and haves that came before the info
	rawHaveAll                  bool
	sawFirst                    bool // a message other than the extension handshake arrived
	requests                    map[blockKey]time.Time
	reqq                        int
	pipeline                    int
	allowedFast                 map[uint32]bool
	extIDs                      map[string]uint8
	metadataSize                int
	listenPort                  uint16
	downloaded                  int64
	lastDown, lastUp            int64
	downRate, upRate            float64 // bytes per second, smoothed
	lastRate                    time.Time
	lastBlockAt                 time.Time
	snubbed                     bool
	hashFails                   int
	connectedAt                 time.Time
	lastPEX                     time.Time // when we last sent it a PEX message
	closed                      bool
	webSeed                     bool // an HTTP origin (BEP 19), not a peer
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
	p.out.wake = make(chan struct{}, 1)
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
	return !p.webSeed || p.t.picker.Avail(i) <= p.t.webSeedPeers || p.t.peersServing == 0
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

// outQueue holds what the writer goroutine should send next.
type outQueue struct {
	mu      sync.Mutex
	msgs    []peerwire.Message
	uploads []blockKey
	ulens   []uint32
	wake    chan struct{}
}

// push queues a message and wakes the writer.
func (p *peer) push(m peerwire.Message) {
	p.out.mu.Lock()
	p.out.msgs = append(p.out.msgs, m)
	p.out.mu.Unlock()
	p.wakeWriter()
}

func (p *peer) wakeWriter() {
	select {
	case p.out.wake <- struct{}{}:
	default:
	}
}

// queueUpload queues a block to send.
func (p *peer) queueUpload(k blockKey, length uint32) {
	p.out.mu.Lock()
	p.out.uploads = append(p.out.uploads, k)
	p.out.ulens = append(p.out.ulens, length)
	p.out.mu.Unlock()
	p.wakeWriter()
}

// queuedUploads returns how many blocks wait to be sent.
func (p *peer) queuedUploads() int {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	return len(p.out.uploads)
}

// cancelUpload drops a queued block, if still queued.
func (p *peer) cancelUpload(k blockKey) bool {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	for i, u := range p.out.uploads {
		if u == k {
			p.out.uploads = append(p.out.uploads[:i], p.out.uploads[i+1:]...)
			p.out.ulens = append(p.out.ulens[:i], p.out.ulens[i+1:]...)
			return true
		}
	}
	return false
}

// dropUploads forgets every queued block and returns them.
func (p *peer) dropUploads() ([]blockKey, []uint32) {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	ks, ls := p.out.uploads, p.out.ulens
	p.out.uploads, p.out.ulens = nil, nil
	return ks, ls
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
	flush := func() bool {
		var ev event
		switch len(batch) {
		case 0:
			return true
		case 1:
			ev = batch[0]
		default:
			ev = evBatch(batch)
		}
		if !t.send(ev) {
			for _, e := range batch {
				if b, ok := e.(evBlock); ok {
					t.c.blocks.Put(b.data)
				}
			}
			return false
		}
		batch = nil
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
			if err = t.c.dnLimit.wait(p.ctx, len(m.Piece)); err != nil {
				t.c.blocks.Put(m.Piece)
				break
			}
			ev = evBlock{p: p, index: m.Index, begin: m.Begin, data: m.Piece}
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
	var msgs []peerwire.Message
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
			p.out.mu.Lock()
			msgs, p.out.msgs = p.out.msgs, msgs[:0]
			n := min(len(p.out.uploads), maxUploadsPerRound)
			var ups [maxUploadsPerRound]blockKey
			var lens [maxUploadsPerRound]uint32
			copy(ups[:], p.out.uploads[:n])
			copy(lens[:], p.out.ulens[:n])
			p.out.uploads = p.out.uploads[n:]
			p.out.ulens = p.out.ulens[n:]
			more := len(p.out.uploads) > 0
			p.out.mu.Unlock()
			for _, m := range msgs {
				if enc.WriteMessage(m) != nil {
					return
				}
			}
			for i := 0; i < n; i++ {
				if t.c.upLimit.wait(p.ctx, int(lens[i])) != nil {
					return
				}
				off := int64(ups[i].index)*t.pieceLength() + int64(ups[i].begin)
				if err := enc.WritePieceFrom(ups[i].index, ups[i].begin, int(lens[i]), t.store, off); err != nil {
					return
				}
				p.upBytes.Add(int64(lens[i]))
				t.bytesUp.Add(int64(lens[i]))
				t.byNet.add(p.network, 0, int64(lens[i]))
			}
			if !more {
				break
			}
		}
		if enc.Flush() != nil {
			return
		}
		keepAlive.Reset(keepAliveInterval)
	}
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
