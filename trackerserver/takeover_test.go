package trackerserver

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// udpPeer is a raw BEP 15 client on its own loopback address, so that a
// test can announce with any peer ID and port as fast as the tracker
// answers.
type udpPeer struct {
	t      testing.TB
	conn   *net.UDPConn
	server *net.UDPAddr
	connID uint64
	txid   uint32
	buf    []byte
}

// newUDPPeer connects from ip (an address of 127.0.0.0/8) to the tracker.
func newUDPPeer(t testing.TB, ts *testServer, ip string) *udpPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	u := &udpPeer{t: t, conn: conn, server: net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ts.udpAddr)), buf: make([]byte, 2048)}
	pkt := binary.BigEndian.AppendUint64(nil, udpProtocolID)
	pkt = binary.BigEndian.AppendUint32(pkt, udpActionConnect)
	pkt = binary.BigEndian.AppendUint32(pkt, 0)
	out := u.roundTrip(pkt)
	if len(out) != 16 || binary.BigEndian.Uint32(out) != udpActionConnect {
		t.Fatalf("connect answer %x", out)
	}
	u.connID = binary.BigEndian.Uint64(out[8:])
	return u
}

// roundTrip sends pkt with the next transaction ID and returns the answer
// with that ID.
func (u *udpPeer) roundTrip(pkt []byte) []byte {
	u.t.Helper()
	u.txid++
	binary.BigEndian.PutUint32(pkt[12:], u.txid)
	if _, err := u.conn.WriteToUDP(pkt, u.server); err != nil {
		u.t.Fatal(err)
	}
	u.conn.SetReadDeadline(time.Now().Add(testTimeout))
	for {
		n, err := u.conn.Read(u.buf)
		if err != nil {
			u.t.Fatalf("no answer: %v", err)
		}
		if n >= 8 && binary.BigEndian.Uint32(u.buf[4:]) == u.txid {
			return u.buf[:n]
		}
	}
}

// announce announces id on port with left bytes to go, and returns the
// peers handed out, or the tracker's error.
func (u *udpPeer) announce(ih [20]byte, id [20]byte, port uint16, left uint64, event uint32, numWant int32) ([]netip.AddrPort, error) {
	u.t.Helper()
	pkt := binary.BigEndian.AppendUint64(nil, u.connID)
	pkt = binary.BigEndian.AppendUint32(pkt, udpActionAnnounce)
	pkt = binary.BigEndian.AppendUint32(pkt, 0)
	pkt = append(pkt, ih[:]...)
	pkt = append(pkt, id[:]...)
	pkt = binary.BigEndian.AppendUint64(pkt, 0) // downloaded
	pkt = binary.BigEndian.AppendUint64(pkt, left)
	pkt = binary.BigEndian.AppendUint64(pkt, 0) // uploaded
	pkt = binary.BigEndian.AppendUint32(pkt, event)
	pkt = binary.BigEndian.AppendUint32(pkt, 0) // ip
	pkt = binary.BigEndian.AppendUint32(pkt, 0) // key
	pkt = binary.BigEndian.AppendUint32(pkt, uint32(numWant))
	pkt = binary.BigEndian.AppendUint16(pkt, port)
	out := u.roundTrip(pkt)
	switch action := binary.BigEndian.Uint32(out); {
	case action == udpActionError:
		return nil, fmt.Errorf("tracker error: %s", out[8:])
	case action != udpActionAnnounce || len(out) < 20 || (len(out)-20)%6 != 0:
		u.t.Fatalf("announce answer %x", out)
	}
	var peers []netip.AddrPort
	for b := out[20:]; len(b) >= 6; b = b[6:] {
		peers = append(peers, netip.AddrPortFrom(netip.AddrFrom4([4]byte(b)), binary.BigEndian.Uint16(b[4:])))
	}
	return peers, nil
}

func peerIDn(n int) [20]byte {
	var id [20]byte
	copy(id[:], "-XX0001-")
	binary.BigEndian.PutUint64(id[12:], uint64(n))
	return id
}

// checkDistinct fails if peers lists an address twice or lists self.
func checkDistinct(t testing.TB, peers []netip.AddrPort, self netip.AddrPort) {
	t.Helper()
	seen := make(map[netip.AddrPort]bool)
	for _, p := range peers {
		if seen[p] {
			t.Fatalf("%v handed out twice in one answer: %v", p, peers)
		}
		if p == self {
			t.Fatalf("asker %v handed its own address", self)
		}
		seen[p] = true
	}
}

// TestOneAddressCannotTakeOverSwarm: one ip:port announcing 20,000 peer IDs
// (the attack, which filled a swarm with 5,000 copies of itself) is
// one entry; an honest newcomer is stored and handed out to everyone who
// asks, and no answer carries an address twice.
func TestOneAddressCannotTakeOverSwarm(t *testing.T) {
	ts := startServer(t, Config{}, true)
	ih := hash20(40)
	attacker := newUDPPeer(t, ts, "127.0.0.1")
	for i := range 20_000 {
		if _, err := attacker.announce(ih, peerIDn(i), 6881, 1000, 2, 0); err != nil {
			t.Fatalf("attacker's announce %d: %v", i, err)
		}
	}
	if st := ts.Stats(); st.PeersByProtocol.UDP != 1 {
		t.Fatalf("one ip:port left %d entries", st.PeersByProtocol.UDP)
	}
	honest := newUDPPeer(t, ts, "127.0.0.2")
	honestAddr := netip.MustParseAddrPort("127.0.0.2:7000")
	if _, err := honest.announce(ih, peerIDn(1<<40), honestAddr.Port(), 1000, 2, 50); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		asker := newUDPPeer(t, ts, fmt.Sprintf("127.0.1.%d", i+1))
		self := netip.AddrPortFrom(netip.MustParseAddr(fmt.Sprintf("127.0.1.%d", i+1)), 8000)
		peers, err := asker.announce(ih, peerIDn(1<<41+i), self.Port(), 1000, 2, 50)
		if err != nil {
			t.Fatal(err)
		}
		checkDistinct(t, peers, self)
		found := false
		for _, p := range peers {
			found = found || p == honestAddr
		}
		if !found {
			t.Fatalf("asker %d was not handed the honest newcomer: %v", i, peers)
		}
	}
}

