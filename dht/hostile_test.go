package dht

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"

	"github.com/swarmcast/swarmcast/bencode"
)

// rawNode is a UDP socket speaking KRPC by hand, to send what a hostile
// node would.
type rawNode struct {
	t    testing.TB
	conn *net.UDPConn
	id   string
}

func newRawNode(t testing.TB) *rawNode {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(loopbackIP())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	id := make([]byte, 20)
	rand.Read(id)
	return &rawNode{t: t, conn: c, id: string(id)}
}

func (r *rawNode) addr() *net.UDPAddr { return r.conn.LocalAddr().(*net.UDPAddr) }

func (r *rawNode) send(to net.Addr, msg any) {
	b, err := bencode.Marshal(msg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.conn.WriteTo(b, to)
}

func (r *rawNode) query(to net.Addr, t, q string, args map[string]any) {
	args["id"] = r.id
	r.send(to, map[string]any{"t": t, "y": "q", "q": q, "a": args})
}

// replies reads answers until none comes for quiet, and counts them.
func (r *rawNode) replies(quiet time.Duration) int {
	n := 0
	buf := make([]byte, 2048)
	for {
		r.conn.SetReadDeadline(time.Now().Add(quiet))
		if _, _, err := r.conn.ReadFrom(buf); err != nil {
			return n
		}
		n++
	}
}

// pingAnswered reports whether the node at to answers a ping from r.
func (r *rawNode) pingAnswered(to net.Addr) bool {
	r.query(to, "pg", "ping", map[string]any{})
	buf := make([]byte, 2048)
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		r.conn.SetReadDeadline(deadline)
		n, _, err := r.conn.ReadFrom(buf)
		if err != nil {
			return false
		}
		var m Message
		if m, err = CheckMessage(buf[:n]); err == nil && m.T == "pg" && m.Y == "r" {
			return true
		}
	}
	return false
}

// A node flooding get_peers gets answers to at most its burst plus the
// per-IP rate for the time the flood lasts; the rest are dropped, counted,
// and another node's query is still answered.
func TestHostileGetPeersFlood(t *testing.T) {
	victim := startTestNode(t, nodeOpts{})
	flood := newRawNode(t)
	const queries = 5000
	start := time.Now()
	for i := range queries {
		var ih [20]byte
		binary.BigEndian.PutUint32(ih[:], uint32(i))
		flood.query(victim.Addr(), string(rune('a'+i%26))+string(rune('a'+i/26%26)), "get_peers", map[string]any{"info_hash": string(ih[:])})
	}
	got := flood.replies(500 * time.Millisecond)
	elapsed := time.Since(start)
	allowed := queryBurstPerIP + int(elapsed.Seconds()*queriesPerIP) + 1
	st := victim.Stats()
	t.Logf("%d get_peers in %v: %d answered (at most %d allowed), %d dropped by the rate limit", queries, elapsed.Round(time.Millisecond), got, allowed, st.DroppedRate)
	if got > allowed {
		t.Fatalf("answered %d queries of a flood, want at most %d", got, allowed)
	}
	// Some of the flood may never reach the node (its socket's buffer
	// overflows); what reaches it and is not answered was dropped by the
	// rate limit.
	if st.DroppedRate == 0 || int64(got)+st.DroppedRate > queries {
		t.Fatalf("%d answered and %d dropped by rate of %d queries", got, st.DroppedRate, queries)
	}
	if !newRawNode(t).pingAnswered(victim.Addr()) {
		t.Fatal("another node's ping is not answered after the flood")
	}
}

