package dht

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/utprefuse"
)

// A uTP connection request on the DHT's port (libtorrent clients try uTP
// before TCP) gets a RESET naming its connection id and acknowledging its
// sequence number, so that the client falls back to TCP at once; the node
// still answers the DHT.
func TestUTPSynGetsReset(t *testing.T) {
	node := startTestNode(t, nodeOpts{})
	peer := newRawNode(t)
	syn := make([]byte, utprefuse.HeaderLen)
	syn[0] = 0x41                                // ST_SYN, version 1
	binary.BigEndian.PutUint16(syn[2:], 0xbeef)  // connection_id: the initiator's receive id
	binary.BigEndian.PutUint16(syn[16:], 0x1234) // seq_nr
	if _, err := peer.conn.WriteTo(syn, node.Addr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	peer.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	n, _, err := peer.conn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no answer to a uTP SYN: %v", err)
	}
	r := buf[:n]
	if n != utprefuse.HeaderLen || r[0] != 0x31 || !bytes.Equal(r[2:4], syn[2:4]) || !bytes.Equal(r[18:20], syn[16:18]) {
		t.Fatalf("answer % x, want a RESET for connection 0xbeef acknowledging 0x1234", r)
	}
	if got := node.Stats().UTPRefused; got != 1 {
		t.Errorf("UTPRefused = %d, want 1", got)
	}
	if !peer.pingAnswered(node.Addr()) {
		t.Error("the node stopped answering pings")
	}
}
