package torrent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/swarmcast/swarmcast/internal/bitfield"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/transport"
)

// Extension ids we ask peers to use for messages to us (BEP 10 "m").
const (
	ourMetadataID = 1
	ourPEXID      = 2
)

// onPeerConn registers a connection whose handshake is done.
func (t *Torrent) onPeerConn(p *peer) {
	reject := func(why string) {
		t.c.cfg.Logger.Debug("dropping connection", "addr", p.addr, "why", why)
		p.conn.Close()
		p.cancel()
		if c := t.cands.get(p.addr); c != nil {
			c.nextTry = time.Now().Add(redialAfterClose)
		}
	}
	switch {
	case t.err != nil:
		reject("torrent stopped")
		return
	case p.id == t.c.cfg.PeerID:
		// Trackers and PEX hand out our own address: never dial it again.
		if c := t.cands.get(p.addr); c != nil {
			c.self = true
		}
		reject("connected to ourselves")
		return
	case t.banned[p.host()]:
		reject("banned")
		return
	case len(t.peers) >= t.c.cfg.MaxConns:
		reject("too many connections")
		return
	}
	for q := range t.peers {
		if q.id == p.id {
			reject("already connected to this peer id")
			return
		}
	}
	t.peers[p] = struct{}{}
	if p.webSeed {
		t.webSeedPeers++
		t.updateOriginHold(time.Now())
	} else {
		t.swarmPeers.Add(1)
		t.connsTotal.Add(1)
		if p.network == transport.WebRTC {
			t.webrtcPeers.Add(1)
		}
	}
	p.connectedAt = time.Now()
	p.lastBlockAt = p.connectedAt
	if c := t.cands.get(p.addr); c != nil {
		t.cands.connectedTo(c)
		t.clearNotice("dial " + c.addr)
		if c.source == SourceLSD {
			p.local = true
		}
	}
	p.startIO()
	// Say what we have: BEP 6 have-all/none when both sides speak it.
	have := 0 // pieces verified
	if t.info != nil {
		have = t.have.Count()
		switch {
		case p.fast && t.have.All():
			p.push(peerwire.Message{Type: peerwire.HaveAll})
		case p.fast && have == 0:
			p.push(peerwire.Message{Type: peerwire.HaveNone})
		case have > 0:
			p.push(peerwire.Message{Type: peerwire.Bitfield, Bitfield: t.have.Clone().Bytes()})
		}
	} else if p.fast {
		p.push(peerwire.Message{Type: peerwire.HaveNone})
	}
	if p.ext.Has(peerwire.ExtendedBit) {
		t.sendExtHandshake(p)
	}
	if t.info != nil {
		p.has = bitfield.New(t.info.NumPieces())
	}
	p.cid = t.nextCID
	t.nextCID++
	if have > 0 && !p.webSeed && t.err == nil {
		// Unchoked with our bitfield, a peer that wants our pieces asks
		// for them one round trip sooner than after its interested and
		// our unchoke.
		t.unchokeIfFree(p)
		p.unchokedEarly = !p.amChoking
	}
}

func (t *Torrent) sendExtHandshake(p *peer) {
	h := peerwire.ExtensionHandshake{
		M:    map[string]uint8{peerwire.UtMetadata: ourMetadataID, peerwire.UtPex: ourPEXID},
		V:    t.c.cfg.Version,
		P:    uint16(t.c.listenPort.Load()),
		Reqq: ourReqq,
	}
	if t.info != nil {
		h.MetadataSize = len(t.spec.infoBytes)
	}
	if ap, err := netip.ParseAddrPort(p.addr); err == nil {
		h.YourIP = ap.Addr().Unmap()
	}
	b, err := h.MarshalBinary()
	if err != nil {
		return
	}
	p.push(peerwire.Message{Type: peerwire.Extended, ExtendedID: 0, ExtendedPayload: b})
}

