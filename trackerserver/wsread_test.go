package trackerserver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawClient is a WebSocket client that writes frames byte by byte as a
// test needs them, over a plain TCP connection.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// upgradeRequest is an upgrade request for host, with the RFC's sample key.
func upgradeRequest(host string) string {
	return "GET /announce HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// dialRaw upgrades a TCP connection to ts; early is sent in the same write
// as the request.
func dialRaw(t *testing.T, ts *testServer, early []byte) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testTimeout))
	if _, err := conn.Write(append([]byte(upgradeRequest(ts.addr)), early...)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6455's own example: this key is accepted with this value.
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("upgrade: %v %v", resp.Status, resp.Header)
	}
	return &rawClient{t: t, conn: conn, r: r}
}

// frame is a client frame: first byte b0, masked with mask, payload p.
func frame(b0 byte, mask [4]byte, p []byte) []byte {
	f := []byte{b0}
	switch {
	case len(p) < 126:
		f = append(f, 0x80|byte(len(p)))
	case len(p) < 1<<16:
		f = append(f, 0x80|126, byte(len(p)>>8), byte(len(p)))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(len(p)))
	}
	f = append(f, mask[:]...)
	for i, c := range p {
		f = append(f, c^mask[i%4])
	}
	return f
}

var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.conn.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

// next reads the server's next frame: its first byte and payload.
func (rc *rawClient) next() (byte, []byte) {
	rc.t.Helper()
	b0, p, err := readFrame(rc.r)
	if err != nil {
		rc.t.Fatalf("reading a frame: %v", err)
	}
	return b0, p
}

// expectClose reads frames up to a close frame, and returns its code.
func (rc *rawClient) expectClose() uint16 {
	rc.t.Helper()
	for {
		b0, p := rc.next()
		if b0 == 0x80|opClose {
			if len(p) < 2 {
				return 0
			}
			return binary.BigEndian.Uint16(p)
		}
	}
}

// expectEOF checks that the server closes the connection.
func (rc *rawClient) expectEOF() {
	rc.t.Helper()
	if _, err := io.Copy(io.Discard, rc.r); err != nil && !isReset(err) {
		rc.t.Fatalf("waiting for the server to close: %v", err)
	}
}

func isReset(err error) bool { return strings.Contains(err.Error(), "connection reset") }

func announceJSON(ih, id [20]byte) []byte {
	return []byte(`{"action":"announce","info_hash":"` + jsonBin(ih[:]) + `","peer_id":"` + jsonBin(id[:]) +
		`","numwant":0,"uploaded":0,"downloaded":0,"left":1,"event":"started"}`)
}

// jsonBin is b as a JSON string's contents, each byte a \u00XX escape.
func jsonBin(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, `\u%04x`, c)
	}
	return sb.String()
}

// TestWebSocketFraming: what RFC 6455 lets a client send is understood:
// a message in the same write as the upgrade request, a message in three
// fragments with a ping among them (answered with a pong carrying its
// payload, before the message's reply), a message dribbled a byte at a
// time, a binary message, a 64-bit length; and a close frame is answered
// with the same code, then the server closes the connection.
func TestWebSocketFraming(t *testing.T) {
	ts := startServer(t, Config{MessageRate: -1}, false)
	ih := hash20(0x51)
	msg := func(i byte) []byte { return announceJSON(ih, hash20(0x60+i)) }
	reply := func(rc *rawClient, what string) {
		t.Helper()
		b0, p := rc.next()
		if b0 != 0x81 || !bytes.Contains(p, []byte(`"action":"announce"`)) || bytes.Contains(p, []byte("failure")) {
			t.Fatalf("%s: frame %#x %q", what, b0, p)
		}
	}

	rc := dialRaw(t, ts, frame(0x81, testMask, msg(0)))
	reply(rc, "the message sent with the upgrade request")

	m := msg(1)
	rc.write(frame(0x01, testMask, m[:10]))
	rc.write(frame(0x00, testMask, m[10:30]))
	rc.write(frame(0x80|opPing, testMask, []byte("are you there")))
	rc.write(frame(0x80, testMask, m[30:]))
	if b0, p := rc.next(); b0 != 0x80|opPong || string(p) != "are you there" {
		t.Fatalf("pong: %#x %q", b0, p)
	}
	reply(rc, "the fragmented message")

	for _, b := range frame(0x81, testMask, msg(2)) {
		rc.write([]byte{b})
	}
	reply(rc, "the message written a byte at a time")

	rc.write(frame(0x82, testMask, msg(3)))
	reply(rc, "the binary message")

	long := frame(0x81, testMask, msg(4))
	if len(msg(4)) < 126 {
		t.Fatal("the message is meant to take a 16-bit length")
	}
	// The same message with its length in 64 bits: mask and payload after.
	long64 := append([]byte{0x81, 0x80 | 127}, binary.BigEndian.AppendUint64(nil, uint64(len(msg(4))))...)
	long64 = append(long64, long[4:]...)
	rc.write(long64)
	reply(rc, "the message with a 64-bit length")

	rc.write(frame(0x80|opClose, testMask, []byte{0x03, 0xE8, 'b', 'y', 'e'}))
	if code := rc.expectClose(); code != closeNormal {
		t.Fatalf("close answered with %d", code)
	}
	rc.expectEOF()
	waitFor(t, "the socket to go", func() bool { return ts.Stats().WebSocket.Connections == 0 })
	if st := ts.Stats(); st.PeersByProtocol.WebSocket != 0 {
		t.Fatalf("%d peers left behind", st.PeersByProtocol.WebSocket)
	}
}

