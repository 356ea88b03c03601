package torrent

import (
	"fmt"
	"slices"
	"time"

	"github.com/swarmcast/swarmcast/internal/bitfield"
	"github.com/swarmcast/swarmcast/internal/sha1"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/transport"
)

// Fetching the info dictionary from peers (BEP 9). One piece at a time per
// TCP peer: rTorrent answers only the first of several pipelined requests
// and then stops reading the connection, and a 16 KiB piece per round trip
// is plenty for metadata of a few hundred KiB. Two at a time per WebRTC
// peer (WebTorrent and swarmcast answer every request), so that a browser's
// magnet whose info takes two pieces (a few thousand pieces of hashes) has
// it in one round trip, not two.
const (
	// metadataTimeout: a metadata piece not received in this long is
	// asked of another peer (or of the same one, if it is the only one).
	metadataTimeout = 5 * time.Second
	// maxMetadataTimeouts: a peer that let this many of our metadata
	// requests time out is dropped; it has stopped answering, and a new
	// connection (a redial) gets a fresh start.
	maxMetadataTimeouts = 2
	// metadataNoticeDelay is how long a magnet waits with peers none of
	// which can send the metadata before the user is told: extension
	// handshakes come right after connecting.
	metadataNoticeDelay = 5 * time.Second
)

// metadataState assembles the info dictionary from peers (BEP 9).
type metadataState struct {
	size      int
	pieces    [][]byte
	requested []time.Time
	from      []*peer // who was asked for each piece not yet received
	senders   map[*peer]bool
}

// metadataPipeline is how many metadata pieces p is asked for at a time.
func metadataPipeline(p *peer) int {
	if p.network == transport.WebRTC {
		return 2
	}
	return 1
}

// canSendMetadata reports whether p says it can send the info dictionary.
func canSendMetadata(p *peer) bool {
	return !p.closed && p.extIDs[peerwire.UtMetadata] != 0 && p.metadataSize > 0 && p.metadataSize <= peerwire.MaxMetadataSize
}

// releaseMetadata forgets the metadata requests made of p.
func (t *Torrent) releaseMetadata(p *peer) {
	if st := t.meta; st != nil {
		for i, q := range st.from {
			if q == p {
				st.from[i] = nil
			}
		}
	}
}

// maybeRequestMetadata expires late metadata requests and asks each peer
// that can send the metadata for a missing piece, one at a time. It runs on
// every extension handshake, metadata message and tick, and when a peer
// leaves.
func (t *Torrent) maybeRequestMetadata() {
	if t.info != nil {
		return
	}
	now := time.Now()
	if st := t.meta; st != nil {
		for i, q := range st.from {
			if q == nil || now.Sub(st.requested[i]) < metadataTimeout {
				continue
			}
			st.from[i] = nil
			q.metaTimeouts++
			t.c.cfg.Logger.Debug("metadata request timed out", "addr", q.addr, "piece", i)
			// One that answered before and now is silent behaves as
			// rTorrent does after one answer: a new connection is the
			// way to its next piece.
			if q.metaTimeouts >= maxMetadataTimeouts || q.metaAnswered > 0 {
				q.close(fmt.Errorf("torrent: peer stopped answering metadata requests"))
			}
		}
	}
	for p := range t.peers {
		if !canSendMetadata(p) || now.Before(p.metaRetryAt) {
			continue
		}
		if t.meta == nil || t.meta.size != p.metadataSize && allEmpty(t.meta.pieces) {
			n := peerwire.MetadataPieceCount(p.metadataSize)
			t.meta = &metadataState{size: p.metadataSize, pieces: make([][]byte, n), requested: make([]time.Time, n),
				from: make([]*peer, n), senders: map[*peer]bool{}}
		}
		st := t.meta
		if st.size != p.metadataSize {
			continue
		}
		room := metadataPipeline(p)
		for _, q := range st.from {
			if q == p {
				room--
			}
		}
		for i := 0; i < len(st.pieces) && room > 0; i++ {
			if st.pieces[i] != nil || st.from[i] != nil {
				continue
			}
			b, err := peerwire.MetadataMessage{Type: peerwire.MetadataRequest, Piece: i}.MarshalBinary()
			if err != nil {
				break
			}
			st.requested[i], st.from[i] = now, p
			p.push(peerwire.Message{Type: peerwire.Extended, ExtendedID: p.extIDs[peerwire.UtMetadata], ExtendedPayload: b})
			room--
		}
	}
}

// metadataNotice tells the user, through Stats, when a magnet has peers but
// none can send the metadata (a client without the extension protocol,
// say), and takes it back once one can.
func (t *Torrent) metadataNotice(now time.Time) {
	const key = "metadata"
	if t.info != nil || len(t.peers) == 0 {
		t.clearNotice(key)
		t.noMetaSince = time.Time{}
		return
	}
	n, ext := 0, 0
	for p := range t.peers {
		if p.webSeed {
			continue
		}
		n++
		if canSendMetadata(p) {
			t.clearNotice(key)
			t.noMetaSince = time.Time{}
			return
		}
		if p.extIDs != nil {
			ext++
		}
	}
	if n == 0 {
		return
	}
	if t.noMetaSince.IsZero() {
		t.noMetaSince = now
	}
	if now.Sub(t.noMetaSince) < metadataNoticeDelay {
		return
	}
	why := "none supports ut_metadata"
	if ext > 0 {
		why = fmt.Sprintf("%d of them speak the extension protocol but offer no metadata", ext)
	}
	t.setNotice(key, fmt.Sprintf("no peer can send the metadata: %d connected, %s", n, why))
}

func allEmpty(pieces [][]byte) bool {
	for _, p := range pieces {
		if p != nil {
			return false
		}
	}
	return true
}

