package trackerserver

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestUDPJunkNeverAmplified sends what a forger would, from a real socket:
// random junk of 16 to 200 bytes, and the 16-byte announce with a
// made-up connection ID. No answer may be bigger than its request, and
// junk is dropped and counted.
func TestUDPJunkNeverAmplified(t *testing.T) {
	ts := startServer(t, Config{}, true)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(ts.udpAddr)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	const batch, batches = 50, 20
	sizes := make(map[uint32]int) // txid → request size
	var answered, sent int
	buf := make([]byte, 4096)
	for b := range batches {
		for i := range batch {
			txid := uint32(b*batch + i + 1)
			n := 16 + rng.IntN(185)
			pkt := make([]byte, n)
			for j := range pkt {
				pkt[j] = byte(rng.UintN(256))
			}
			switch i % 5 {
			case 0: // the packet: announce, bad ID, nothing more
				pkt = pkt[:16]
				binary.BigEndian.PutUint32(pkt[8:], udpActionAnnounce)
			case 1: // scrape with a bad ID
				binary.BigEndian.PutUint32(pkt[8:], udpActionScrape)
			case 2: // connect without the protocol ID
				binary.BigEndian.PutUint32(pkt[8:], udpActionConnect)
			}
			binary.BigEndian.PutUint32(pkt[12:], txid)
			sizes[txid] = len(pkt)
			if _, err := conn.Write(pkt); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		// A fence: one socket reads in order, so once the connect's answer
		// is here every answer to this batch has been sent.
		fence := binary.BigEndian.AppendUint64(nil, udpProtocolID)
		fence = binary.BigEndian.AppendUint32(fence, udpActionConnect)
		fence = binary.BigEndian.AppendUint32(fence, 0)
		if _, err := conn.Write(fence); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(testTimeout))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("batch %d: no fence answer: %v", b, err)
			}
			txid := binary.BigEndian.Uint32(buf[4:])
			if n == 16 && txid == 0 {
				break
			}
			if n > sizes[txid] {
				t.Fatalf("a %d-byte packet got a %d-byte answer: %x", sizes[txid], n, buf[:n])
			}
			answered++
		}
	}
	st := ts.Stats()
	t.Logf("%d junk packets: %d answered, %d dropped", sent, answered, st.UDPDropped)
	if st.UDPDropped == 0 || st.UDPDropped+uint64(answered) != uint64(sent) {
		t.Fatalf("%d sent, %d answered, %d counted as dropped", sent, answered, st.UDPDropped)
	}
	// Only scrapes and announces with room for the short error are answered.
	if answered > sent*2/5 {
		t.Fatalf("%d of %d junk packets answered", answered, sent)
	}
}
