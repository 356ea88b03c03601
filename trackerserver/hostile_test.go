package trackerserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// honestPair checks that the tracker still does its job: a fresh pair of
// clients exchanges an offer and an answer.
func honestPair(t *testing.T, ts *testServer, seed byte) {
	t.Helper()
	ih := hash20(seed)
	a := dialWS(t, ts.wsURL(""), hash20(seed+1))
	b := dialWS(t, ts.wsURL("/announce"), hash20(seed+2))
	a.announce(ih, nil)
	a.recv()
	b.announce(ih, nil, sdp("honest"))
	b.recv()
	o := a.recv()
	if o["offer"] == nil {
		t.Fatalf("honest peer got %v, want an offer", o)
	}
	a.answer(ih, o, sdp("honest answer"))
	if ans := b.recv(); ans["answer"] == nil {
		t.Fatalf("honest offerer got %v, want the answer", ans)
	}
	a.c.Close(websocket.StatusNormalClosure, "")
	b.c.Close(websocket.StatusNormalClosure, "")
}

// TestHostileMessages sends what a broken or malicious client might; each
// is refused, the socket stays usable where that makes sense, and an honest
// pair is served afterwards.
func TestHostileMessages(t *testing.T) {
	ts := startServer(t, Config{}, false)
	ih := hash20(7)
	victim := dialWS(t, ts.wsURL(""), hash20(70))
	victim.announce(ih, nil)
	victim.recv()
	victimID := mustJSON(t, bin(victim.peerID[:]))
	ihJSON := mustJSON(t, bin(ih[:]))

	tests := []struct {
		name   string
		msg    string
		reason string // substring of the failure reason
	}{
		{"not JSON", `{"action":"announce",`, "invalid JSON"},
		{"binary garbage", "\x00\xff\xfe{", "invalid JSON"},
		{"trailing data", `{"action":"scrape","info_hash":` + ihJSON + `} x`, "invalid JSON"},
		{"array", `[1,2,3]`, "invalid JSON"},
		{"deep nesting", `{"x":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, "invalid JSON"},
		{"bad escape", `{"action":"announce","x":"\q"}`, "invalid JSON"},
		{"raw control character", "{\"action\":\"announce\",\"x\":\"a\x01b\"}", "invalid JSON"},
		{"invalid UTF-8", "{\"action\":\"announce\",\"x\":\"\xc3\x28\"}", "invalid JSON"},
		{"no action", `{"info_hash":` + ihJSON + `}`, "invalid action"},
		{"unknown action", `{"action":"delete"}`, "invalid action"},
		{"short info_hash", `{"action":"announce","info_hash":"abc","peer_id":"aaaaaaaaaaaaaaaaaaaa"}`, "invalid info_hash"},
		{"long info_hash", `{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaaa","peer_id":"aaaaaaaaaaaaaaaaaaaa"}`, "invalid info_hash"},
		{"hex info_hash", `{"action":"announce","info_hash":"` + strings.Repeat("ab", 20) + `","peer_id":"aaaaaaaaaaaaaaaaaaaa"}`, "invalid info_hash"},
		{"info_hash above U+00FF", `{"action":"announce","info_hash":"` + strings.Repeat("€", 20) + `","peer_id":"aaaaaaaaaaaaaaaaaaaa"}`, "invalid info_hash"},
		{"number info_hash", `{"action":"announce","info_hash":12345678901234567890,"peer_id":"aaaaaaaaaaaaaaaaaaaa"}`, "invalid info_hash"},
		{"short peer_id", `{"action":"announce","info_hash":` + ihJSON + `,"peer_id":"x"}`, "invalid peer_id"},
		{"answer without to_peer_id", `{"action":"announce","info_hash":` + ihJSON + `,"peer_id":"bbbbbbbbbbbbbbbbbbbb","answer":{"sdp":"x"},"offer_id":"o"}`, "to_peer_id"},
		{"offers not objects", `{"action":"announce","info_hash":` + ihJSON + `,"peer_id":"bbbbbbbbbbbbbbbbbbbb","offers":[1,2]}`, "invalid offers"},
		{"offer without offer_id", `{"action":"announce","info_hash":` + ihJSON + `,"peer_id":"bbbbbbbbbbbbbbbbbbbb","offers":[{"offer":{}}]}`, "invalid offers"},
		{"scrape without info_hash", `{"action":"scrape"}`, "info_hash is required"},
		{"scrape of bad hashes", `{"action":"scrape","info_hash":["x"]}`, "invalid info_hash"},
		{"impersonate announce", `{"action":"announce","info_hash":` + ihJSON + `,"peer_id":` + victimID + `}`, "in use by another connection"},
		{"impersonate answer", `{"action":"announce","info_hash":` + ihJSON + `,"peer_id":` + victimID + `,"to_peer_id":"cccccccccccccccccccc","answer":{"sdp":"x"},"offer_id":"o"}`, "in use by another connection"},
		{"answer to unknown peer", `{"action":"announce","info_hash":` + ihJSON + `,"peer_id":"dddddddddddddddddddd","to_peer_id":"eeeeeeeeeeeeeeeeeeee","answer":{"sdp":"x"},"offer_id":"o"}`, "no peer with that `to_peer_id`"},
		{"answer to unknown offer", `{"action":"announce","info_hash":` + ihJSON + `,"peer_id":"dddddddddddddddddddd","to_peer_id":` + victimID + `,"answer":{"sdp":"x"},"offer_id":"never sent"}`, "no offer with that `offer_id`"},
	}
	attacker := dialWS(t, ts.wsURL(""), hash20(71))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			attacker.sendRaw([]byte(tt.msg))
			r, err := attacker.tryRecv(testTimeout)
			if err != nil {
				t.Fatalf("no failure reason: %v", err)
			}
			reason, _ := r["failure reason"].(string)
			if !strings.Contains(reason, tt.reason) {
				t.Fatalf("reply %v, want a failure reason with %q", r, tt.reason)
			}
		})
	}
	// The victim got nothing from all that.
	if m, err := victim.tryRecv(200 * time.Millisecond); err == nil {
		t.Fatalf("victim received %v", m)
	}
	honestPair(t, ts, 80)
}

