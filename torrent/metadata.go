package torrent

import (
	"crypto/sha1"
	"fmt"
	"slices"
	"time"

	"github.com/swarmcast/swarmcast/internal/bitfield"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/peerwire"
)

// metadataTimeout: a metadata piece not received in this long is asked of
// another peer.
const metadataTimeout = 15 * time.Second

// metadataState assembles the info dictionary from peers (BEP 9).
type metadataState struct {
	size      int
	pieces    [][]byte
	requested []time.Time
	from      []*peer
}

// maybeRequestMetadata asks peers for missing metadata pieces.
func (t *Torrent) maybeRequestMetadata() {
	if t.info != nil {
		return
	}
	now := time.Now()
	for p := range t.peers {
		id := p.extIDs[peerwire.UtMetadata]
		if id == 0 || p.metadataSize <= 0 || p.metadataSize > peerwire.MaxMetadataSize {
			continue
		}
		if t.meta == nil || t.meta.size != p.metadataSize && allEmpty(t.meta.pieces) {
			n := peerwire.MetadataPieceCount(p.metadataSize)
			t.meta = &metadataState{size: p.metadataSize, pieces: make([][]byte, n), requested: make([]time.Time, n), from: make([]*peer, n)}
		}
		if t.meta.size != p.metadataSize {
			continue
		}
		for i := range t.meta.pieces {
			if t.meta.pieces[i] != nil || (!t.meta.requested[i].IsZero() && now.Sub(t.meta.requested[i]) < metadataTimeout && t.meta.from[i] != p) {
				continue
			}
			if t.meta.from[i] == p && !t.meta.requested[i].IsZero() {
				continue
			}
			b, err := peerwire.MetadataMessage{Type: peerwire.MetadataRequest, Piece: i}.MarshalBinary()
			if err != nil {
				continue
			}
			t.meta.requested[i], t.meta.from[i] = now, p
			p.push(peerwire.Message{Type: peerwire.Extended, ExtendedID: id, ExtendedPayload: b})
		}
	}
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
		st.pieces[m.Piece] = append([]byte(nil), m.Data...)
		for _, pc := range st.pieces {
			if pc == nil {
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
		t.afterInfo()
	case peerwire.MetadataReject:
		if st := t.meta; st != nil && m.Piece < len(st.pieces) && st.from[m.Piece] == p {
			st.requested[m.Piece] = time.Time{}
			st.from[m.Piece] = nil
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
