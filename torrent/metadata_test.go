package torrent_test

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/torrent"
)

// metadataPeer behaves as a peer that offers the metadata of mi (it sends an
// extension handshake with metadata_size) and then runs onRequest for each
// ut_metadata request; onRequest returns false to stop reading.
func metadataPeer(t *testing.T, mi *metainfo.MetaInfo, onRequest func(c net.Conn, enc *peerwire.Encoder, id uint8, piece int) bool) string {
	return fakePeerExt(t, mi, func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder) {
		hs := peerwire.ExtensionHandshake{M: map[string]uint8{peerwire.UtMetadata: 7}, MetadataSize: len(mi.InfoBytes)}
		b, _ := hs.MarshalBinary()
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveAll})
		enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedPayload: b})
		enc.Flush()
		var theirID uint8
		for {
			var m peerwire.Message
			if err := dec.Decode(&m); err != nil {
				return
			}
			if m.Type != peerwire.Extended {
				continue
			}
			if m.ExtendedID == 0 {
				var h peerwire.ExtensionHandshake
				if h.UnmarshalBinary(m.ExtendedPayload) == nil {
					theirID = h.M[peerwire.UtMetadata]
				}
				continue
			}
			if m.ExtendedID != 7 {
				continue
			}
			mm, err := peerwire.ParseMetadataMessage(m.ExtendedPayload, peerwire.MaxMetadataSize)
			if err != nil || mm.Type != peerwire.MetadataRequest {
				continue
			}
			if !onRequest(c, enc, theirID, mm.Piece) {
				return
			}
		}
	})
}

// fakePeerExt is fakePeer with the extension protocol bit set.
func fakePeerExt(t *testing.T, mi *metainfo.MetaInfo, behave func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder)) string {
	return fakePeerWith(t, mi, true, behave)
}

// sendMetadataPiece answers a ut_metadata request with the piece.
func sendMetadataPiece(enc *peerwire.Encoder, mi *metainfo.MetaInfo, id uint8, piece int) error {
	start := piece * peerwire.MetadataPieceSize
	end := min(start+peerwire.MetadataPieceSize, len(mi.InfoBytes))
	b, _ := peerwire.MetadataMessage{Type: peerwire.MetadataData, Piece: piece, TotalSize: len(mi.InfoBytes), Data: mi.InfoBytes[start:end]}.MarshalBinary()
	if err := enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedID: id, ExtendedPayload: b}); err != nil {
		return err
	}
	return enc.Flush()
}

// waitInfo waits for a magnet's metadata.
func waitInfo(t *testing.T, tt *torrent.Torrent, d time.Duration) {
	t.Helper()
	select {
	case <-tt.GotInfo():
	case <-time.After(d):
		t.Fatalf("no metadata after %v; stats %+v", d, tt.Stats())
	}
}