// onPeerGone forgets a closed connection.
func (t *Torrent) onPeerGone(p *peer, err error) {
	if _, ok := t.peers[p]; !ok {
		return
	}
	delete(t.peers, p)
	if p.webSeed {
		t.webSeedPeers--
		t.webSeedGone(p, err)
	} else {
		t.swarmPeers.Add(-1)
		if p.network == transport.WebRTC {
			t.webrtcPeers.Add(-1)
		}
	}
	p.closed = true
	p.cancel()
	t.releaseRequests(p)
	t.releaseMetadata(p)
	t.maybeRequestMetadata()
	if t.info != nil && p.has.Len() == t.info.NumPieces() {
		if p.has.All() {
			t.picker.PeerLostAll()
		} else {
			t.picker.PeerLostSet(p.has.Get)
		}
	}
	if c := t.cands.get(p.addr); c != nil {
		t.cands.disconnected(c, p.connectedAt, time.Now())
	}
	t.choker.Forget(p.cid)
	if !p.amChoking {
		t.rechoke = true // a slot is free
	}
	t.c.cfg.Logger.Debug("peer gone", "addr", p.addr, "err", err)
	// Its blocks may be wanted from others now.
	for q := range t.peers {
		t.fillRequests(q)
	}
	t.dialMore()
}

// onMessage handles every message but piece.
func (t *Torrent) onMessage(p *peer, m peerwire.Message) {
	first := !p.sawFirst
	if m.Type != peerwire.Extended {
		p.sawFirst = true
	}
	switch m.Type {
	case peerwire.Choke:
		p.peerChoking = true
		// BEP 6: with the fast extension a choke no longer drops our
		// requests; the peer rejects those it will not serve, and
		// request deadlines catch any it forgets. Without it, they are
		// gone.
		if !p.fast {
			t.releaseRequests(p)
		}
	case peerwire.Unchoke:
		if p.peerChoking && !p.webSeed {
			t.peersServing++ // at once, so that web seeds step back; tick recounts
			if p.local && len(t.localServing) < maxLocalServing && !slices.Contains(t.localServing, p) {
				t.localServing = append(t.localServing, p) // and remote peers too
			}
		}
		p.peerChoking = false
		t.fillRequests(p)
	case peerwire.Interested:
		// A free slot is given at once; otherwise the next round decides
		// (BEP 3: every 10 s, not on every change of interest).
		p.peerInterested = true
		if p.unchokedEarly && !p.amChoking {
			// Unchoked on connecting, it may have taken that unchoke
			// before it was ready to act on it: WebTorrent that gets our
			// bitfield and unchoke in one read, before its torrent has set
			// up the connection, never requests. Unchoke again now that it
			// has said it is interested (a repeated unchoke is harmless).
			p.push(peerwire.Message{Type: peerwire.Unchoke})
		}
		p.unchokedEarly = false
		t.unchokeIfFree(p)
	case peerwire.NotInterested:
		p.peerInterested = false
		if !p.amChoking {
			t.rechoke = true // its slot can go to another
		}
	case peerwire.Have:
		if t.info == nil {
			// Before the metadata a have is kept in the raw bitfield:
			// nothing says a bitfield will follow (a peer that was still
			// checking its data when we connected sent have-none, and then
			// a have per piece it verified).
			p.rawHave(m.Index)
			return
		}
		if int(m.Index) >= t.info.NumPieces() {
			p.close(fmt.Errorf("%w: have %d of %d pieces", errProtocol, m.Index, t.info.NumPieces()))
			return
		}
		if !p.has.Get(int(m.Index)) {
			p.has.Set(int(m.Index))
			t.picker.PeerHas(int(m.Index))
			if !p.webSeed {
				t.withdrawFromOrigins(int(m.Index))
			}
			if t.picker.Wanted(int(m.Index)) {
				p.wantCount++
				p.lastWantedHave = time.Now()
				t.updateInterest(p)
				t.followOnHave(p)
			}
			t.waitForPeer(p)
			t.fillRequests(p)
			t.closeIfBothSeeds(p)
		}
	case peerwire.Bitfield, peerwire.HaveAll, peerwire.HaveNone:
		if m.Type != peerwire.Bitfield && !p.fast {
			p.close(fmt.Errorf("%w: %s without the fast extension", errProtocol, m.Type))
			return
		}
		// BEP 3 puts these first, but real clients do not always: aria2
		// sends a bitfield instead of many haves later on, WebTorrent its
		// have-none after other messages. A late one adds what it says.
		if !first && m.Type == peerwire.HaveNone {
			return
		}
		if t.info == nil {
			if m.Type == peerwire.Bitfield {
				p.rawBitfield = orBits(p.rawBitfield, m.Bitfield)
			}
			p.rawHaveAll = p.rawHaveAll || m.Type == peerwire.HaveAll
			return
		}
		t.applyBitfield(p, m.Bitfield, m.Type == peerwire.HaveAll, m.Type == peerwire.HaveNone)
		if p.has.Count() > 0 {
			t.waitForPeer(p)
		}
		t.closeIfBothSeeds(p)
	case peerwire.Request:
		t.onRequest(p, m)
	case peerwire.Cancel:
		p.out.cancelUpload(blockKey{m.Index, m.Begin})
	case peerwire.RejectRequest:
		// The block goes back to the pool for any peer; this one is asked
		// again only at the next tick, so a peer that rejects everything
		// cannot make us spin.
		t.releaseRequest(p, blockKey{m.Index, m.Begin})
	case peerwire.AllowedFast:
		// BEP 6 suggests sets of 10; a peer naming more is capped, so it
		// cannot make us keep one entry per piece.
		if t.info != nil && int(m.Index) < t.info.NumPieces() && len(p.allowedFast) < maxAllowedFast {
			p.allowedFast[m.Index] = true
			t.fillRequests(p)
		}
	case peerwire.Suggest, peerwire.Port:
		// Suggestions are hints we do not need; DHT is not wired yet.
	case peerwire.Extended:
		t.onExtended(p, m)
	}
}