// TestAnswerMustMatchOffer: a peer can only answer an offer it was sent,
// to the peer that sent it, in the swarm it was sent in.
func TestAnswerMustMatchOffer(t *testing.T) {
	ts := startServer(t, Config{}, false)
	ih, other := hash20(9), hash20(19)
	a := dialWS(t, ts.wsURL(""), hash20(90))
	eve := dialWS(t, ts.wsURL(""), hash20(91))
	offerer := dialWS(t, ts.wsURL(""), hash20(92))
	a.announce(ih, nil)
	a.recv()
	eve.announce(other, nil)
	eve.recv()
	offerer.announce(ih, nil, sdp("x"))
	offerer.recv()
	o := a.recv()

	// Eve is not in the swarm: she answers a's offer anyway.
	eve.answer(ih, o, sdp("eve"))
	if r := eve.recv(); r["failure reason"] == nil {
		t.Fatalf("eve's answer accepted: %v", r)
	}
	// Eve joins the swarm and tries again: she was never sent that offer.
	eve.announce(ih, nil)
	eve.recv()
	eve.answer(ih, o, sdp("eve"))
	if r := eve.recv(); r["failure reason"] == nil {
		t.Fatalf("eve's answer accepted: %v", r)
	}
	// An answer naming the right offer in another swarm is refused.
	a.answer(other, o, sdp("wrong swarm"))
	if r := a.recv(); r["failure reason"] == nil {
		t.Fatalf("answer in the wrong swarm accepted: %v", r)
	}
	// a's real answer still goes through, once.
	a.answer(ih, o, sdp("a"))
	if r := offerer.recv(); r["answer"] == nil || unbin(t, r["peer_id"].(string))[0] != a.peerID[0] {
		t.Fatalf("offerer got %v", r)
	}
	if m, err := offerer.tryRecv(100 * time.Millisecond); err == nil {
		t.Fatalf("offerer got more: %v", m)
	}
}

// TestHugeFrame: a frame above MaxMessageSize closes the socket with 1009.
func TestHugeFrame(t *testing.T) {
	ts := startServer(t, Config{}, false)
	c := dialWS(t, ts.wsURL(""), hash20(1))
	big := bytes.Repeat([]byte("a"), 1<<20)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c.c.Write(ctx, websocket.MessageText, big) // may fail: the server closes mid-frame
	if code := c.expectClosed(); code != websocket.StatusMessageTooBig && code != -1 {
		t.Fatalf("close status %v, want 1009", code)
	}
	honestPair(t, ts, 110)
}

