package torrent_test

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/torrent"
)

// fakePeer listens on loopback and runs behave on each connection after the
// handshake (fast extension on, extension protocol off).
func fakePeer(t *testing.T, mi *metainfo.MetaInfo, behave func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder)) string {
	return fakePeerWith(t, mi, false, behave)
}

// fakePeerWith is fakePeer with the extension protocol (BEP 10) bit set
// when ext is.
func fakePeerWith(t *testing.T, mi *metainfo.MetaInfo, ext bool, behave func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				if _, err := peerwire.ReadHandshake(c); err != nil {
					return
				}
				hs := peerwire.Handshake{InfoHash: mi.HashInfoBytes()}
				copy(hs.PeerID[:], "-XX0001-hostilepeer!")
				rand.Read(hs.PeerID[8:])
				hs.Reserved.Set(peerwire.FastBit)
				if ext {
					hs.Reserved.Set(peerwire.ExtendedBit)
				}
				if peerwire.WriteHandshake(c, hs) != nil {
					return
				}
				behave(c, peerwire.NewEncoder(c), peerwire.NewDecoder(c))
			}()
		}
	}()
	return l.Addr().String()
}

// liarPeer is a peer that has every piece and answers every request with
// random bytes.
func liarPeer(t *testing.T, mi *metainfo.MetaInfo) string {
	return fakePeer(t, mi, func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder) {
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveAll})
		enc.WriteMessage(peerwire.Message{Type: peerwire.Unchoke})
		enc.Flush()
		junk := make([]byte, 16<<10)
		for {
			var m peerwire.Message
			if err := dec.Decode(&m); err != nil {
				return
			}
			if m.Type == peerwire.Request {
				rand.Read(junk)
				if enc.WritePiece(m.Index, m.Begin, junk[:m.Length]) != nil || enc.Flush() != nil {
					return
				}
			}
		}
	})
}

// A peer that answers every request with garbage is banned, and the file
// still arrives whole from an honest seeder.
func TestLiarIsBanned(t *testing.T) {
	seeder := newNode(t, func(c *torrent.Config) { c.UploadRate = 1 << 20 })
	mi, data := makeContent(t, seeder.dir, "liar", []int{1 << 20}, 32<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	liar := liarPeer(t, mi)
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{liar, seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 60*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "liar"), data)
	s := lt.Stats()
	if s.HashFails == 0 || s.Banned == 0 {
		t.Fatalf("the liar was not caught: %+v", s)
	}
}

// Hostile framing: a 2 GiB length prefix, a bad bitfield, requests out of
// range, a flood of have messages. Each such peer is dropped without harm,
// and an honest seeder still serves the download.
func TestHostileFraming(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "framing", []int{512 << 10}, 32<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	info, _ := mi.UnmarshalInfo()
	dropped := make(chan string, 8)
	expectDrop := func(name string, send func(c net.Conn, enc *peerwire.Encoder)) string {
		return fakePeer(t, mi, func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder) {
			send(c, enc)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.Copy(io.Discard, c); err == nil {
				dropped <- name
			}
		})
	}
	huge := expectDrop("2 GiB message", func(c net.Conn, enc *peerwire.Encoder) {
		var b [5]byte
		binary.BigEndian.PutUint32(b[:], 0x7fffffff)
		b[4] = byte(peerwire.Piece)
		c.Write(b[:])
	})
	badRequest := expectDrop("request out of range", func(c net.Conn, enc *peerwire.Encoder) {
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveNone})
		enc.WriteMessage(peerwire.Message{Type: peerwire.Interested})
		enc.WriteMessage(peerwire.Message{Type: peerwire.Request, Index: uint32(info.NumPieces() + 5), Begin: 0, Length: 16384})
		enc.Flush()
	})
	badHave := expectDrop("have out of range", func(c net.Conn, enc *peerwire.Encoder) {
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveNone})
		for i := 0; i < 100000; i++ {
			enc.WriteMessage(peerwire.Message{Type: peerwire.Have, Index: uint32(i % info.NumPieces())})
		}
		enc.WriteMessage(peerwire.Message{Type: peerwire.Have, Index: 1 << 30})
		enc.Flush()
	})
	badBitfield := expectDrop("short bitfield", func(c net.Conn, enc *peerwire.Encoder) {
		enc.WriteMessage(peerwire.Message{Type: peerwire.Bitfield, Bitfield: []byte{0xff}})
		enc.Flush()
	})
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{huge, badRequest, badHave, badBitfield, seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "framing"), data)
	got := map[string]bool{}
	timeout := time.After(25 * time.Second)
	for len(got) < 4 {
		select {
		case n := <-dropped:
			got[n] = true
		case <-timeout:
			t.Fatalf("not dropped: only %v", got)
		}
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if after.HeapAlloc > before.HeapAlloc+256<<20 {
		t.Fatalf("heap grew from %d to %d", before.HeapAlloc, after.HeapAlloc)
	}
}

// Garbage instead of a handshake is refused; the client keeps serving.
func TestMalformedHandshake(t *testing.T) {
	seeder := newNode(t, nil)
	mi, _ := makeContent(t, seeder.dir, "hs", []int{100000}, 32<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	for _, junk := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		append([]byte("\x13BitTorrent protocol"), make([]byte, 48)...), // unknown info hash
		{0xff, 0xff, 0xff, 0xff},
	} {
		c, err := net.Dial("tcp", seeder.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(junk)
		c.SetReadDeadline(time.Now().Add(25 * time.Second))
		start := time.Now()
		if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection not closed after %q: %v", junk[:4], err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%q: closed only after %v", junk[:4], d)
		}
		c.Close()
	}
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 20*time.Second)
}

// Smart-ban among several senders of one piece: three honest seeders and a
// liar share the blocks of each piece; the liar is found and banned, and no
// honest seeder is.
func TestSmartBanFindsLiarAmongSenders(t *testing.T) {
	// The honest seeders are slow, so that the liar (fast) gets a share of
	// most pieces' blocks.
	slow := func(c *torrent.Config) { c.UploadRate = 256 << 10 }
	var seeds []*node
	first := newNode(t, slow)
	mi, data := makeContent(t, first.dir, "crowdliar", []int{2 << 20}, 256<<10)
	seeds = append(seeds, first)
	for range 2 {
		n := newNode(t, slow)
		os.MkdirAll(filepath.Join(n.dir, "crowdliar"), 0o755)
		os.WriteFile(filepath.Join(n.dir, "crowdliar", "first.bin"), data["first.bin"], 0o644)
		seeds = append(seeds, n)
	}
	var addrs []string
	for _, n := range seeds {
		if _, err := n.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, n.addr)
	}
	liar := liarPeer(t, mi)
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: append([]string{liar}, addrs...)})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 60*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "crowdliar"), data)
	s := lt.Stats()
	if s.HashFails == 0 {
		t.Fatalf("the liar's blocks never failed a piece: %+v", s)
	}
	if s.Banned != 1 {
		t.Fatalf("banned %d hosts, want exactly the liar: %+v", s.Banned, s)
	}
	// The one ban is the liar's: each honest seeder served the leecher (once
	// it is done, seeder and leecher part as two seeds do).
	for _, n := range seeds {
		if st, _ := n.c.Torrent(mi.HashInfoBytes()); st.Stats().UploadedTotal == 0 {
			t.Fatalf("an honest seeder uploaded nothing to the leecher: %+v", st.Stats())
		}
	}
	t.Logf("%d hash failures, the liar banned, %d honest seeders served", s.HashFails, len(seeds))
}