// applyBitfield adds a bitfield's (or have-all's) pieces to what the peer
// has. Pieces it had before stay: peers never lose pieces.
func (t *Torrent) applyBitfield(p *peer, raw []byte, all, none bool) {
	n := t.info.NumPieces()
	incoming := bitfield.New(n)
	switch {
	case all:
		incoming.SetAll()
	case none || raw == nil:
	default:
		bf, err := bitfield.FromBytes(raw, n)
		if err != nil {
			p.close(fmt.Errorf("%w: %v", errProtocol, err))
			return
		}
		incoming = bf
	}
	if p.has.Len() != n {
		p.has = bitfield.New(n)
	}
	switch {
	case incoming.All():
		if p.has.Count() == 0 {
			t.picker.PeerHasAll()
		} else {
			t.picker.PeerHasSet(func(i int) bool { return !p.has.Get(i) })
		}
		p.has.SetAll()
		p.wantCount = t.picker.WantedCount()
	default:
		t.picker.PeerHasSet(func(i int) bool { return incoming.Get(i) && !p.has.Get(i) })
		want := 0
		for i := 0; i < n; i++ {
			if incoming.Get(i) {
				p.has.Set(i)
			}
			if p.has.Get(i) && t.picker.Wanted(i) {
				want++
			}
		}
		p.wantCount = want
	}
	t.updateInterest(p)
	t.fillRequests(p)
}

// updateInterest tells the peer whether it has anything we want: a count
// kept as pieces come and go (onWantedChange), so this is O(1).
func (t *Torrent) updateInterest(p *peer) {
	t.setInterested(p, t.err == nil && p.wantCount > 0)
}

// onWantedChange keeps each peer's count of pieces it has that we want, as
// the picker says piece i started or stopped being wanted (verified, a
// priority changed, a reader moved).
func (t *Torrent) onWantedChange(i int, wanted bool) {
	d := -1
	if wanted {
		d = 1
	}
	for p := range t.peers {
		if p.has.Len() > i && p.has.Get(i) {
			p.wantCount += d
			if (p.wantCount > 0) != p.amInterested {
				t.updateInterest(p)
				if p.amInterested {
					t.fillRequests(p)
				}
			}
		}
	}
}

func (t *Torrent) setInterested(p *peer, v bool) {
	if p.amInterested == v {
		return
	}
	p.amInterested = v
	typ := peerwire.NotInterested
	if v {
		typ = peerwire.Interested
	}
	p.push(peerwire.Message{Type: typ})
}