// A peer that takes the metadata request and leaves releases it at once: an
// honest seed that connects afterwards is asked straight away, not after
// the request's timeout.
func TestMetadataRequestOfPeerThatLeaves(t *testing.T) {
	seeder := newNode(t, nil)
	mi, _ := makeContent(t, seeder.dir, "leaver", []int{256 << 10}, 16<<10)
	info, _ := mi.UnmarshalInfo()
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	asked := make(chan struct{}, 1)
	leaver := metadataPeer(t, mi, func(c net.Conn, enc *peerwire.Encoder, id uint8, piece int) bool {
		select {
		case asked <- struct{}{}:
		default:
		}
		return false // and the connection closes
	})
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddMagnet(mi.Magnet(info).String(), torrent.AddOptions{Peers: []string{leaver}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-asked:
	case <-time.After(20 * time.Second):
		t.Fatal("the leaver was never asked for metadata")
	}
	start := time.Now()
	lt.AddPeers(seeder.addr)
	// The old request would have blocked the piece for its whole timeout.
	waitInfo(t, lt, 4*time.Second)
	t.Logf("metadata %v after the seed was added", time.Since(start).Round(time.Millisecond))
	waitComplete(t, lt, 30*time.Second)
}

// A peer that answers one metadata request and then ignores the rest (as
// rTorrent does with pipelined requests) does not stall a magnet: the late
// request times out and is asked again, of the same peer when it is the only
// one.
func TestMetadataFromPeerThatAnswersOnce(t *testing.T) {
	seeder := newNode(t, nil)
	// 2,048 pieces: an info of ~40 KiB, three metadata pieces.
	mi, _ := makeContent(t, seeder.dir, "once", []int{2048 * 16 << 10}, 16<<10)
	info, _ := mi.UnmarshalInfo()
	if n := peerwire.MetadataPieceCount(len(mi.InfoBytes)); n < 3 {
		t.Fatalf("only %d metadata pieces", n)
	}
	once := metadataPeer(t, mi, func(c net.Conn, enc *peerwire.Encoder, id uint8, piece int) bool {
		sendMetadataPiece(enc, mi, id, piece)
		// Then ignore everything, keeping the connection open until the
		// other side gives up on it.
		<-waitClosed(c)
		return false
	})
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddMagnet(mi.Magnet(info).String(), torrent.AddOptions{Peers: []string{once}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitInfo(t, lt, 90*time.Second)
	t.Logf("metadata in %v", time.Since(start).Round(time.Millisecond))
}

// waitClosed returns a channel closed when the other side closes c; it
// discards what arrives meanwhile without acting on it.
func waitClosed(c net.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf [4096]byte
		for {
			if _, err := c.Read(buf[:]); err != nil {
				return
			}
		}
	}()
	return done
}

// A magnet whose only peer has no extension protocol says so, instead of
// waiting in silence.
func TestMagnetWithoutMetadataPeersSaysSo(t *testing.T) {
	mi, _ := makeContent(t, t.TempDir(), "plain", []int{64 << 10}, 16<<10)
	info, _ := mi.UnmarshalInfo()
	plain := fakePeer(t, mi, func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder) {
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveAll})
		enc.Flush()
		<-waitClosed(c)
	})
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddMagnet(mi.Magnet(info).String(), torrent.AddOptions{Peers: []string{plain}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		s := lt.Stats()
		for _, w := range s.Warnings {
			if strings.Contains(w, "no peer can send the metadata: 1 connected, none supports ut_metadata") {
				t.Logf("warning: %s", w)
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no warning; stats %+v", s)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// A peer that silently drops one block request (and answers every other)
// costs seconds, not the minute of the snub: the late block is cancelled
// and asked again.
func TestDroppedRequestIsAskedAgain(t *testing.T) {
	mi, data := makeContent(t, t.TempDir(), "dropper", []int{1 << 20}, 64<<10)
	info, _ := mi.UnmarshalInfo()
	content := data["first.bin"]
	dropper := fakePeer(t, mi, func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder) {
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveAll})
		enc.WriteMessage(peerwire.Message{Type: peerwire.Unchoke})
		enc.Flush()
		dropped := false
		for {
			var m peerwire.Message
			if err := dec.Decode(&m); err != nil {
				return
			}
			if m.Type != peerwire.Request {
				continue
			}
			if m.Index == 3 && m.Begin == 0 && !dropped {
				dropped = true
				continue
			}
			off := int64(m.Index)*info.PieceLength + int64(m.Begin)
			if enc.WritePiece(m.Index, m.Begin, content[off:off+int64(m.Length)]) != nil || enc.Flush() != nil {
				return
			}
		}
	})
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{dropper}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "dropper"), data)
	t.Logf("done in %v", time.Since(start).Round(time.Millisecond))
}

// A peer that floods us with PEX messages of junk addresses gets one of
// them taken (BEP 11 allows one a minute; we take one per 30 s), each
// message at most 50 addresses: an address a tracker gives afterwards is
// still kept and dialled, and the download completes from it. (That PEX
// cannot fill more than its share of the address list over time is
// candidates_internal_test's.)
func TestPEXFloodIsRateLimited(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "pexflood", []int{256 << 10}, 16<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	flooder := fakePeerExt(t, mi, func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder) {
		hs := peerwire.ExtensionHandshake{M: map[string]uint8{peerwire.UtPex: 5}}
		b, _ := hs.MarshalBinary()
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveNone})
		enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedPayload: b})
		enc.Flush()
		var pexID uint8
		for pexID == 0 {
			var m peerwire.Message
			if err := dec.Decode(&m); err != nil {
				return
			}
			var h peerwire.ExtensionHandshake
			if m.Type == peerwire.Extended && m.ExtendedID == 0 && h.UnmarshalBinary(m.ExtendedPayload) == nil {
				pexID = h.M[peerwire.UtPex]
			}
		}
		// 200 messages of 50 junk loopback addresses (closed ports: each
		// dial is refused at once): 10,000 addresses.
		for k := range 200 {
			var x peerwire.PEX
			for j := range 50 {
				n := k*50 + j
				x.Added = append(x.Added, peerwire.PEXPeer{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 3, byte(n >> 8), byte(n)}), 9)})
			}
			b, _ := x.MarshalBinary()
			if enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedID: pexID, ExtendedPayload: b}) != nil {
				return
			}
		}
		enc.Flush()
		<-waitClosed(c)
	})
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{flooder}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for lt.Stats().CandidatesBySource["pex"] < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("the PEX flood did not arrive: %+v", lt.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the rest of the flood arrives meanwhile
	if n := lt.Stats().CandidatesBySource["pex"]; n > 50 {
		t.Fatalf("%d addresses taken from a flood of 200 PEX messages in a row, want the first message's 50", n)
	}
	lt.AddPeersFrom(torrent.SourceTracker, seeder.addr)
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "pexflood"), data)
	s := lt.Stats()
	if s.CandidatesBySource["pex"] > 50 || s.Candidates > 2000 {
		t.Fatalf("address list grew past its bounds: %+v", s.CandidatesBySource)
	}
	t.Logf("addresses by source after the flood: %v", s.CandidatesBySource)
}