// Datagrams that are not KRPC, truncated, or larger than MaxPacket are
// dropped and counted, and the node goes on answering.
func TestHostileMalformedDatagrams(t *testing.T) {
	victim := startTestNode(t, nodeOpts{})
	bad := newRawNode(t)
	big := append([]byte("d1:ad2:id20:"+bad.id+"e1:q4:ping1:t2:aa1:y1:q"), bytes.Repeat([]byte("x"), MaxPacket)...)
	malformed := [][]byte{
		[]byte("not bencode at all"),
		[]byte("d1:t2:aa1:y1:q"),                                // truncated
		[]byte("i42e"),                                          // not a dictionary
		[]byte("d1:t2:aa1:y1:xe"),                               // unknown type
		[]byte("d1:y1:q1:q4:pinge"),                             // no transaction id
		[]byte("d1:t2:aa1:y1:qe"),                               // a query without a method
		[]byte("d1:t2:aa1:y1:q1:q4:pinge" + "trailing"),         // bytes after the message
		bytes.Repeat([]byte("l"), 1000),                         // deep nesting
		append([]byte("d1:t99999999999:"), make([]byte, 40)...), // a string longer than the datagram
		// KRPC envelopes whose body the library cannot decode (it would
		// log each to stderr).
		[]byte("d1:ai42e1:q4:ping1:t2:aa1:y1:qe"),
		[]byte("d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe"),
		[]byte("d1:rli1ee1:t2:aa1:y1:re"),
		[]byte("d1:ad2:idi5ee1:q9:get_peers1:t2:aa1:y1:qe"),
	}
	for _, b := range malformed {
		bad.conn.WriteTo(b, victim.Addr())
	}
	bad.conn.WriteTo(big, victim.Addr())
	if !bad.pingAnswered(victim.Addr()) {
		t.Fatal("the node stopped answering after malformed datagrams")
	}
	st := victim.Stats()
	if st.DroppedMalformed != int64(len(malformed)) || st.DroppedOversize != 1 {
		t.Fatalf("dropped %d malformed and %d oversize datagrams, want %d and 1", st.DroppedMalformed, st.DroppedOversize, len(malformed))
	}
}

// junkSwarm is a set of hostile nodes: each answers get_peers with as many
// junk peers as fit a datagram and names the others as closer nodes, so a
// lookup that trusts them would collect thousands of addresses.
func startJunkSwarm(t testing.TB, n int) []*rawNode {
	t.Helper()
	nodes := make([]*rawNode, n)
	for i := range nodes {
		nodes[i] = newRawNode(t)
	}
	var compact []byte
	for _, r := range nodes {
		compact = append(compact, r.id...)
		compact = append(compact, r.addr().IP.To4()...)
		compact = binary.BigEndian.AppendUint16(compact, uint16(r.addr().Port))
	}
	for i, r := range nodes {
		done := make(chan struct{})
		t.Cleanup(func() { r.conn.Close(); <-done })
		go func() {
			defer close(done)
			buf := make([]byte, 2048)
			seq := uint32(i) << 24
			for {
				n, from, err := r.conn.ReadFrom(buf)
				if err != nil {
					return
				}
				var m struct {
					T string `bencode:"t"`
					Q string `bencode:"q"`
				}
				if bencode.Unmarshal(buf[:n], &m) != nil {
					continue
				}
				resp := map[string]any{"id": r.id, "nodes": string(compact)}
				if m.Q == "get_peers" {
					var values []any
					for range 130 { // 130 × 8 bytes: as many as fit under MaxPacket
						seq++
						var v [6]byte
						binary.BigEndian.PutUint32(v[:], 0x0a000000|seq&0xffffff)
						binary.BigEndian.PutUint16(v[4:], uint16(1+seq%60000))
						values = append(values, string(v[:]))
					}
					resp["values"] = values
					resp["token"] = "tk"
					delete(resp, "nodes")
				}
				r.send(from, map[string]any{"t": m.T, "y": "r", "r": resp})
			}
		}()
	}
	return nodes
}