// onRequest queues a block to serve, or refuses it.
func (t *Torrent) onRequest(p *peer, m peerwire.Message) {
	reject := func() {
		if !p.fast {
			return
		}
		if !p.out.addReject(blockKey{m.Index, m.Begin}, m.Length) {
			p.close(errSlowReader)
			return
		}
		p.wakeWriter()
	}
	if t.info == nil || t.c.cfg.NoUpload {
		reject()
		return
	}
	i := int(m.Index)
	if i >= t.info.NumPieces() || m.Length == 0 || m.Length > BlockSize || int64(m.Begin)+int64(m.Length) > t.info.PieceSize(i) {
		p.close(fmt.Errorf("%w: request %d+%d (%d bytes) out of range", errProtocol, m.Index, m.Begin, m.Length))
		return
	}
	if p.amChoking || !t.have.Get(i) || p.out.uploadCount() >= maxServedQueue {
		reject()
		return
	}
	added, ok := p.out.addUpload(blockKey{m.Index, m.Begin}, m.Length)
	if !ok {
		p.close(errSlowReader)
		return
	}
	if !added {
		// A request for a block already queued is answered by the one
		// queued: with BEP 6 the second gets a reject, as any request
		// beyond what we serve does, so a peer that repeats requests
		// without reading our answers runs into the bound on rejects and
		// is closed.
		reject()
		return
	}
	p.wakeWriter()
}

// onComplete runs when every wanted piece is verified.
func (t *Torrent) onComplete() {
	for p := range t.peers {
		t.setInterested(p, false)
		t.closeIfBothSeeds(p)
	}
	t.wakeAnnouncers()
	if t.store != nil {
		t.flushMarks()
		t.submitDisk(diskJob{kind: diskFlush})
	}
}

// closeIfBothSeeds closes the connection to p when it and we both have
// every piece, as libtorrent and anacrolix/torrent do: it would only hold a
// connection slot on each side (a browser tab has few). The address counts
// a short connection, so it is redialled less and less often.
func (t *Torrent) closeIfBothSeeds(p *peer) {
	if t.info != nil && !p.webSeed && !p.closed && t.have.All() && p.has.Len() == t.info.NumPieces() && p.has.All() {
		p.close(errBothSeeds)
	}
}

// addCandidate records an address to dial: "host:port" (TCP) or
// "network://host:port".
func (t *Torrent) addCandidate(src PeerSource, a string) {
	t.cands.add(src, a, time.Now())
}

// dialMore starts dials while there is room.
func (t *Torrent) dialMore() {
	if t.err != nil || t.ctx.Err() != nil {
		return
	}
	// A seed dials whom the user named and whom trackers name (trackers
	// answer a seed with leechers; a leecher that announced before the seed
	// would otherwise hear of it only at its next announce, minutes later);
	// peers from DHT, PEX and LSD come to it.
	seed := t.Complete() && t.info != nil && t.have.All()
	now := time.Now()
	t.readyBuf = t.cands.ready(now, func(addr string) bool { return t.banned[banKey(addr)] }, t.readyBuf)
	for _, c := range t.readyBuf {
		if t.halfOpen >= t.c.cfg.MaxHalfOpen || len(t.peers)+t.halfOpen >= t.c.cfg.MaxConns {
			return
		}
		if seed && c.source != SourceUser && c.source != SourceTracker {
			continue
		}
		d := t.c.cfg.Dialers[c.network]
		if d == nil {
			continue
		}
		c.dialing = true
		t.halfOpen++
		t.wg.Add(1)
		go t.dial(d, c.addr)
	}
}

