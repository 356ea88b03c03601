package udptracker

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
)

// announceReq is an announce request as the test tracker decoded it.
type announceReq struct {
	connID  uint64
	txid    uint32
	req     tracker.AnnounceRequest
	urlData string
}

// testTracker is a small BEP 15 tracker on a loopback UDP socket. It answers
// like a real tracker; the fields below make it misbehave.
type testTracker struct {
	conn *net.UDPConn
	wg   sync.WaitGroup
	// peers are what announces return.
	peers []netip.AddrPort

	mu sync.Mutex
	// drop says whether to ignore the n-th packet (counting from 0).
	drop func(n int, action uint32) bool
	// respond, when set, replaces the tracker's answer to a packet; it
	// returns the packets to send back, in order.
	respond   func(pkt []byte) [][]byte
	connID    uint64
	packets   int
	connects  int
	announces []announceReq
	scrapes   [][]metainfo.Hash
}

// newTestTracker starts a tracker on addr ("127.0.0.1:0" or "[::1]:0").
func newTestTracker(t *testing.T, addr string) *testTracker {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	tt := &testTracker{conn: conn, connID: 0x1122334455667788,
		peers: []netip.AddrPort{netip.MustParseAddrPort("10.1.2.3:6881"), netip.MustParseAddrPort("10.1.2.4:6882")}}
	tt.wg.Add(1)
	go tt.serve()
	t.Cleanup(func() {
		conn.Close()
		tt.wg.Wait()
	})
	return tt
}

// url returns the tracker's announce URL with path and query appended.
func (tt *testTracker) url(pathQuery string) string {
	return "udp://" + tt.conn.LocalAddr().String() + pathQuery
}

func (tt *testTracker) serve() {
	defer tt.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := tt.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		pkt := append([]byte(nil), buf[:n]...)
		for _, out := range tt.handle(pkt, from) {
			tt.conn.WriteToUDPAddrPort(out, from)
		}
	}
}

func (tt *testTracker) handle(pkt []byte, from netip.AddrPort) [][]byte {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	n := tt.packets
	tt.packets++
	if len(pkt) < 16 {
		return nil
	}
	action := binary.BigEndian.Uint32(pkt[8:])
	if tt.drop != nil && tt.drop(n, action) {
		return nil
	}
	if tt.respond != nil {
		return tt.respond(pkt)
	}
	txid := binary.BigEndian.Uint32(pkt[12:])
	connID := binary.BigEndian.Uint64(pkt)
	header := func(action uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, action), txid)
	}
	if action != actionConnect && connID != tt.connID {
		return [][]byte{append(header(actionError), "bad connection ID"...)}
	}
	switch action {
	case actionConnect:
		if connID != protocolID {
			return nil // not a tracker packet: real trackers stay silent
		}
		tt.connects++
		return [][]byte{binary.BigEndian.AppendUint64(header(actionConnect), tt.connID)}
	case actionAnnounce:
		a, ok := decodeAnnounce(pkt)
		if !ok {
			return [][]byte{append(header(actionError), "bad announce"...)}
		}
		tt.announces = append(tt.announces, a)
		out := header(actionAnnounce)
		out = binary.BigEndian.AppendUint32(out, 1800) // interval
		out = binary.BigEndian.AppendUint32(out, 2)    // leechers
		out = binary.BigEndian.AppendUint32(out, 3)    // seeders
		for _, p := range tt.peers {
			if from.Addr().Is4() {
				out = tracker.AppendCompact(out, p)
			} else {
				a := p.Addr().As16() // an IPv6 socket sends 18 bytes, mapped or not
				out = binary.BigEndian.AppendUint16(append(out, a[:]...), p.Port())
			}
		}
		return [][]byte{out}
	case actionScrape:
		var hashes []metainfo.Hash
		out := header(actionScrape)
		for b := pkt[16:]; len(b) >= 20; b = b[20:] {
			h := metainfo.Hash(b[:20])
			hashes = append(hashes, h)
			out = binary.BigEndian.AppendUint32(out, uint32(h[0]))   // seeders
			out = binary.BigEndian.AppendUint32(out, uint32(h[1]))   // completed
			out = binary.BigEndian.AppendUint32(out, uint32(h[2])+1) // leechers
		}
		tt.scrapes = append(tt.scrapes, hashes)
		return [][]byte{out}
	}
	return [][]byte{append(header(actionError), "unknown action"...)}
}

// decodeAnnounce parses an announce request and its BEP 41 options.
func decodeAnnounce(pkt []byte) (announceReq, bool) {
	if len(pkt) < announceSize {
		return announceReq{}, false
	}
	be := binary.BigEndian
	a := announceReq{connID: be.Uint64(pkt), txid: be.Uint32(pkt[12:])}
	r := &a.req
	r.InfoHash = metainfo.Hash(pkt[16:36])
	r.PeerID = [20]byte(pkt[36:56])
	r.Downloaded = int64(be.Uint64(pkt[56:]))
	r.Left = int64(be.Uint64(pkt[64:]))
	r.Uploaded = int64(be.Uint64(pkt[72:]))
	r.Event = tracker.Event(be.Uint32(pkt[80:]))
	if ip := netip.AddrFrom4([4]byte(pkt[84:88])); !ip.IsUnspecified() {
		r.IP = ip
	}
	r.Key = be.Uint32(pkt[88:])
	r.NumWant = int(int32(be.Uint32(pkt[92:])))
	r.Port = be.Uint16(pkt[96:])
	for opts := pkt[announceSize:]; len(opts) > 0; {
		switch opts[0] {
		case 0: // end of options
			return a, true
		case 1: // no-op
			opts = opts[1:]
		default:
			if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
				return announceReq{}, false
			}
			end := 2 + int(opts[1])
			if opts[0] == optionURLData {
				a.urlData += string(opts[2:end])
			}
			opts = opts[end:]
		}
	}
	return a, true
}

// stats returns how many packets and connects the tracker has seen.
func (tt *testTracker) stats() (packets, connects int) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	return tt.packets, tt.connects
}

func (tt *testTracker) set(f func(tt *testTracker)) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	f(tt)
}
