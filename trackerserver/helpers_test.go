package trackerserver

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait in these tests.
const testTimeout = 10 * time.Second

// testServer is a Server listening on loopback.
type testServer struct {
	*Server
	addr    string // host:port of the HTTP listener
	udpAddr string // host:port of the UDP socket, if any
}

func (ts *testServer) httpURL(path string) string { return "http://" + ts.addr + path }
func (ts *testServer) wsURL(path string) string   { return "ws://" + ts.addr + path }

// startServer runs a Server on 127.0.0.1 (HTTP, and UDP when udp is set)
// until the test ends, then shuts it down and checks that Serve returned.
func startServer(t testing.TB, cfg Config, udp bool) *testServer {
	t.Helper()
	return startServerWith(t, cfg, udp, nil)
}

// startServerWith is startServer, calling setup (if not nil) before serving.
func startServerWith(t testing.TB, cfg Config, udp bool, setup func(*Server)) *testServer {
	t.Helper()
	s := New(cfg)
	if setup != nil {
		setup(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: ln.Addr().String()}
	served := make(chan error, 2)
	n := 1
	go func() { served <- s.Serve(ln) }()
	if udp {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ts.udpAddr = pc.LocalAddr().String()
		n++
		go func() { served <- s.ServeUDP(pc) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		for range n {
			select {
			case err := <-served:
				if !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve returned %v, want ErrServerClosed", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("Serve did not return after Shutdown")
			}
		}
	})
	return ts
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// bin turns bytes into a Go string of one rune per byte: what a JavaScript
// "binary string" is, so that encoding/json (an encoder independent of
// ours) writes it as JSON.stringify would mean it.
func bin(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// unbin is the inverse of bin; it fails the test for a rune above U+00FF.
func unbin(t testing.TB, s string) []byte {
	t.Helper()
	var b []byte
	for _, r := range s {
		if r > 0xFF {
			t.Fatalf("binary string has rune %U", r)
		}
		b = append(b, byte(r))
	}
	return b
}

// wsClient is a WebSocket client as a browser's WebTorrent would be. A
// goroutine reads messages into msgs, so that a test can wait for one with
// a timeout without closing the socket (coder/websocket closes a socket
// whose read context ends).
type wsClient struct {
	t      testing.TB
	c      *websocket.Conn
	peerID [20]byte
	msgs   chan []byte
	done   chan struct{}
	err    error // why reading ended, once done is closed
}

func dialWS(t testing.TB, url string, peerID [20]byte) *wsClient {
	t.Helper()
	ctx := testCtx(t)
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://example.org"}}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if resp.Body != nil {
		resp.Body.Close()
	}
	c.SetReadLimit(1 << 20)
	w := &wsClient{t: t, c: c, peerID: peerID, msgs: make(chan []byte, 256), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				w.err = err
				return
			}
			select {
			case w.msgs <- b:
			default:
				// The test does not read what it is sent (a flood); drop.
			}
		}
	}()
	t.Cleanup(func() {
		c.CloseNow()
		<-w.done
	})
	return w
}

// send writes v as JSON.
func (w *wsClient) send(v any) {
	w.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	w.sendRaw(b)
}

func (w *wsClient) sendRaw(b []byte) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// recv reads one message and decodes it into a map.
func (w *wsClient) recv() map[string]any {
	w.t.Helper()
	m, err := w.tryRecv(testTimeout)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	return m
}

var errNoMessage = errors.New("no message in time")

func (w *wsClient) recvRaw(d time.Duration) ([]byte, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case b := <-w.msgs:
		return b, nil
	case <-t.C:
		return nil, errNoMessage
	case <-w.done:
		select {
		case b := <-w.msgs:
			return b, nil
		default:
		}
		return nil, w.err
	}
}

func (w *wsClient) tryRecv(d time.Duration) (map[string]any, error) {
	b, err := w.recvRaw(d)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// announce sends an announce with the given offers (SDP strings).
func (w *wsClient) announce(ih [20]byte, extra map[string]any, offers ...string) {
	w.t.Helper()
	m := map[string]any{
		"action":     "announce",
		"info_hash":  bin(ih[:]),
		"peer_id":    bin(w.peerID[:]),
		"numwant":    len(offers),
		"uploaded":   0,
		"downloaded": 0,
		"left":       100,
		"event":      "started",
	}
	if len(offers) > 0 {
		var os []map[string]any
		for i, sdp := range offers {
			id := offerID(w.peerID, i)
			os = append(os, map[string]any{"offer": map[string]any{"type": "offer", "sdp": sdp}, "offer_id": bin(id[:])})
		}
		m["offers"] = os
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	w.send(m)
}

// offerID is a deterministic 20-byte offer ID with bytes ≥ 0x80.
func offerID(peer [20]byte, i int) [20]byte {
	var id [20]byte
	for j := range id {
		id[j] = peer[j] ^ byte(0x80+i*7+j)
	}
	return id
}

// answer answers an offer message received from the tracker.
func (w *wsClient) answer(ih [20]byte, offer map[string]any, sdp string) {
	w.t.Helper()
	w.send(map[string]any{
		"action":     "announce",
		"info_hash":  bin(ih[:]),
		"peer_id":    bin(w.peerID[:]),
		"to_peer_id": offer["peer_id"],
		"offer_id":   offer["offer_id"],
		"answer":     map[string]any{"type": "answer", "sdp": sdp},
	})
}

// expectClosed waits for the server to close the socket and returns the
// close status (-1 when the connection just ended).
func (w *wsClient) expectClosed() websocket.StatusCode {
	w.t.Helper()
	select {
	case <-w.done:
		return websocket.CloseStatus(w.err)
	case <-time.After(testTimeout):
		w.t.Fatal("socket still open")
		return 0
	}
}

// hash20 returns a 20-byte value filled from a seed, including bytes a JSON
// encoder must escape ('"', '\\', control characters) and bytes ≥ 0x80.
func hash20(seed byte) [20]byte {
	var h [20]byte
	tricky := []byte{0x00, '"', '\\', 0x7F, 0x80, 0xFF, '\n', 0x1F, '/', 0xC3}
	for i := range h {
		h[i] = seed*31 + byte(i)*17
	}
	copy(h[2:], tricky)
	h[0] = seed
	return h
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sortStrings(ks)
	return strings.Join(ks, ",")
}

// loopbackPair returns the two ends of a loopback TCP connection, the
// accepted one first, closed when the test ends.
func loopbackPair(t *testing.T) (accepted, dialed net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dialed, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dialed.Close() })
	accepted, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { accepted.Close() })
	return accepted, dialed
}