// TestJunkFlood: 10,000 junk messages as fast as possible. The token bucket
// closes the socket; the server keeps serving.
func TestJunkFlood(t *testing.T) {
	ts := startServer(t, Config{}, false)
	c := dialWS(t, ts.wsURL(""), hash20(1))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sent := 0
	for i := range 10000 {
		if err := c.c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf(`{"junk":%d}`, i))); err != nil {
			break
		}
		sent++
	}
	if code := c.expectClosed(); code != websocket.StatusPolicyViolation && code != -1 {
		t.Fatalf("close status %v, want 1008", code)
	}
	if st := ts.Stats(); st.WebSocket.RateLimited != 1 || st.WebSocket.Messages > DefaultMessageBurst+50 {
		t.Fatalf("sent %d; stats %+v", sent, st.WebSocket)
	}
	honestPair(t, ts, 120)
}

// TestHalfOpen: connections that never finish the upgrade, or never
// announce after it, or never answer pings, are closed.
func TestHalfOpen(t *testing.T) {
	ts := startServer(t, Config{HandshakeTimeout: 200 * time.Millisecond, PingInterval: 200 * time.Millisecond}, false)

	t.Run("request never finished", func(t *testing.T) {
		conn, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /announce HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
		conn.SetReadDeadline(time.Now().Add(testTimeout))
		start := time.Now()
		io.Copy(io.Discard, conn) // until the server closes it
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("closed after %v", d)
		}
	})
	t.Run("upgraded, never announced", func(t *testing.T) {
		c := dialWS(t, ts.wsURL(""), hash20(1))
		c.expectClosed()
	})
	t.Run("never answers pings", func(t *testing.T) {
		// A raw upgrade whose client never reads: pings go unanswered.
		conn, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
		ih, id := hash20(2), hash20(3)
		payload := []byte(`{"action":"announce","info_hash":` + mustJSON(t, bin(ih[:])) + `,"peer_id":` + mustJSON(t, bin(id[:])) + `}`)
		conn.Write(maskedFrame(payload))
		waitFor(t, "the announce", func() bool { return ts.Stats().PeersByProtocol.WebSocket == 1 })
		waitFor(t, "the silent socket to be closed", func() bool { return ts.Stats().PeersByProtocol.WebSocket == 0 })
	})
	honestPair(t, ts, 130)
}

// maskedFrame is a client text frame (RFC 6455 §5.2), for raw sockets.
func maskedFrame(p []byte) []byte {
	f := []byte{0x81}
	switch {
	case len(p) < 126:
		f = append(f, 0x80|byte(len(p)))
	default:
		f = append(f, 0x80|126, byte(len(p)>>8), byte(len(p)))
	}
	mask := [4]byte{1, 2, 3, 4}
	f = append(f, mask[:]...)
	for i, c := range p {
		f = append(f, c^mask[i%4])
	}
	return f
}

// TestHostileMemory: many hostile sockets at once leave the heap bounded
// once they are gone.
func TestHostileMemory(t *testing.T) {
	ts := startServer(t, Config{}, false)
	heap := func() uint64 {
		// Twice: sync.Pools keep what they hold for one more cycle.
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	var peak uint64
	for round := range 3 {
		var cs []*wsClient
		for i := range 50 {
			c := dialWS(t, ts.wsURL(""), hash20(byte(i)))
			ih := hash20(byte(200 + i%5))
			// Near-limit messages with 10 offers each, for the same swarms.
			offers := make([]string, 10)
			for j := range offers {
				offers[j] = strings.Repeat("x", 5000)
			}
			c.announce(ih, nil, offers...)
			cs = append(cs, c)
		}
		for _, c := range cs {
			c.recv()
		}
		peak = max(peak, heap())
		for _, c := range cs {
			c.c.CloseNow()
			<-c.done
			for len(c.msgs) > 0 { // the test's own memory, kept until cleanup
				<-c.msgs
			}
		}
		waitFor(t, fmt.Sprintf("round %d's sockets to go", round), func() bool {
			return ts.Stats().WebSocket.Connections == 0
		})
	}
	after := heap()
	t.Logf("heap in use: before %d KiB, peak %d KiB, after %d KiB", before>>10, peak>>10, after>>10)
	if after > before+8<<20 {
		t.Fatalf("heap grew from %d to %d bytes", before, after)
	}
	if st := ts.Stats(); st.Peers != 0 {
		t.Fatalf("%d peers left", st.Peers)
	}
}
