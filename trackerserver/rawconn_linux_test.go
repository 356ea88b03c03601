package trackerserver

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns a connected loopback pair; the first is wrapped.
func tcpPair(t *testing.T) (raw net.Conn, peer net.Conn) {
	t.Helper()
	c, peer := loopbackPair(t)
	raw = wrapConn(c)
	if _, ok := raw.(*rawConn); !ok {
		t.Fatalf("wrapConn returned %T", raw)
	}
	return raw, peer
}

// Both directions carry 8 MiB intact; the writer fills the socket buffer
// (the reader starts late), so writes go through the wait for room.
func TestRawConnTransfers(t *testing.T) {
	raw, peer := tcpPair(t)
	data := make([]byte, 8<<20)
	rand.NewChaCha8([32]byte{7}).Read(data)
	for _, dir := range []struct {
		name string
		w, r net.Conn
	}{{"raw writes", raw, peer}, {"raw reads", peer, raw}} {
		errc := make(chan error, 1)
		go func() {
			// Uneven write sizes, as frames are.
			for off, i := 0, 0; off < len(data); i++ {
				n := min(len(data)-off, 1+(i*7919)%70000)
				if _, err := dir.w.Write(data[off : off+n]); err != nil {
					errc <- err
					return
				}
				off += n
			}
			errc <- nil
		}()
		time.Sleep(50 * time.Millisecond)
		got := make([]byte, len(data))
		dir.r.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(dir.r, got); err != nil {
			t.Fatalf("%s: read: %v", dir.name, err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("%s: write: %v", dir.name, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%s: bytes differ", dir.name)
		}
	}
}

// Deadlines, Close from another goroutine, the peer's close (EOF) and
// writes to a closed peer (an error, not SIGPIPE) behave as net.Conn's do.
func TestRawConnEnds(t *testing.T) {
	raw, peer := tcpPair(t)
	buf := make([]byte, 64)

	raw.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := raw.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	raw.SetReadDeadline(time.Time{})

	peer.Write([]byte("hello"))
	if n, err := raw.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	peer.Close()
	if _, err := raw.Read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}
	// The peer is gone: writes fail (EPIPE or ECONNRESET) within a few tries.
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		_, werr = raw.Write(make([]byte, 4096))
		time.Sleep(time.Millisecond)
	}
	if werr == nil {
		t.Fatal("writes to a closed peer kept succeeding")
	}

	raw2, _ := tcpPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := raw2.Read(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	raw2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed conn: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a blocked read")
	}
}

// NATSDialer's connections use raw calls, and carry bytes both ways.
func TestNATSDialerRaw(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := &NATSDialer{Dialer: net.Dialer{Timeout: 5 * time.Second}}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*rawConn); !ok {
		t.Fatalf("NATSDialer.Dial returned %T, want *rawConn", c)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 6)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "PING\r\n" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if _, err := peer.Write([]byte("PONG\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "PONG\r\n" {
		t.Fatalf("dialed conn read %q, %v", got, err)
	}
	if _, err := d.Dial("tcp", "127.0.0.1:1"); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
}
