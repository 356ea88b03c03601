package torrent_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/torrent"
)

// A seeder with a free upload slot unchokes a new peer with its bitfield,
// before the peer says it is interested, so that the peer's first request
// goes out one round trip sooner; and it serves that request.
func TestSeederUnchokesNewPeerBeforeInterest(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "early", []int{1 << 20}, 256<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	c := dialHostile(t, seeder.addr, mi, false)
	c.(*net.TCPConn).SetReadBuffer(1 << 20)
	enc := peerwire.NewEncoder(c)
	enc.WriteMessage(peerwire.Message{Type: peerwire.HaveNone})
	enc.Flush()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	dec := peerwire.NewDecoder(c)

	// Everything the seeder sends before our interest: have-all (we both
	// speak BEP 6), then the unchoke.
	var m peerwire.Message
	var seen []peerwire.MessageType
	for m.Type != peerwire.Unchoke {
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("no unchoke before we said we were interested; got %v, then: %v", seen, err)
		}
		seen = append(seen, m.Type)
	}
	if seen[0] != peerwire.HaveAll {
		t.Errorf("first message %v, want have-all before the unchoke", seen[0])
	}

	// Unchoked, a request is served without an interested message.
	enc.WriteMessage(peerwire.Message{Type: peerwire.Request, Index: 1, Begin: torrent.BlockSize, Length: torrent.BlockSize})
	enc.Flush()
	for {
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("waiting for the block: %v", err)
		}
		if m.Type == peerwire.RejectRequest {
			t.Fatal("request rejected")
		}
		if m.Type == peerwire.Piece {
			break
		}
	}
	want := data["first.bin"][256<<10+torrent.BlockSize : 256<<10+2*torrent.BlockSize]
	if m.Index != 1 || m.Begin != torrent.BlockSize || !bytes.Equal(m.Piece, want) {
		t.Fatalf("got piece %d at %d (%d bytes), not the block asked for", m.Index, m.Begin, len(m.Piece))
	}
}
