package trackerserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// webTorrentAnnounce is an announce as WebTorrent sends it: 5 offers
// (min(numwant, 5)) of typical SDP, binary info hash and peer ID.
func webTorrentAnnounce(tb testing.TB, ih, peerID [20]byte, offers int) []byte {
	os := make([]map[string]any, offers)
	for i := range os {
		id := offerID(peerID, i)
		os[i] = map[string]any{"offer": map[string]any{"type": "offer", "sdp": sdp(fmt.Sprint(i))}, "offer_id": bin(id[:])}
	}
	b, err := json.Marshal(map[string]any{
		"action": "announce", "info_hash": bin(ih[:]), "peer_id": bin(peerID[:]),
		"numwant": offers, "uploaded": 0, "downloaded": 0, "left": 1 << 20, "event": "update", "offers": os,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// reportCPU adds the process's CPU time per operation, which counts every
// goroutine's (drains, the cluster's, the clients' of loopback benchmarks).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkWSAnnounce measures the tracker's work for one WebSocket
// announce with 5 offers in a swarm of 100 WebRTC peers: parse, store,
// reply and 5 relayed offers, the 6 messages given to a sink instead of
// framed and written to a socket.
func BenchmarkWSAnnounce(b *testing.B) {
	for _, offers := range []int{0, 5, 10} {
		b.Run(fmt.Sprintf("offers=%d", offers), func(b *testing.B) {
			benchWSAnnounce(b, offers)
		})
	}
}

func benchWSAnnounce(b *testing.B, offers int) {
	s := New(Config{MessageRate: -1})
	defer s.Close()
	ih := hash20(1)
	var written atomic.Int64
	sink := func(p []byte) { written.Add(1) }
	var conns []*wsConn
	for i := range 101 {
		c := s.newConn(remoteForBench)
		c.sink = sink
		conns = append(conns, c)
		id := hash20(byte(i))
		id[19] = byte(i >> 8)
		c.handle(webTorrentAnnounce(b, ih, id, 0), s.now())
	}
	defer func() {
		for _, c := range conns {
			c.detach()
		}
	}()
	announcer := conns[100]
	id := hash20(100)
	id[19] = 0
	msg := webTorrentAnnounce(b, ih, id, offers)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	for range b.N {
		announcer.handle(msg, s.now())
	}
	b.StopTimer()
	reportCPU(b, start)
	if st := s.Stats(); st.WebSocket.OffersRelayed != uint64(b.N*offers) || st.WebSocket.BadMessages != 0 {
		b.Fatalf("relayed %d offers in %d announces", st.WebSocket.OffersRelayed, b.N)
	}
}

var remoteForBench = netip.MustParseAddrPort("192.0.2.1:1")

// BenchmarkWSAnnounceLoopback is the whole path over loopback sockets:
// a client writes an announce with 5 offers, the tracker relays them to 5
// of 20 clients and replies; each op waits for all 6 messages to arrive.
// cpu-ns/op counts clients and server alike (one process).
func BenchmarkWSAnnounceLoopback(b *testing.B) {
	ts := startServer(b, Config{MessageRate: -1}, false)
	ih := hash20(1)
	var received atomic.Int64
	arrived := make(chan struct{}, 1024)
	var clients []*websocket.Conn
	var wg sync.WaitGroup
	ctx := context.Background()
	for i := range 21 {
		c, _, err := websocket.Dial(ctx, ts.wsURL(""), nil)
		if err != nil {
			b.Fatal(err)
		}
		c.SetReadLimit(1 << 20)
		clients = append(clients, c)
		id := hash20(byte(i))
		if err := c.Write(ctx, websocket.MessageText, webTorrentAnnounce(b, ih, id, 0)); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 8192)
			for {
				_, r, err := c.Reader(ctx)
				if err != nil {
					return
				}
				for {
					if _, err := r.Read(buf[:]); err != nil {
						break
					}
				}
				received.Add(1)
				arrived <- struct{}{}
			}
		}()
	}
	defer func() {
		for _, c := range clients {
			c.CloseNow()
		}
		wg.Wait()
	}()
	msg := webTorrentAnnounce(b, ih, hash20(20), 5)
	announcer := clients[20]
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	for range b.N {
		if err := announcer.Write(ctx, websocket.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		for range 6 {
			<-arrived
		}
	}
	b.StopTimer()
	reportCPU(b, start)
}

// BenchmarkHTTPAnnounce measures the HTTP announce handler (query parsing,
// store, bencoded compact reply with 50 peers), without net/http's own
// request parsing.
func BenchmarkHTTPAnnounce(b *testing.B) {
	s := New(Config{})
	defer s.Close()
	ih := hash20(1)
	q := func(id byte, port int) string {
		var pid [20]byte
		pid[0], pid[19] = id, 1
		return fmt.Sprintf("info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0&left=100&compact=1&key=A1B2C3D4",
			url.QueryEscape(string(ih[:])), url.QueryEscape(string(pid[:])), port)
	}
	w := &nullWriter{h: http.Header{}}
	for i := range 200 {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/announce", RawQuery: q(byte(i), 1000+i)},
			RemoteAddr: fmt.Sprintf("10.0.%d.%d:5000", i/250, i%250+1), Header: http.Header{}}
		s.ServeHTTP(w, r)
	}
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/announce", RawQuery: q(255, 9999)},
		RemoteAddr: "10.1.0.1:5000", Header: http.Header{}}
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	for range b.N {
		s.ServeHTTP(w, r)
	}
	b.StopTimer()
	reportCPU(b, start)
	if !strings.HasPrefix(string(w.last), "d8:completei") {
		b.Fatalf("reply %q", w.last)
	}
}

type nullWriter struct {
	h    http.Header
	last []byte
}

func (w *nullWriter) Header() http.Header { return w.h }
func (w *nullWriter) Write(p []byte) (int, error) {
	w.last = append(w.last[:0], p...)
	return len(p), nil
}
func (w *nullWriter) WriteHeader(int) {}

// BenchmarkParseWSMessage is the JSON scanner alone.
func BenchmarkParseWSMessage(b *testing.B) {
	msg := webTorrentAnnounce(b, hash20(1), hash20(2), 5)
	var m wsMessage
	m.offers = make([]wsOffer, 0, 10)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for range b.N {
		if err := parseWSMessage(msg, &m, 10, 10); err != nil || len(m.offers) != 5 {
			b.Fatal(err)
		}
	}
}