// A lookup among nodes that each return 130 junk peers (10 nodes: 1,300
// addresses, and more with every retry) hands the engine at most
// maxPeersPerLookup of them, and a response of 8,000 peers (an oversize
// datagram) is dropped unread.
func TestHostileJunkPeers(t *testing.T) {
	junk := startJunkSwarm(t, 10)
	victim := startTestNode(t, nodeOpts{boot: []string{junk[0].addr().String()}})
	victim.waitBootstrapped(t)
	ih := randomHash()
	victim.add(ih, true)
	deadline := time.After(waitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	total := 0
	for victim.Stats().LookupsDone == 0 {
		select {
		case f := <-victim.peers:
			total += len(f.peers)
		case <-deadline:
			t.Fatalf("the lookup among junk nodes did not end within %v (%d peers so far)", waitTimeout, total)
		case <-tick.C:
		}
	}
	for len(victim.peers) > 0 {
		total += len((<-victim.peers).peers)
	}
	st := victim.Stats()
	t.Logf("one lookup among 10 junk nodes handed on %d peers (%d in all)", total, st.PeersFound)
	if first := st.PeersFound; first > maxPeersPerLookup*st.Lookups {
		t.Fatalf("lookups handed on %d peers in %d lookups, want at most %d each", first, st.Lookups, maxPeersPerLookup)
	}
	if total < maxPeersPerLookup/2 {
		t.Fatalf("handed on only %d of the junk peers: the test's junk did not arrive", total)
	}

	// 8,000 peers in one answer (as many as a UDP datagram holds): far
	// past MaxPacket.
	huge := make([]any, 8000)
	for i := range huge {
		huge[i] = "\x0a\x00\x00\x01\x1a\xe1"
	}
	b, _ := bencode.Marshal(map[string]any{"t": "zz", "y": "r", "r": map[string]any{"id": junk[1].id, "values": huge}})
	before := victim.Stats().DroppedOversize
	if _, err := junk[1].conn.WriteTo(b, victim.Addr()); err != nil {
		t.Fatal(err)
	}
	if !newRawNode(t).pingAnswered(victim.Addr()) {
		t.Fatal("the node stopped answering")
	}
	if victim.Stats().DroppedOversize != before+1 {
		t.Fatal("the 8,000-peer answer was not dropped as oversize")
	}
}

// The peer store keeps at most maxPeersPerTorrent peers per torrent and
// maxStoredTorrents torrents, evicting the oldest, answers with at most
// maxPeersPerResponse, and forgets announces older than peerTTL.
func TestPeerStoreBounds(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := newPeerStore(func() time.Time { return now })
	ih := [20]byte{1}
	for i := range maxPeersPerTorrent + 100 {
		now = now.Add(time.Millisecond)
		s.AddPeer(ih, krpc.NodeAddr{IP: net.IPv4(10, 0, byte(i>>8), byte(i)), Port: 6881})
	}
	if _, peers := s.counts(); peers != maxPeersPerTorrent {
		t.Fatalf("stored %d peers for one torrent, want %d", peers, maxPeersPerTorrent)
	}
	if got := len(s.GetPeers(ih)); got != maxPeersPerResponse {
		t.Fatalf("answered with %d peers, want %d", got, maxPeersPerResponse)
	}
	s.mu.Lock()
	_, oldestKept := s.torrents[ih].peers[netip.MustParseAddrPort("10.0.0.0:6881")]
	_, newestKept := s.torrents[ih].peers[netip.MustParseAddrPort("10.0.2.87:6881")]
	s.mu.Unlock()
	if oldestKept || !newestKept {
		t.Fatalf("eviction kept the oldest (%v) or dropped the newest (%v)", oldestKept, newestKept)
	}
	for i := range maxStoredTorrents + 50 {
		now = now.Add(time.Millisecond)
		var h [20]byte
		binary.BigEndian.PutUint32(h[1:], uint32(i))
		s.AddPeer(h, krpc.NodeAddr{IP: net.IPv4(10, 1, 0, 1), Port: 1})
	}
	if torrents, _ := s.counts(); torrents != maxStoredTorrents {
		t.Fatalf("stored %d torrents, want %d", torrents, maxStoredTorrents)
	}
	for _, bad := range []krpc.NodeAddr{{IP: net.IPv4zero, Port: 1}, {IP: net.IPv4(224, 0, 0, 1), Port: 1}, {IP: net.IPv4(10, 0, 0, 1), Port: 0}} {
		s.AddPeer([20]byte{2}, bad)
	}
	if got := s.GetPeers([20]byte{2}); len(got) != 0 {
		t.Fatalf("stored unusable peers: %v", got)
	}
	now = now.Add(peerTTL + time.Second)
	if got := s.GetPeers([20]byte{0, 0, 0, 0, 1}); len(got) != 0 {
		t.Fatalf("an announce older than peerTTL is still handed out: %v", got)
	}
}
