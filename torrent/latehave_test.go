package torrent_test

import (
	"crypto/rand"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/torrent"
)

// A magnet download from a peer that was still checking its data when we
// connected: it says have-none, then sends a have per piece, all before we
// have the metadata, which it then serves. The haves must not be lost (they
// once were, and the download stalled with the only seed connected).
func TestHavesBeforeMetadata(t *testing.T) {
	dir := t.TempDir()
	mi, data := makeContent(t, dir, "late", []int{1<<20 + 4321}, 32<<10)
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	raw := mi.InfoBytes
	content := data["first.bin"]
	const ourMetadataID = 3

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := peerwire.ReadHandshake(c); err != nil {
			return
		}
		hs := peerwire.Handshake{InfoHash: mi.HashInfoBytes()}
		copy(hs.PeerID[:], "-XX0001-")
		rand.Read(hs.PeerID[8:])
		hs.Reserved.Set(peerwire.FastBit)
		hs.Reserved.Set(peerwire.ExtendedBit)
		if peerwire.WriteHandshake(c, hs) != nil {
			return
		}
		enc, dec := peerwire.NewEncoder(c), peerwire.NewDecoder(c)
		ext, _ := peerwire.ExtensionHandshake{M: map[string]uint8{peerwire.UtMetadata: ourMetadataID}, MetadataSize: len(raw)}.MarshalBinary()
		enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedID: 0, ExtendedPayload: ext})
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveNone})
		for i := range info.NumPieces() {
			enc.WriteMessage(peerwire.Message{Type: peerwire.Have, Index: uint32(i)})
		}
		enc.WriteMessage(peerwire.Message{Type: peerwire.Unchoke})
		enc.Flush()
		theirMetadataID := uint8(0)
		for {
			var m peerwire.Message
			if dec.Decode(&m) != nil {
				return
			}
			switch {
			case m.Type == peerwire.Extended && m.ExtendedID == 0:
				var h peerwire.ExtensionHandshake
				if h.UnmarshalBinary(m.ExtendedPayload) == nil {
					theirMetadataID = h.M[peerwire.UtMetadata]
				}
			case m.Type == peerwire.Extended && m.ExtendedID == ourMetadataID:
				req, err := peerwire.ParseMetadataMessage(m.ExtendedPayload, len(raw))
				if err != nil || req.Type != peerwire.MetadataRequest {
					return
				}
				start := req.Piece * peerwire.MetadataPieceSize
				piece := raw[start : start+peerwire.MetadataPieceLen(req.Piece, len(raw))]
				b, _ := peerwire.MetadataMessage{Type: peerwire.MetadataData, Piece: req.Piece, TotalSize: len(raw), Data: piece}.MarshalBinary()
				enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedID: theirMetadataID, ExtendedPayload: b})
			case m.Type == peerwire.Request:
				off := int64(m.Index)*info.PieceLength + int64(m.Begin)
				enc.WritePiece(m.Index, m.Begin, content[off:off+int64(m.Length)])
			}
			if enc.Flush() != nil {
				return
			}
		}
	}()

	leecher := newNode(t, nil)
	lt, err := leecher.c.AddMagnet(mi.Magnet(info).String(), torrent.AddOptions{Peers: []string{l.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "late"), data)
}