// BEP 6: a fast-extension peer's choke does not drop our requests. A peer
// that chokes us with requests outstanding and later unchokes and serves
// them is not asked for any block twice.
func TestFastChokeKeepsRequests(t *testing.T) {
	mi, data := makeContent(t, t.TempDir(), "fastchoke", []int{512 << 10}, 64<<10)
	info, _ := mi.UnmarshalInfo()
	content := data["first.bin"]
	twice := make(chan blockAt, 64)
	chokey := fakePeer(t, mi, func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder) {
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveAll})
		enc.WriteMessage(peerwire.Message{Type: peerwire.Unchoke})
		enc.Flush()
		asked := map[blockAt]int{}
		var pending []peerwire.Message
		choked := false
		msgs := make(chan peerwire.Message, 256)
		go func() {
			defer close(msgs)
			for {
				var m peerwire.Message
				if dec.Decode(&m) != nil {
					return
				}
				msgs <- m
			}
		}()
		for {
			var m peerwire.Message
			var ok bool
			select {
			case m, ok = <-msgs:
				if !ok {
					return
				}
			case <-time.After(300 * time.Millisecond):
				// Quiet: if we choked, unchoke now and serve what was asked.
				if choked {
					choked = false
					enc.WriteMessage(peerwire.Message{Type: peerwire.Unchoke})
				}
				for _, r := range pending {
					off := int64(r.Index)*info.PieceLength + int64(r.Begin)
					enc.WritePiece(r.Index, r.Begin, content[off:off+int64(r.Length)])
				}
				pending = nil
				if enc.Flush() != nil {
					return
				}
				continue
			}
			if m.Type != peerwire.Request {
				continue
			}
			k := blockAt{m.Index, m.Begin}
			if asked[k]++; asked[k] == 2 {
				select {
				case twice <- k:
				default:
				}
			}
			pending = append(pending, m)
			if !choked && len(pending) == 4 {
				// Choke with requests outstanding, then serve them later.
				choked = true
				enc.WriteMessage(peerwire.Message{Type: peerwire.Choke})
				enc.Flush()
			}
		}
	})
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{chokey}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "fastchoke"), data)
	select {
	case k := <-twice:
		t.Fatalf("block %d+%d asked twice: the choke dropped our requests", k.index, k.begin)
	default:
	}
}

type blockAt struct{ index, begin uint32 }

// Our PEX message tells a peer whom we are connected to, with BEP 11's
// flags: the seeder we dialled is a seed and reachable.
func TestPEXSendsFlags(t *testing.T) {
	seeder := newNode(t, nil)
	mi, _ := makeContent(t, seeder.dir, "pexflags", []int{4 << 20}, 64<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	got := make(chan peerwire.PEX, 1)
	listener := fakePeerExt(t, mi, func(c net.Conn, enc *peerwire.Encoder, dec *peerwire.Decoder) {
		hs := peerwire.ExtensionHandshake{M: map[string]uint8{peerwire.UtPex: 7}}
		b, _ := hs.MarshalBinary()
		enc.WriteMessage(peerwire.Message{Type: peerwire.HaveNone})
		enc.WriteMessage(peerwire.Message{Type: peerwire.Extended, ExtendedPayload: b})
		enc.Flush()
		for {
			var m peerwire.Message
			if err := dec.Decode(&m); err != nil {
				return
			}
			var x peerwire.PEX
			if m.Type == peerwire.Extended && m.ExtendedID == 7 && x.UnmarshalBinary(m.ExtendedPayload) == nil {
				got <- x
				return
			}
		}
	})
	leecher := newNode(t, func(c *torrent.Config) { c.DownloadRate = 256 << 10 }) // still downloading when PEX goes out
	if _, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr, listener}}); err != nil {
		t.Fatal(err)
	}
	select {
	case x := <-got:
		want := netip.MustParseAddrPort(seeder.addr)
		for _, a := range x.Added {
			if a.Addr == want {
				if a.Flags&(peerwire.PEXSeed|peerwire.PEXReachable) != peerwire.PEXSeed|peerwire.PEXReachable {
					t.Fatalf("the seeder's flags %#x, want seed and reachable", a.Flags)
				}
				return
			}
		}
		t.Fatalf("PEX added %v, not the seeder %v", x.Added, want)
	case <-time.After(15 * time.Second):
		t.Fatal("no PEX message within 15 s")
	}
}