// dialErrString shortens a dial error for a user: "connection refused"
// rather than "dial tcp 10.0.0.7:51413: connect: connection refused".
func dialErrString(err error) string {
	if err == nil {
		return "unknown error"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	if inner := opErrorCause(err); inner != nil {
		err = inner
		var sys *os.SyscallError
		if errors.As(err, &sys) {
			err = sys.Err
		}
	}
	return err.Error()
}

// dial connects to addr and runs the handshake.
func (t *Torrent) dial(d transport.Dialer, addr string) {
	defer t.wg.Done()
	var p *peer
	var err error
	defer func() { t.send(evDialDone{addr: addr, p: p, err: err}) }()
	ctx, cancel := context.WithTimeout(t.ctx, handshakeTimeout)
	defer cancel()
	conn, err := d.Dial(ctx, addr)
	if err != nil {
		return
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	err = func() error {
		if err := peerwire.WriteHandshake(conn, t.ourHandshake()); err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		hs, err := peerwire.ReadHandshake(conn)
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		if hs.InfoHash != t.infoHash {
			return errors.New("peer does not have this torrent")
		}
		p = newPeer(t, conn, hs)
		return nil
	}()
	if !stop() && err == nil {
		err = errors.New("handshake timed out")
	}
	if err != nil {
		conn.Close()
		p = nil
	}
}

// peerListenAddr returns the address others can dial the peer at.
func (p *peer) listenAddr() (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(p.addr)
	if err != nil {
		return netip.AddrPort{}, false
	}
	if !p.conn.Outbound() {
		if p.listenPort == 0 {
			return netip.AddrPort{}, false
		}
		ap = netip.AddrPortFrom(ap.Addr(), p.listenPort)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// firstPEXDelay is how long after connecting a peer gets its first PEX
// message: long enough for peers that arrive together (a flash crowd) to be
// in it, short enough that they find each other while the download is young.
// Later ones follow BEP 11's limit of one a minute.
const firstPEXDelay = 3 * time.Second

// sendPEX tells peers that speak ut_pex whom we are connected to (BEP 11),
// each at most once a minute: the first message lists our peers, the later
// ones the peers added and dropped since, with each added peer's flags
// (a seed; reachable, when we dialled it).
func (t *Torrent) sendPEX(now time.Time) {
	if t.info != nil && t.info.Private {
		return
	}
	current := map[netip.AddrPort]peerwire.PEXFlags{}
	for p := range t.peers {
		if p.network != transport.TCP {
			continue
		}
		ap, ok := p.listenAddr()
		if !ok {
			continue
		}
		var f peerwire.PEXFlags
		if t.info != nil && p.has.All() {
			f |= peerwire.PEXSeed
		}
		if p.conn.Outbound() {
			f |= peerwire.PEXReachable
		}
		if ec, ok := p.conn.(encryptedConn); ok && ec.Encrypted() {
			f |= peerwire.PEXEncryption // it speaks MSE: dial it encrypted
		}
		current[ap] = f
	}
	for p := range t.peers {
		id := p.extIDs[peerwire.UtPex]
		if id == 0 {
			continue
		}
		due := p.connectedAt.Add(firstPEXDelay)
		if !p.lastPEX.IsZero() {
			due = p.lastPEX.Add(pexInterval)
		}
		if now.Before(due) {
			continue
		}
		self, _ := p.listenAddr()
		x := pexDelta(p.pexSent, current, self)
		if len(x.Added) == 0 && len(x.Dropped) == 0 {
			continue
		}
		if p.pexSent == nil {
			p.pexSent = map[netip.AddrPort]struct{}{}
		}
		for _, a := range x.Added {
			p.pexSent[a.Addr] = struct{}{}
		}
		for _, a := range x.Dropped {
			delete(p.pexSent, a)
		}
		p.lastPEX = now
		if b, err := x.MarshalBinary(); err == nil {
			p.push(peerwire.Message{Type: peerwire.Extended, ExtendedID: id, ExtendedPayload: b})
		}
	}
}

// pexPerMessage is how many peers one PEX message adds, and drops, at most
// (BEP 11): the rest follow in the next ones.
const pexPerMessage = 50

// pexDelta is the PEX message for a peer that knows of sent from us, when
// we are connected to current: who is new (not the peer itself), and who
// is gone, at most pexPerMessage of each.
func pexDelta(sent map[netip.AddrPort]struct{}, current map[netip.AddrPort]peerwire.PEXFlags, self netip.AddrPort) peerwire.PEX {
	var x peerwire.PEX
	for a, f := range current {
		if len(x.Added) == pexPerMessage {
			break
		}
		if _, ok := sent[a]; !ok && a != self {
			x.Added = append(x.Added, peerwire.PEXPeer{Addr: a, Flags: f})
		}
	}
	for a := range sent {
		if len(x.Dropped) == pexPerMessage {
			break
		}
		if _, ok := current[a]; !ok {
			x.Dropped = append(x.Dropped, a)
		}
	}
	return x
}

// pexMinGap is the least time between two PEX messages we take from one
// peer; BEP 11 allows one a minute, and what comes sooner is ignored, so a
// peer cannot fill the address list faster than that.
const pexMinGap = 30 * time.Second

// onPEX takes a peer's PEX message: the addresses it adds, each checked
// (pexAcceptable) and kept with PEX's share of the address list, and those
// it drops, forgotten if they came from PEX and were never reached.
func (t *Torrent) onPEX(p *peer, payload []byte) {
	if t.info != nil && t.info.Private {
		return
	}
	now := time.Now()
	if !p.lastPEXIn.IsZero() && now.Sub(p.lastPEXIn) < pexMinGap {
		return
	}
	var x peerwire.PEX
	if x.UnmarshalBinary(payload) != nil {
		return
	}
	p.lastPEXIn = now
	from, _ := netip.ParseAddrPort(p.addr)
	for i, a := range x.Added {
		if i == pexPerMessage || !pexAcceptable(from.Addr(), a.Addr) {
			continue
		}
		t.addCandidate(SourcePEX, netip.AddrPortFrom(a.Addr.Addr().Unmap(), a.Addr.Port()).String())
	}
	for _, a := range x.Dropped {
		if c := t.cands.get(a.String()); c != nil && c.source == SourcePEX && !c.connected && !c.dialing && !c.everConnected {
			t.cands.remove(c)
		}
	}
	t.dialMore()
}

// pexAcceptable reports whether an address a peer at from gave us may be
// dialled: a unicast address with a port, and one on a private or loopback
// network only when the peer itself is on one (a remote peer does not get
// to make us dial our own network's services).
func pexAcceptable(from netip.Addr, a netip.AddrPort) bool {
	ip, fromIP := a.Addr().Unmap(), from.Unmap()
	if a.Port() == 0 || !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return false
	}
	if ip.IsLoopback() {
		return fromIP.IsLoopback()
	}
	if ip.IsPrivate() || ip.IsLinkLocalUnicast() {
		return fromIP.IsLoopback() || fromIP.IsPrivate() || fromIP.IsLinkLocalUnicast()
	}
	return true
}

// onExtended handles BEP 10 messages.
func (t *Torrent) onExtended(p *peer, m peerwire.Message) {
	switch m.ExtendedID {
	case 0:
		var h peerwire.ExtensionHandshake
		if err := h.UnmarshalBinary(m.ExtendedPayload); err != nil {
			p.close(fmt.Errorf("%w: %v", errProtocol, err))
			return
		}
		if p.extIDs == nil {
			p.extIDs = map[string]uint8{}
		}
		// Only the extensions we speak are kept: the peer names what it
		// likes, and each handshake may add names.
		for _, k := range [...]string{peerwire.UtMetadata, peerwire.UtPex} {
			if v, ok := h.M[k]; ok {
				p.extIDs[k] = v
			}
		}
		if h.V != "" {
			p.client = clientName(h.V)
		}
		if h.Reqq > 0 {
			p.reqq = min(h.Reqq, maxRequests)
		}
		if h.P != 0 {
			p.listenPort = h.P
		}
		if h.MetadataSize > 0 {
			p.metadataSize = h.MetadataSize
		}
		t.maybeRequestMetadata()
	case ourMetadataID:
		t.onMetadataMessage(p, m.ExtendedPayload)
	case ourPEXID:
		t.onPEX(p, m.ExtendedPayload)
	}
}

// AddConn runs the BitTorrent handshake on a connection that some discovery
// made for this torrent (a WebRTC data channel from a WebSocket tracker,
// say) and adds the peer. Both sides send their handshake at once, as
// WebTorrent does on data channels, so neither waits for the other. It takes
// ownership of conn and returns when the handshake is done or has failed.
func (t *Torrent) AddConn(conn transport.Conn) error {
	done := closeOnTimeout(conn, handshakeTimeout)
	if err := peerwire.WriteHandshake(conn, t.ourHandshake()); err != nil {
		done(false)
		conn.Close()
		return err
	}
	hs, err := peerwire.ReadHandshake(conn)
	if !done(err == nil) {
		conn.Close()
		if err == nil {
			err = fmt.Errorf("torrent: handshake timed out")
		}
		return err
	}
	if hs.InfoHash != t.infoHash {
		conn.Close()
		return fmt.Errorf("torrent: peer %s answered for another torrent", conn.RemoteAddr())
	}
	if err := t.addConn(conn, hs); err != nil {
		conn.Close()
		return err
	}
	return nil
}

// webSeedGone tells the user, once, why a web seed could not serve (it
// ignores Range requests, answers 4xx/5xx or the wrong length): the origin
// the torrent names is otherwise dropped in silence.
func (t *Torrent) webSeedGone(p *peer, err error) {
	if err == nil || t.ctx.Err() != nil || errors.Is(err, errShutdown) {
		return
	}
	var oe *transport.OriginError
	if !errors.As(err, &oe) {
		return // not the origin's failure (our side closed it)
	}
	t.setNotice("webseed "+p.addr, "web seed cannot serve: "+oe.Error()[len("webseed "):]+"; retrying later")
}
