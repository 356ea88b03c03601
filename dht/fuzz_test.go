package dht

import (
	"bytes"
	"net"
	"testing"

	"github.com/anacrolix/dht/v2/krpc"
)

// CheckMessage never panics, and what it accepts is a bounded, complete
// KRPC envelope.
func FuzzCheckMessage(f *testing.F) {
	for _, s := range []string{
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
		"d1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re",
		"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
		"d1:t2:aa1:y1:q", "le", "", "d1:t0:1:y1:re",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := CheckMessage(b)
		if err != nil {
			if m != (Message{}) {
				t.Fatalf("refused %q but returned %+v", b, m)
			}
			return
		}
		if len(b) > MaxPacket || b[0] != 'd' || m.T == "" || len(m.T) > maxTransactionID {
			t.Fatalf("accepted %q as %+v", b, m)
		}
		if m.Y != "q" && m.Y != "r" && m.Y != "e" || m.Y == "q" && m.Q == "" {
			t.Fatalf("accepted %q with type %q method %q", b, m.Y, m.Q)
		}
	})
}

// ParseNodes never panics; what it accepts round-trips through
// AppendNodes.
func FuzzParseNodes(f *testing.F) {
	f.Add(AppendNodes(nil, []krpc.NodeInfo{
		{ID: [20]byte{1}, Addr: krpc.NodeAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6881}},
		{ID: [20]byte{2}, Addr: krpc.NodeAddr{IP: net.ParseIP("2001:db8::1"), Port: 1}},
	}))
	f.Add([]byte(nodesHeader))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, b []byte) {
		nodes, err := ParseNodes(b)
		if err != nil {
			return
		}
		if len(nodes) > maxSavedNodes {
			t.Fatalf("parsed %d nodes, more than %d", len(nodes), maxSavedNodes)
		}
		again, err := ParseNodes(AppendNodes(nil, nodes))
		if err != nil || len(again) != len(nodes) {
			t.Fatalf("round trip: %d nodes, then %d, %v", len(nodes), len(again), err)
		}
		for i := range nodes {
			if again[i].ID != nodes[i].ID || !bytes.Equal(again[i].Addr.IP.To16(), nodes[i].Addr.IP.To16()) || again[i].Addr.Port != nodes[i].Addr.Port {
				t.Fatalf("node %d: %v, then %v", i, nodes[i], again[i])
			}
		}
	})
}
