package torrent_test

import (
	"crypto/rand"
	"net"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
)

// kindConn is a TCP connection that says it is of another transport kind,
// as a WebRTC data channel handed to Torrent.AddConn would.
type kindConn struct {
	net.Conn
	kind string
}

func (c kindConn) Network() string    { return c.kind }
func (c kindConn) RemoteAddr() string { return c.Conn.RemoteAddr().String() }
func (c kindConn) Outbound() bool     { return true }

// A magnet asks a WebRTC peer for two metadata pieces at once, so that an
// info of two pieces arrives in one round trip; a TCP peer, one at a time
// (rTorrent stops reading after the first of several).
func TestMetadataPipelineByTransport(t *testing.T) {
	src := newNode(t, nil)
	// 1,024 pieces: an info of ~20 KiB, two metadata pieces.
	mi, _ := makeContent(t, src.dir, "pipe", []int{1024 * 16 << 10}, 16<<10)
	info, _ := mi.UnmarshalInfo()
	if n := peerwire.MetadataPieceCount(len(mi.InfoBytes)); n != 2 {
		t.Fatalf("%d metadata pieces, want 2", n)
	}
	for _, tc := range []struct {
		kind string
		want int
	}{{transport.WebRTC, 2}, {transport.TCP, 1}} {
		t.Run(tc.kind, func(t *testing.T) {
			leecher := newNode(t, nil)
			lt, err := leecher.c.AddMagnet(mi.Magnet(info).String(), torrent.AddOptions{})
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			ours, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer theirs.Close()
			go lt.AddConn(kindConn{ours, tc.kind})

			// The scripted peer: handshake, have-all, an extension
			// handshake offering the metadata; then it only listens.
			theirs.SetDeadline(time.Now().Add(10 * time.Second))
			hs := peerwire.Handshake{InfoHash: mi.HashInfoBytes()}
			copy(hs.PeerID[:], "-XX0001-")
			rand.Read(hs.PeerID[8:])
			hs.Reserved.Set(peerwire.ExtendedBit)
			if err := peerwire.WriteHandshake(theirs, hs); err != nil {
				t.Fatal(err)
			}
			if _, err := peerwire.ReadHandshake(theirs); err != nil {
				t.Fatal(err)
			}
			enc, dec := peerwire.NewEncoder(theirs), peerwire.NewDecoder(theirs)
			ext := peerwire.ExtensionHandshake{M: map[string]uint8{peerwire.UtMetadata: 7}, MetadataSize: len(mi.InfoBytes)}
			b, _ := ext.MarshalBinary()
			enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedPayload: b})
			enc.Flush()

			// Count the metadata requests that arrive before we answer any.
			theirs.SetReadDeadline(time.Now().Add(time.Second))
			asked := map[int]bool{}
			for {
				var m peerwire.Message
				if err := dec.Decode(&m); err != nil {
					break // the deadline: nothing more came
				}
				if m.Type != peerwire.Extended || m.ExtendedID != 7 {
					continue
				}
				mm, err := peerwire.ParseMetadataMessage(m.ExtendedPayload, peerwire.MaxMetadataSize)
				if err == nil && mm.Type == peerwire.MetadataRequest {
					asked[mm.Piece] = true
				}
			}
			if len(asked) != tc.want {
				t.Fatalf("asked for metadata pieces %v before any answer, want %d of them", asked, tc.want)
			}
		})
	}
}