// TestWebSocketProtocolErrors: a frame no client may send closes the socket
// with 1002 (a message over the size limit with 1009, before its payload
// comes), and the server waits for the client's close frame before it
// closes the connection.
func TestWebSocketProtocolErrors(t *testing.T) {
	ts := startServer(t, Config{MessageRate: -1, MaxMessageSize: 1000}, false)
	unmasked := []byte{0x81, 2, '{', '}'}
	tests := []struct {
		name string
		b    []byte
		code uint16
	}{
		{"unmasked", unmasked, closeProtocolError},
		{"reserved bit", frame(0x81|0x40, testMask, []byte("{}")), closeProtocolError},
		{"unknown opcode", frame(0x83, testMask, []byte("{}")), closeProtocolError},
		{"fragmented ping", frame(opPing, testMask, nil), closeProtocolError},
		{"long ping", frame(0x80|opPing, testMask, make([]byte, 126)), closeProtocolError},
		{"continuation first", frame(0x80, testMask, []byte("{}")), closeProtocolError},
		{"new message inside one", append(frame(0x01, testMask, []byte("{")), frame(0x81, testMask, []byte("{}"))...), closeProtocolError},
		{"close of 1 byte", frame(0x80|opClose, testMask, []byte{3}), closeProtocolError},
		{"length over 2^63", append([]byte{0x81, 0x80 | 127}, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4), closeProtocolError},
		{"too big", []byte{0x81, 0x80 | 126, 0x03, 0xE9}, closeTooBig},
		{"too big in fragments", append(frame(0x01, testMask, make([]byte, 600)), frame(0x80, testMask, make([]byte, 401))...), closeTooBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, ts, nil)
			rc.write(tc.b)
			if code := rc.expectClose(); code != tc.code {
				t.Fatalf("closed with %d, want %d", code, tc.code)
			}
			// The server waits for our close frame, then closes.
			rc.write(frame(0x80|opClose, testMask, []byte{0x03, 0xE8}))
			rc.expectEOF()
		})
	}
}

// TestWebSocketUpgradeRefused: requests that are no WebSocket upgrade this
// tracker takes get an HTTP error, and no socket.
func TestWebSocketUpgradeRefused(t *testing.T) {
	ts := startServer(t, Config{}, false)
	base := upgradeRequest(ts.addr)
	tests := []struct {
		name, req string
		status    int
	}{
		{"version 8", strings.Replace(base, "Version: 13", "Version: 8", 1), http.StatusBadRequest},
		{"no key", strings.Replace(base, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1), http.StatusBadRequest},
		{"short key", strings.Replace(base, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1), http.StatusBadRequest},
		{"POST", strings.Replace(base, "GET", "POST", 1), http.StatusMethodNotAllowed},
		{"no Connection: Upgrade", strings.Replace(base, "keep-alive, Upgrade", "keep-alive", 1), http.StatusUpgradeRequired},
		{"HTTP/1.0", strings.Replace(base, "HTTP/1.1", "HTTP/1.0", 1), http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(testTimeout))
			io.WriteString(conn, tc.req)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	if st := ts.Stats(); st.WebSocket.Connections != 0 || st.WebSocket.Accepted != 0 {
		t.Fatalf("sockets: %+v", st.WebSocket)
	}
}

// TestParseFrameHeader: partial headers wait for more bytes, and lengths
// take 7, 16 and 64 bits.
func TestParseFrameHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
		f := frame(0x81, testMask, make([]byte, n))
		hlen := len(f) - n
		for i := range hlen {
			if _, ok, err := parseFrameHeader(f[:i], 0, 1<<21); ok || err != nil {
				t.Fatalf("length %d: %d bytes of header: ok %v, %v", n, i, ok, err)
			}
		}
		h, ok, err := parseFrameHeader(f[:hlen], 0, 1<<21)
		if !ok || err != nil || h.hlen != hlen || h.length != n || !h.fin || h.op != opText || h.mask != testMask {
			t.Fatalf("length %d: %+v %v %v", n, h, ok, err)
		}
		if n > 0 {
			if _, _, err := parseFrameHeader(f[:hlen], 0, n-1); err != errTooBig {
				t.Fatalf("length %d over a limit of %d: %v", n, n-1, err)
			}
			if _, _, err := parseFrameHeader(f[:hlen], 1, n); err != errTooBig {
				t.Fatalf("length %d after 1 byte, limit %d: %v", n, n, err)
			}
		}
	}
	p := []byte("unmask me, all 33 bytes of me....")
	q := frame(0x81, testMask, p)[6:]
	unmask(q, testMask)
	if !bytes.Equal(p, q) {
		t.Fatalf("unmask: %q", q)
	}
}

// FuzzParseFrameHeader: any bytes parse to a header that fits in them and
// keeps the limit, or wait for more, or fail with a close code.
func FuzzParseFrameHeader(f *testing.F) {
	f.Add(frame(0x81, testMask, []byte("{}")), 0, 100)
	f.Add(frame(0x01, testMask, make([]byte, 300)), 10, 1000)
	f.Add([]byte{0x81, 0xFF, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4}, 0, 1<<20)
	f.Fuzz(func(t *testing.T, b []byte, msgLen, limit int) {
		if msgLen < 0 || limit < msgLen {
			return
		}
		h, ok, err := parseFrameHeader(b, msgLen, limit)
		switch {
		case err != nil:
			if ok || (err.code != closeProtocolError && err.code != closeTooBig) {
				t.Fatalf("%+v %v", err, ok)
			}
		case ok:
			if h.hlen > len(b) || h.hlen < 6 || h.length < 0 {
				t.Fatalf("%+v from %x", h, b)
			}
			if h.op < opClose && h.length > limit-msgLen || h.op >= opClose && h.length > 125 {
				t.Fatalf("%+v past the limits (%d, %d)", h, msgLen, limit)
			}
		}
	})
}
