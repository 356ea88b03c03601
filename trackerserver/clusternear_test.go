package trackerserver

import "testing"

// TestNearSets: a socket's peer is picked from, and picks from, a near set
// only while it is in it under its own socket and unexpired; a drop names
// the socket, and expiry empties the sets.
func TestNearSets(t *testing.T) {
	s := &Server{inst: 1}
	conns := make([]*wsConn, 6)
	for i := range conns {
		conns[i] = &wsConn{s: s, regID: uint64(i + 1)}
	}
	ns := newNearSets()
	ih, other := hash20(1), hash20(2)
	ids := make([][20]byte, len(conns))
	for i, c := range conns {
		ids[i] = hash20(byte(0x10 + i))
		ns.put(&ih, &ids[i], c, 100)
	}
	got, ok := ns.pick(&ih, &ids[0], conns[0], 50, nil, 10)
	if !ok || len(got) != 5 {
		t.Fatalf("pick: %d peers, in the set %v; want 5, true", len(got), ok)
	}
	for _, p := range got {
		if p.conn == conns[0] || p.conn == nil || p.ref != p.conn.ref() {
			t.Fatalf("picked %+v", p)
		}
	}
	// Not in the set: another swarm, another socket under that ID, expired.
	for _, c := range []struct {
		ih   *[20]byte
		conn *wsConn
		now  int64
	}{{&other, conns[0], 50}, {&ih, conns[1], 50}, {&ih, conns[0], 100}} {
		if got, ok := ns.pick(c.ih, &ids[0], c.conn, c.now, nil, 10); ok || len(got) != 0 {
			t.Fatalf("pick for %+v: %d peers, %v", c, len(got), ok)
		}
	}
	// A drop by another socket leaves the entry; by its own, removes it.
	ns.drop(&ih, &ids[1], conns[2].ref())
	ns.drop(&ih, &ids[2], conns[2].ref())
	if n := ns.size(); n != 5 {
		t.Fatalf("%d entries after one drop of 6, want 5", n)
	}
	if _, ok := ns.pick(&ih, &ids[2], conns[2], 50, nil, 10); ok {
		t.Fatal("a dropped peer still picks")
	}
	// Another socket that took the ID over takes the entry over.
	ns.put(&ih, &ids[1], conns[5], 300)
	if _, ok := ns.pick(&ih, &ids[1], conns[1], 50, nil, 10); ok {
		t.Fatal("the old socket still picks")
	}
	if _, ok := ns.pick(&ih, &ids[1], conns[5], 200, nil, 10); !ok {
		t.Fatal("the new socket does not")
	}
	if n := ns.expire(100); n != 4 || ns.size() != 1 {
		t.Fatalf("expire removed %d, left %d; want 4 and 1", n, ns.size())
	}
	if n := ns.expire(300); n != 1 || ns.size() != 0 || len(ns.shard(&ih).swarms) != 0 {
		t.Fatalf("expire removed %d, left %d and the swarm's set", n, ns.size())
	}
}
