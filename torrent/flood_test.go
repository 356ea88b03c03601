package torrent_test

import (
	"crypto/rand"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/torrent"
)

// dialHostile connects to addr as a peer of mi that reads nothing: its
// receive buffer is made small, so what the other side sends piles up there.
func dialHostile(t *testing.T, addr string, mi *metainfo.MetaInfo, ext bool) net.Conn {
	t.Helper()
	d := net.Dialer{Control: nil}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(4096)
	hs := peerwire.Handshake{InfoHash: mi.HashInfoBytes()}
	copy(hs.PeerID[:], "-XX0001-")
	rand.Read(hs.PeerID[8:])
	hs.Reserved.Set(peerwire.FastBit)
	if ext {
		hs.Reserved.Set(peerwire.ExtendedBit)
	}
	if err := peerwire.WriteHandshake(c, hs); err != nil {
		t.Fatal(err)
	}
	if _, err := peerwire.ReadHandshake(c); err != nil {
		t.Fatal(err)
	}
	return c
}

// heapWatch samples the live heap (after a collection, so garbage is not
// counted) until stopped and reports the most it grew above where it
// started.
func heapWatch() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
				peak = ms.HeapAlloc - base
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// waitPeers waits until the torrent has n connections.
func waitPeers(t *testing.T, tt *torrent.Torrent, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for tt.Stats().Peers != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d peers after %v, want %d", tt.Stats().Peers, d, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// floodLimit is what a flood may grow the seeder's heap by (the issue's
// bound for RSS growth); a peer's queue is bounded at a few MiB.
const floodLimit = 16 << 20

// flood runs one hostile connection to the seeder: connect, then send.
type flood func(t *testing.T) (done <-chan struct{})

// checkFlood runs the flood twice. First alone, watching the heap: it may
// grow by floodLimit at most, and the seeder must close the flooder. Then
// again beside an honest leecher, which must be served meanwhile.
func checkFlood(t *testing.T, seeder *node, st *torrent.Torrent, mi *metainfo.MetaInfo, data map[string][]byte, name string, f flood) {
	t.Helper()
	watch := heapWatch()
	before := st.Stats().ConnectionsTotal
	done := f(t)
	// The flooder may be closed between two looks at Peers (the race
	// detector's CI run saw it): wait for its connection to be counted.
	deadline := time.Now().Add(10 * time.Second)
	for st.Stats().ConnectionsTotal == before {
		if time.Now().After(deadline) {
			t.Fatal("the flooder was not connected after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitPeers(t, st, 0, 30*time.Second) // the flooder is closed: over budget
	<-done
	if grew := watch(); grew > floodLimit {
		t.Fatalf("seeder heap grew by %d MiB, want at most %d", grew>>20, floodLimit>>20)
	} else {
		t.Logf("seeder heap grew by at most %.1f MiB", float64(grew)/(1<<20))
	}

	done = f(t)
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 60*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, name), data)
	lt.Close()
	<-done
	waitPeers(t, st, 0, 30*time.Second)
}

// A peer that asks for the metadata tens of thousands of times and reads
// nothing holds a few replies, not one per request: the seeder's heap stays
// within bounds, the peer is closed, and an honest leecher is served
// meanwhile.
func TestMetadataFloodFromPeerThatNeverReads(t *testing.T) {
	seeder := newNode(t, nil)
	// 2,048 pieces make an info dictionary of ~40 KiB: three metadata
	// pieces of 16 KiB.
	mi, data := makeContent(t, seeder.dir, "mflood", []int{2048 * 16 << 10}, 16<<10)
	st, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
	if err != nil {
		t.Fatal(err)
	}
	checkFlood(t, seeder, st, mi, data, "mflood", func(t *testing.T) <-chan struct{} {
		c := dialHostile(t, seeder.addr, mi, true)
		hs := peerwire.ExtensionHandshake{M: map[string]uint8{peerwire.UtMetadata: 3}}
		b, _ := hs.MarshalBinary()
		enc := peerwire.NewEncoder(c)
		enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedID: 0, ExtendedPayload: b})
		// 400,000 requests: 12 MB on the wire, which used to queue a reply
		// (16 KiB) or a reject for each. The kernel's socket buffers take
		// the first few MB of rejects; the rest go over the budget.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; i < 400_000; i++ {
				req, _ := peerwire.MetadataMessage{Type: peerwire.MetadataRequest, Piece: i % 3}.MarshalBinary()
				if enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedID: 1, ExtendedPayload: req}) != nil {
					return
				}
			}
			enc.Flush()
		}()
		return done
	})
}

// A choked peer that asks for a million blocks and reads nothing is closed
// once the rejects queued for it are over budget; the seeder's heap stays
// bounded and an honest leecher is served meanwhile. (Requests while
// unchoked queue one entry per distinct block, at most maxServedQueue.)
func TestRequestFloodFromPeerThatNeverReads(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "rflood", []int{4 << 20}, 64<<10)
	st, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := mi.UnmarshalInfo()
	checkFlood(t, seeder, st, mi, data, "rflood", func(t *testing.T) <-chan struct{} {
		c := dialHostile(t, seeder.addr, mi, false)
		enc := peerwire.NewEncoder(c)
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveNone})
		enc.Flush()
		done := make(chan struct{})
		go func() {
			defer close(done)
			blocks := int(info.PieceLength / torrent.BlockSize)
			for i := 0; i < 1_000_000; i++ {
				piece := (i / blocks) % info.NumPieces()
				m := peerwire.Message{Type: peerwire.Request, Index: uint32(piece), Begin: uint32(i%blocks) * torrent.BlockSize, Length: torrent.BlockSize}
				if enc.WriteMessage(m) != nil {
					return
				}
			}
			enc.Flush()
		}()
		return done
	})
}

// Ten thousand inbound connections that never finish their handshake cost
// the seeder a bounded number of goroutines (the oldest are closed to make
// room), and an honest leecher that comes after them is served at once.
func TestInboundConnectionFlood(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "inflood", []int{1 << 20}, 64<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	const n = 10000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for len(conns) < n {
		c, err := net.Dial("tcp", seeder.addr)
		if err != nil {
			t.Fatalf("after %d connections: %v", len(conns), err)
		}
		c.Write([]byte("\x13BitTorrent")) // a handshake begun, never finished
		conns = append(conns, c)
	}
	// The seeder holds at most its handshake limit of them (one goroutine
	// each, plus its timer's), not ten thousand. Those it evicted may still
	// be on their way out when the last dial returns (up to 603 more were
	// counted then, in CI on a loaded machine; 128 a second later), so the
	// count is read until it settles, for at most 5 s: without eviction it
	// would stay above ten thousand until the handshake timeouts (20 s).
	const handshakeLimit = 128 // the client's maxInboundHandshakes
	atEnd := runtime.NumGoroutine() - before
	extra := atEnd
	for deadline := time.Now().Add(5 * time.Second); extra > 2*handshakeLimit && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		extra = runtime.NumGoroutine() - before
	}
	if extra > 2*handshakeLimit {
		t.Fatalf("%d more goroutines with %d connections open, 5 s after the last (%d then)", extra, n, atEnd)
	}
	t.Logf("%d connections cost %d goroutines (%d as the last was opened)", n, extra, atEnd)
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Without eviction the leecher would wait out the flood's handshake
	// timeouts (20 s) before the seeder took its connection.
	waitComplete(t, lt, 10*time.Second)
	t.Logf("leecher done in %v", time.Since(start).Round(time.Millisecond))
	checkFiles(t, filepath.Join(leecher.dir, "inflood"), data)
}
