package trackerserver

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/udptracker"
)

func udpClient(t *testing.T, addr string) *udptracker.Client {
	t.Helper()
	c, err := udptracker.New("udp://"+addr+"/announce", udptracker.Config{Timeout: time.Second, MaxRetransmits: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPAnnounceScrape(t *testing.T) {
	ts := startServer(t, Config{Interval: 7 * time.Minute}, true)
	c := udpClient(t, ts.udpAddr)
	ctx := testCtx(t)
	ih := hash20(1)
	r1, err := c.Announce(ctx, req(ih, 1, 6881))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Interval != 7*time.Minute || r1.Leechers != 1 || r1.Seeders != 0 || len(r1.Peers) != 0 {
		t.Fatalf("first: %+v", r1)
	}
	seed := req(ih, 2, 6882)
	seed.Left = 0
	seed.Event = tracker.EventCompleted
	r2, err := c.Announce(ctx, seed)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Seeders != 1 || r2.Leechers != 1 || !slices.Equal(r2.Peers, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:6881")}) {
		t.Fatalf("second: %+v", r2)
	}
	// An HTTP peer of the same family is handed out over UDP too.
	hc := httpClient(t, ts.httpURL("/announce"))
	if _, err := hc.Announce(ctx, req(ih, 3, 6883)); err != nil {
		t.Fatal(err)
	}
	r3, err := c.Announce(ctx, req(ih, 4, 6884))
	if err != nil {
		t.Fatal(err)
	}
	if len(r3.Peers) != 3 {
		t.Fatalf("peers %v", r3.Peers)
	}
	got, err := c.Scrape(ctx, []metainfo.Hash{metainfo.Hash(ih), metainfo.Hash(hash20(2))})
	if err != nil {
		t.Fatal(err)
	}
	if got[metainfo.Hash(ih)] != (tracker.ScrapeResult{Complete: 1, Incomplete: 3, Downloaded: 1}) || got[metainfo.Hash(hash20(2))] != (tracker.ScrapeResult{}) {
		t.Fatalf("scrape %v", got)
	}
	// A scrape of many torrents is split by the client and answered in full.
	many := make([]metainfo.Hash, 100)
	for i := range many {
		many[i][0], many[i][1] = byte(i), 0xEE
	}
	if got, err := c.Scrape(ctx, many); err != nil || len(got) != 100 {
		t.Fatalf("scrape of 100: %d, %v", len(got), err)
	}
	if st := ts.Stats(); st.PeersByProtocol.UDP != 3 || st.Announces.UDP != 3 || st.Scrapes.UDP != 102 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUDPIPv6(t *testing.T) {
	pc, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	s := New(Config{})
	done := make(chan error, 1)
	go func() { done <- s.ServeUDP(pc) }()
	defer func() {
		s.Close()
		<-done
	}()
	c := udpClient(t, pc.LocalAddr().String())
	ctx := testCtx(t)
	ih := hash20(3)
	if _, err := c.Announce(ctx, req(ih, 1, 6881)); err != nil {
		t.Fatal(err)
	}
	r, err := c.Announce(ctx, req(ih, 2, 6882))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Peers, []netip.AddrPort{netip.MustParseAddrPort("[::1]:6881")}) {
		t.Fatalf("peers %v", r.Peers)
	}
}

// rawUDP sends one packet and returns the answer, or nil after a short wait.
func rawUDP(t *testing.T, conn *net.UDPConn, pkt []byte) []byte {
	t.Helper()
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestUDPMalformed(t *testing.T) {
	ts := startServer(t, Config{}, true)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ts.udpAddr)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	header := func(connID uint64, action, txid uint32) []byte {
		b := binary.BigEndian.AppendUint64(nil, connID)
		b = binary.BigEndian.AppendUint32(b, action)
		return binary.BigEndian.AppendUint32(b, txid)
	}
	// No answer to short packets, or to a connect without the magic.
	for _, pkt := range [][]byte{nil, {1, 2, 3}, header(12345, 0, 1)} {
		if got := rawUDP(t, conn, pkt); got != nil {
			t.Fatalf("answer %x to %x", got, pkt)
		}
	}
	// A made-up connection ID gets an error (action 3) with the txid.
	got := rawUDP(t, conn, append(header(0xdeadbeef, 1, 77), make([]byte, 82)...))
	if len(got) < 8 || binary.BigEndian.Uint32(got) != 3 || binary.BigEndian.Uint32(got[4:]) != 77 ||
		!strings.Contains(string(got[8:]), "connection ID") {
		t.Fatalf("bad connection ID answer %x", got)
	}
	// Connect, then malformed requests with a valid ID.
	got = rawUDP(t, conn, header(udpProtocolID, 0, 5))
	if len(got) != 16 || binary.BigEndian.Uint32(got) != 0 || binary.BigEndian.Uint32(got[4:]) != 5 {
		t.Fatalf("connect answer %x", got)
	}
	id := binary.BigEndian.Uint64(got[8:])
	tests := []struct {
		name string
		pkt  []byte
		want string
	}{
		{"short announce", append(header(id, 1, 6), make([]byte, 10)...), "too short"},
		{"bad event", func() []byte {
			p := append(header(id, 1, 6), make([]byte, 82)...)
			binary.BigEndian.PutUint32(p[80:], 9)
			return p
		}(), "invalid event"},
		{"empty scrape", header(id, 2, 6), "without info hashes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawUDP(t, conn, tt.pkt)
			if len(got) < 8 || binary.BigEndian.Uint32(got) != 3 || !strings.Contains(string(got[8:]), tt.want) {
				t.Fatalf("answer %q, want error %q", got, tt.want)
			}
		})
	}
	// An unknown action is junk, even with a valid ID: dropped.
	if got := rawUDP(t, conn, header(id, 9, 6)); got != nil {
		t.Fatalf("answer %x to an unknown action", got)
	}
	// Still serving.
	c := udpClient(t, ts.udpAddr)
	if _, err := c.Announce(testCtx(t), req(hash20(9), 1, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestUDPConnectionIDs: an ID is tied to the address and to its epoch.
func TestUDPConnectionIDs(t *testing.T) {
	s := New(Config{})
	defer s.Close()
	u := s.newUDPHandler()
	a := netip.MustParseAddrPort("192.0.2.1:6881")
	b := netip.MustParseAddrPort("192.0.2.1:6882")
	if u.connectionID(a, 5) == u.connectionID(b, 5) || u.connectionID(a, 5) == u.connectionID(a, 6) {
		t.Fatal("connection IDs do not depend on address and epoch")
	}
	if u.connectionID(a, 5) != u.connectionID(a, 5) {
		t.Fatal("connection IDs are not stable")
	}
	// An ID from two epochs ago is refused.
	pkt := binary.BigEndian.AppendUint64(nil, u.connectionID(a, u.epoch()-2))
	pkt = binary.BigEndian.AppendUint32(pkt, udpActionScrape)
	pkt = binary.BigEndian.AppendUint32(pkt, 1)
	pkt = append(pkt, make([]byte, 20)...)
	if out := u.handle(pkt, a); binary.BigEndian.Uint32(out) != udpActionError {
		t.Fatalf("stale ID accepted: %x", out)
	}
	binary.BigEndian.PutUint64(pkt, u.connectionID(a, u.epoch()-1))
	if out := u.handle(pkt, a); binary.BigEndian.Uint32(out) != udpActionScrape {
		t.Fatalf("previous epoch's ID refused: %x", out)
	}
	if out := u.handle(pkt, b); binary.BigEndian.Uint32(out) != udpActionError {
		t.Fatalf("ID of another address accepted: %x", out)
	}
}

func TestUDPClosed(t *testing.T) {
	s := New(Config{})
	s.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ServeUDP(pc); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ServeUDP after Close: %v", err)
	}
}
