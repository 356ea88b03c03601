package trackerserver

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
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
	// Only well-formed scrapes and announces are answered: 1 in 20 random
	// lengths is a whole number of info hashes, and few random option
	// bytes parse.
	if answered > sent/20 {
		t.Fatalf("%d of %d junk packets answered", answered, sent)
	}
}

// fillTorrents puts n torrents of one peer each into the store directly: the
// fast way to a big table; what is measured goes over real sockets.
func fillTorrents(s *Server, n int) {
	id := peerIDn(0)
	for i := range n {
		var ih [20]byte
		binary.BigEndian.PutUint64(ih[:], uint64(i)*0x9E3779B97F4A7C15)
		binary.BigEndian.PutUint32(ih[8:], uint32(i))
		p := announceParams{infoHash: &ih, peerID: &id, kind: kindV4, proto: protoHTTP, event: eventStarted,
			left: leftSome, addr: netip.MustParseAddrPort("127.0.0.1:6881"), now: s.now(), ttl: s.ttlHTTP, mayInsert: true}
		if _, err := s.store.announce(&p, nil); err != nil {
			panic(err)
		}
	}
}

// TestStatsFastAtManyTorrents: /stats at 200,000 torrents answers within
// 5 ms, its snapshot taken afresh each time (the cache is emptied), since
// its counters are kept as swarms change instead of summed by walking
// every swarm. Before, the walk took 2 ms per 50,000 torrents.
func TestStatsFastAtManyTorrents(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 200,000 torrents")
	}
	const torrents = 200_000
	// /stats must cost the same at 200,000 torrents as at 1,000 (counters
	// kept as swarms change, not a walk): timed against a small tracker
	// in the same run, requests interleaved, so that a loaded machine
	// slows both alike. A walk of 200,000 swarms takes tens of ms.
	big, small := startServer(t, Config{}, false), startServer(t, Config{}, false)
	fillTorrents(big.Server, torrents)
	fillTorrents(small.Server, 1000)
	client := &http.Client{Timeout: testTimeout}
	get := func(ts *testServer) (time.Duration, Stats) {
		ts.statsCache.mu.Lock()
		ts.statsCache.has = false
		ts.statsCache.mu.Unlock()
		start := time.Now()
		resp, err := client.Get(ts.httpURL("/stats"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st Stats
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return time.Since(start), st
	}
	get(big) // first connections
	get(small)
	var bigTimes, smallTimes []time.Duration
	for range 9 {
		d, st := get(big)
		if st.Torrents != torrents || st.ActiveTorrents != torrents || st.Peers != torrents {
			t.Fatalf("stats %+v", st)
		}
		bigTimes = append(bigTimes, d)
		d, _ = get(small)
		smallTimes = append(smallTimes, d)
	}
	slices.Sort(bigTimes)
	slices.Sort(smallTimes)
	t.Logf("/stats at %d torrents: %v; at 1,000: %v", torrents, bigTimes, smallTimes)
	bigMed, smallMed := bigTimes[len(bigTimes)/2], smallTimes[len(smallTimes)/2]
	if bigMed > 3*smallMed+3*time.Millisecond {
		t.Fatalf("/stats took %v at %d torrents (median of %d), %v at 1,000: it grows with the torrents", bigMed, torrents, len(bigTimes), smallMed)
	}
}

// TestStatsAccess: with StatsAllow or StatsToken set, /stats and /metrics
// are served to the allowed addresses and to the token only.
func TestStatsAccess(t *testing.T) {
	ts := startServer(t, Config{StatsAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, StatsToken: "s3cret"}, false)
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		tr := &http.Transport{DialContext: d.DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: testTimeout}
	}
	status := func(c *http.Client, path, auth, xff string) int {
		r, err := http.NewRequest(http.MethodGet, ts.httpURL(path), nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	stranger, admin := from("127.0.0.1"), from("127.0.0.2")
	for _, path := range []string{"/stats", "/metrics"} {
		for _, tt := range []struct {
			name      string
			c         *http.Client
			auth, xff string
			want      int
		}{
			{"stranger", stranger, "", "", http.StatusForbidden},
			{"stranger with a wrong token", stranger, "Bearer nope", "", http.StatusForbidden},
			{"stranger naming the admin in X-Forwarded-For", stranger, "", "127.0.0.2", http.StatusForbidden},
			{"stranger with the token", stranger, "Bearer s3cret", "", http.StatusOK},
			{"admin address", admin, "", "", http.StatusOK},
		} {
			if got := status(tt.c, path, tt.auth, tt.xff); got != tt.want {
				t.Errorf("%s %s: status %d, want %d", path, tt.name, got, tt.want)
			}
		}
	}
	// Announces are for everyone.
	if _, err := httpClient(t, ts.httpURL("/announce")).Announce(testCtx(t), req(hash20(1), 1, 6881)); err != nil {
		t.Fatal(err)
	}
}

// TestOneSourceCannotFillTable: one address announcing 5,000 new torrents
// as fast as the tracker answers gets its bucket's burst and no more; a new
// torrent of another address, in its network or in another, is accepted.
// Before, the attacker filled the table and everyone else was refused
// "tracker is full" until its peers expired.
func TestOneSourceCannotFillTable(t *testing.T) {
	ts := startServer(t, Config{MaxTorrents: 3000}, true)
	attacker := newUDPPeer(t, ts, "127.0.0.1")
	start := time.Now()
	created := 0
	for i := range 5000 {
		var ih [20]byte
		binary.BigEndian.PutUint64(ih[:], uint64(i)+1)
		if _, err := attacker.announce(ih, peerIDn(1), 6881, 1000, 2, 0); err == nil {
			created++
		} else if !strings.Contains(err.Error(), "try again later") {
			t.Fatalf("attacker's torrent %d: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	if limit := DefaultNewTorrentBurst + int(DefaultNewTorrentRate*elapsed.Seconds()) + 1; created > limit {
		t.Fatalf("one address created %d torrents in %v, want ≤ %d", created, elapsed, limit)
	}
	for i, ip := range []string{"127.0.0.9", "127.0.1.1"} {
		honest := newUDPPeer(t, ts, ip)
		if _, err := honest.announce(hash20(byte(200+i)), peerIDn(2), 6881, 1000, 2, 0); err != nil {
			t.Fatalf("new torrent from %s: %v", ip, err)
		}
	}
	if st := ts.Stats(); st.NewTorrentsLimited != uint64(5000-created) {
		t.Fatalf("%d refusals counted, want %d", st.NewTorrentsLimited, 5000-created)
	}
}

// TestFullTableDropsEmptyTorrents: when the table is full of torrents whose
// peers have all stopped, a new torrent takes the place of one of them at
// once, not after the empty ones expire.
func TestFullTableDropsEmptyTorrents(t *testing.T) {
	const maxTorrents = 2048
	ts := startServer(t, Config{MaxTorrents: maxTorrents, NewTorrentRate: -1}, true)
	c := newUDPPeer(t, ts, "127.0.0.1")
	for i := range maxTorrents {
		var ih [20]byte
		binary.BigEndian.PutUint64(ih[:], uint64(i)+1)
		for _, ev := range []uint32{2, 3} { // started, stopped
			if _, err := c.announce(ih, peerIDn(1), 6881, 1000, ev, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st := ts.Stats(); st.Torrents != maxTorrents || st.ActiveTorrents != 0 {
		t.Fatalf("stats %+v", st)
	}
	for i := range 10 {
		if _, err := c.announce(hash20(byte(100+i)), peerIDn(1), 6881, 1000, 2, 0); err != nil {
			t.Fatalf("new torrent %d in a table full of empty ones: %v", i, err)
		}
	}
	if st := ts.Stats(); st.Torrents != maxTorrents || st.ActiveTorrents != 10 || st.EmptyTorrentsDropped != 10 {
		t.Fatalf("stats %+v", st)
	}
}

// heapInUse is the heap after collecting garbage.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// storeMemory measures the heap bytes of one torrent with one HTTP peer,
// and of one more peer in a big torrent, with real entries in a real store.
func storeMemory() (perTorrent, perPeer float64) {
	const torrents, peers = 50_000, 50_000
	s := New(Config{NewTorrentRate: -1})
	defer s.Close()
	before := heapInUse()
	fillTorrents(s, torrents)
	mid := heapInUse()
	id := peerIDn(0)
	for i := range peers {
		var ih [20]byte
		ih[0], ih[1] = 0xFF, byte(i/DefaultMaxPeersPerTorrent) // 10 full torrents
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 6881)
		p := announceParams{infoHash: &ih, peerID: &id, kind: kindV4, proto: protoHTTP, event: eventStarted,
			left: leftSome, addr: addr, now: s.now(), ttl: s.ttlHTTP, mayInsert: true}
		if _, err := s.store.announce(&p, nil); err != nil {
			panic(err)
		}
	}
	after := heapInUse()
	runtime.KeepAlive(s)
	return float64(mid-before) / torrents, float64(after-mid) / peers
}

// TestStoreMemory checks the memory bound that DefaultMaxTorrents and
// DefaultMaxPeers's comment promises against the store's real cost.
func TestStoreMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100,000 entries")
	}
	perTorrent, perPeer := storeMemory()
	total := perTorrent*DefaultMaxTorrents + perPeer*DefaultMaxPeers
	t.Logf("a torrent with one peer: %.0f bytes; a peer more: %.0f bytes; at both caps: %.2f GiB", perTorrent, perPeer, total/(1<<30))
	if perTorrent > maxBytesPerTorrent || perPeer > maxBytesPerPeer {
		t.Fatalf("a torrent costs %.0f bytes (comment: %d), a peer %.0f (comment: %d)", perTorrent, maxBytesPerTorrent, perPeer, maxBytesPerPeer)
	}
}

// maxBytesPerTorrent and maxBytesPerPeer are the costs DefaultMaxTorrents'
// comment promises.
const maxBytesPerTorrent, maxBytesPerPeer = 512, 192

// TestCountingRules: "completed" counts a download and a seeder only with
// left=0; "left" takes the whole uint64 range; "key" and "ip" values
// longer than 64 bytes are ignored, not refused.
func TestCountingRules(t *testing.T) {
	ts := startServer(t, Config{}, false)
	ih := hash20(50)
	announce := func(id byte, extra string) string {
		t.Helper()
		q := "info_hash=" + url.QueryEscape(string(ih[:])) + "&peer_id=" + strings.Repeat(string('a'+rune(id)), 20) +
			"&port=" + strconv.Itoa(7000+int(id)) + extra
		resp, err := http.Get(ts.httpURL("/announce?" + q))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	scrape := func() scrapeCounts { return ts.store.scrape(&ih, protoHTTP) }

	if body := announce(0, "&event=completed&left=1000"); strings.Contains(body, "failure") {
		t.Fatal(body)
	}
	if c := scrape(); c.complete != 0 || c.incomplete != 1 || c.downloaded != 0 {
		t.Fatalf("completed with left=1000: %+v, want a leecher and no download", c)
	}
	announce(0, "&event=completed&left=0")
	if c := scrape(); c.complete != 1 || c.downloaded != 1 {
		t.Fatalf("completed with left=0: %+v, want a seeder and a download", c)
	}
	for _, tt := range []struct{ name, extra string }{
		{"left = 2^64-1", "&left=18446744073709551615"},
		{"a 100-byte key", "&left=1&key=" + strings.Repeat("k", 100)},
		{"a 100-byte ip", "&left=1&ip=" + strings.Repeat("1", 100)},
	} {
		if body := announce(1, tt.extra); strings.Contains(body, "failure") {
			t.Errorf("%s refused: %s", tt.name, body)
		}
	}
	if c := scrape(); c.incomplete != 1 || c.complete != 1 {
		t.Fatalf("after the long values: %+v", c)
	}
	if body := announce(2, "&left=18446744073709551616"); !strings.Contains(body, "invalid number") {
		t.Fatalf("left = 2^64 accepted: %s", body)
	}
}