// onMetadataMessage handles a ut_metadata message.
func (t *Torrent) onMetadataMessage(p *peer, payload []byte) {
	m, err := peerwire.ParseMetadataMessage(payload, peerwire.MaxMetadataSize)
	if err != nil {
		return
	}
	id := p.extIDs[peerwire.UtMetadata]
	switch m.Type {
	case peerwire.MetadataRequest:
		if id == 0 {
			return
		}
		p.metaAsked++
		n := peerwire.MetadataPieceCount(len(t.spec.infoBytes))
		if t.info == nil || t.info.Private || m.Piece >= n {
			t.queueMetadataReject(p, m.Piece)
			return
		}
		// An honest peer asks for each piece once, again after a reject;
		// a peer asking over and over is flooding us.
		if p.metaAsked > 2*n+maxMetadataRejects {
			p.close(fmt.Errorf("%w: %d metadata requests for %d pieces", errProtocol, p.metaAsked, n))
			return
		}
		if p.metaWanted.Len() != n {
			p.metaWanted = bitfield.New(n)
		}
		p.metaWanted.Set(m.Piece)
		t.serveMetadata(p)
	case peerwire.MetadataData:
		st := t.meta
		if t.info != nil || st == nil || m.TotalSize != st.size || m.Piece >= len(st.pieces) || st.pieces[m.Piece] != nil {
			return
		}
		if len(m.Data) != peerwire.MetadataPieceLen(m.Piece, st.size) {
			return
		}
		if st.from[m.Piece] == p {
			st.from[m.Piece] = nil
		}
		p.metaTimeouts = 0
		p.metaAnswered++
		st.pieces[m.Piece] = append([]byte(nil), m.Data...)
		st.senders[p] = true
		for _, pc := range st.pieces {
			if pc == nil {
				t.maybeRequestMetadata()
				return
			}
		}
		var all []byte
		for _, pc := range st.pieces {
			all = append(all, pc...)
		}
		t.meta = nil
		if metainfo.Hash(sha1.Sum(all)) != t.infoHash {
			t.c.cfg.Logger.Info("metadata from peers does not match the info hash; asking again", "torrent", t.Name())
			if len(st.senders) == 1 {
				t.ban(p) // it sent every piece: it is the liar
			}
			t.maybeRequestMetadata()
			return
		}
		info, err := metainfo.ParseInfo(all)
		if err != nil {
			t.fail(err)
			return
		}
		if err := t.setInfo(all, info); err != nil {
			t.fail(err)
			return
		}
		t.clearNotice("metadata")
		t.afterInfo()
	case peerwire.MetadataReject:
		if st := t.meta; st != nil && m.Piece < len(st.pieces) && st.from[m.Piece] == p {
			st.from[m.Piece] = nil
			// It may not have the metadata yet: others first, it later.
			p.metaRetryAt = time.Now().Add(metadataTimeout)
			t.maybeRequestMetadata()
		}
	}
}

// queueMetadataReject tells p we will not send it metadata piece i.
func (t *Torrent) queueMetadataReject(p *peer, i int) {
	b, err := peerwire.MetadataMessage{Type: peerwire.MetadataReject, Piece: i}.MarshalBinary()
	if err != nil {
		return
	}
	if !p.out.add(peerwire.Message{Type: peerwire.Extended, ExtendedID: p.extIDs[peerwire.UtMetadata], ExtendedPayload: b}, metadataReject) {
		p.close(errSlowReader)
		return
	}
	p.wakeWriter()
}

// serveMetadata queues the metadata pieces p asked for, a few at a time:
// the rest wait (one bit each) until it has read those. Called on each
// request and from the tick.
func (t *Torrent) serveMetadata(p *peer) {
	if p.metaWanted.Len() == 0 || p.metaWanted.Count() == 0 || t.info == nil || p.closed {
		return
	}
	id := p.extIDs[peerwire.UtMetadata]
	total := len(t.spec.infoBytes)
	for i := 0; i < p.metaWanted.Len() && p.out.metadataQueued() < maxMetadataQueued; i++ {
		if !p.metaWanted.Get(i) {
			continue
		}
		p.metaWanted.Clear(i)
		start := i * peerwire.MetadataPieceSize
		end := min(start+peerwire.MetadataPieceSize, total)
		b, err := peerwire.MetadataMessage{Type: peerwire.MetadataData, Piece: i, TotalSize: total, Data: t.spec.infoBytes[start:end]}.MarshalBinary()
		if err != nil {
			continue
		}
		if !p.out.add(peerwire.Message{Type: peerwire.Extended, ExtendedID: id, ExtendedPayload: b}, metadataData) {
			p.close(errSlowReader)
			return
		}
		p.wakeWriter()
	}
}

// afterInfo brings peers that connected before the info up to date.
func (t *Torrent) afterInfo() {
	n := t.info.NumPieces()
	for p := range t.peers {
		raw, all := p.rawBitfield, p.rawHaveAll
		p.rawBitfield = nil
		if raw != nil {
			// Haves may have made it shorter than the torrent's bitfield,
			// never longer with bits set: a piece beyond the last is a
			// protocol error.
			want := (n + 7) / 8
			if len(raw) > want {
				if slices.ContainsFunc(raw[want:], func(b byte) bool { return b != 0 }) {
					p.close(fmt.Errorf("%w: pieces beyond the torrent's %d", errProtocol, n))
					continue
				}
				raw = raw[:want]
			}
			raw = append(raw, make([]byte, want-len(raw))...)
		}
		t.applyBitfield(p, raw, all, false)
		t.sendExtHandshake(p)
	}
	t.wakeAnnouncers()
}