// TestOneIPManyPorts: one IP address announcing on 1,000 ports holds at
// most MaxPeersPerIP entries of a swarm.
func TestOneIPManyPorts(t *testing.T) {
	ts := startServer(t, Config{}, true)
	ih := hash20(41)
	attacker := newUDPPeer(t, ts, "127.0.0.1")
	for i := range 1000 {
		if _, err := attacker.announce(ih, peerIDn(i), uint16(10000+i), 1000, 2, 0); err != nil {
			t.Fatal(err)
		}
	}
	if st := ts.Stats(); st.PeersByProtocol.UDP != DefaultMaxPeersPerIP || st.PeersPerIPRefused != 1000-DefaultMaxPeersPerIP {
		t.Fatalf("one IP holds %d entries (%d refused), want %d", st.PeersByProtocol.UDP, st.PeersPerIPRefused, DefaultMaxPeersPerIP)
	}
}

// TestFullSwarmEvicts: in a full swarm a newcomer takes the place of the
// entry that announced least recently instead of being left out.
func TestFullSwarmEvicts(t *testing.T) {
	const maxPeers = 20
	ts := startServer(t, Config{MaxPeersPerTorrent: maxPeers, MaxPeersPerIP: 1}, true)
	ih := hash20(42)
	for i := range maxPeers {
		p := newUDPPeer(t, ts, fmt.Sprintf("127.0.2.%d", i+1))
		if _, err := p.announce(ih, peerIDn(i), 6881, 1000, 2, 0); err != nil {
			t.Fatal(err)
		}
	}
	newcomer := newUDPPeer(t, ts, "127.0.3.1")
	if _, err := newcomer.announce(ih, peerIDn(100), 6881, 1000, 2, 0); err != nil {
		t.Fatal(err)
	}
	asker := newUDPPeer(t, ts, "127.0.3.2")
	peers, err := asker.announce(ih, peerIDn(101), 6881, 1000, 2, 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range peers {
		found = found || p == netip.MustParseAddrPort("127.0.3.1:6881")
	}
	if st := ts.Stats(); !found || st.PeersByProtocol.UDP != maxPeers || st.PeersEvicted != 2 {
		t.Fatalf("newcomer handed out: %v; %d peers, %d evicted", found, st.PeersByProtocol.UDP, st.PeersEvicted)
	}
}

// TestRestartCountsOnce: a client that restarts on the same ip:port with a
// new peer ID is one peer, and is not handed its own address.
func TestRestartCountsOnce(t *testing.T) {
	ts := startServer(t, Config{}, true)
	ih := hash20(43)
	c := newUDPPeer(t, ts, "127.0.0.1")
	self := netip.MustParseAddrPort("127.0.0.1:6881")
	if _, err := c.announce(ih, peerIDn(1), self.Port(), 1000, 2, 50); err != nil {
		t.Fatal(err)
	}
	peers, err := c.announce(ih, peerIDn(2), self.Port(), 1000, 2, 50) // restarted
	if err != nil {
		t.Fatal(err)
	}
	checkDistinct(t, peers, self)
	if st := ts.Stats(); st.Peers != 1 || st.Leechers != 1 {
		t.Fatalf("a restart counts %d peers", st.Peers)
	}
	// Over HTTP too, on the same address, after a restart as a seeder.
	hc := httpClient(t, ts.httpURL("/announce"))
	r := req(ih, 3, self.Port())
	r.Left = 0
	if _, err := hc.Announce(testCtx(t), r); err != nil {
		t.Fatal(err)
	}
	if st := ts.Stats(); st.Peers != 1 || st.Seeders != 1 || st.PeersByProtocol.HTTP != 1 {
		t.Fatalf("a restart over HTTP: %+v", st)
	}
}

// TestOneIPv6NetworkIsOneHost: addresses of one IPv6 /64 count as one host
// for MaxPeersPerIP (a host holds the whole /64); another /64 is another
// host. The addresses come in a trusted "ip" parameter: loopback has only
// ::1 to send from.
func TestOneIPv6NetworkIsOneHost(t *testing.T) {
	ts := startServer(t, Config{TrustIPParam: true}, false)
	c := httpClient(t, ts.httpURL("/announce"))
	ih := hash20(44)
	for i := range 40 {
		r := req(ih, byte(i), 6881)
		r.IP = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)})
		if _, err := c.Announce(testCtx(t), r); err != nil {
			t.Fatal(err)
		}
	}
	other := req(ih, 100, 6881)
	other.IP = netip.MustParseAddr("2001:db8:0:1::1")
	if _, err := c.Announce(testCtx(t), other); err != nil {
		t.Fatal(err)
	}
	if st := ts.Stats(); st.PeersByProtocol.HTTP != DefaultMaxPeersPerIP+1 {
		t.Fatalf("one /64 and one more address hold %d entries, want %d", st.PeersByProtocol.HTTP, DefaultMaxPeersPerIP+1)
	}
}
