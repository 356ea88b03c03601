package swarmcast_test

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast"
)

// With no DHT on its port (here: on loopback with no bootstrap node), the
// client still answers a uTP connection request on the UDP side of its
// listen port with a RESET for that connection, so that a uTP-first client
// (qBittorrent) moves to TCP at once; and Close frees the port.
func TestUTPRefusedWithoutDHT(t *testing.T) {
	c, err := swarmcast.NewClient(swarmcast.Config{ListenAddr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	udpAddr, err := net.ResolveUDPAddr("udp", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", nil, udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	syn := make([]byte, 20)
	syn[0] = 0x41                                // ST_SYN, version 1
	binary.BigEndian.PutUint16(syn[2:], 0x5a5a)  // connection_id
	binary.BigEndian.PutUint16(syn[16:], 0x0102) // seq_nr
	buf := make([]byte, 64)
	var n int
	for try := 0; ; try++ {
		conn.Write(syn)
		conn.SetReadDeadline(time.Now().Add(time.Second))
		if n, err = conn.Read(buf); err == nil || try == 4 {
			break
		}
	}
	if err != nil {
		t.Fatalf("no answer to a uTP SYN on %s: %v", c.Addr(), err)
	}
	if n != 20 || buf[0] != 0x31 || binary.BigEndian.Uint16(buf[2:]) != 0x5a5a || binary.BigEndian.Uint16(buf[18:]) != 0x0102 {
		t.Fatalf("answer % x, want a RESET for connection 0x5a5a acknowledging 0x0102", buf[:n])
	}
	c.Close()
	l, err := net.ListenUDP("udp", udpAddr)
	if err != nil {
		t.Fatalf("the UDP port is still held after Close: %v", err)
	}
	l.Close()
}
