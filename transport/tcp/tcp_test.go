package tcp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/mse"
	"github.com/swarmcast/swarmcast/transport"
)

var infoHash = [20]byte{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 0xbb}

// btHandshake is a BitTorrent handshake for infoHash with the given peer id
// byte, as the engine writes it.
func btHandshake(id byte) []byte {
	b := append([]byte(protocolHeader), make([]byte, 8)...)
	b = append(b, infoHash[:]...)
	return append(b, bytes.Repeat([]byte{id}, 20)...)
}

func serves(ih [20]byte) func([20]byte) ([20]byte, bool) {
	want := mse.SKeyHash(ih)
	return func(h [20]byte) ([20]byte, bool) { return ih, h == want }
}

// errGarbled: the test's listener read something other than the
// handshake (as the engine does, it closes the connection and goes on).
var errGarbled = errors.New("listener got a garbled handshake")

type side struct {
	conn transport.Conn
	err  error
}

// pair dials l with d and runs an engine-like BitTorrent handshake on both
// ends: the dialler writes first, the listener reads first. It returns
// both ends (closed at the end of the test) or the first error of each side.
func pair(t *testing.T, d Dialer, lc ListenConfig) (out, in side) {
	t.Helper()
	l, err := lc.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := make(chan side, 1)
	go func() {
		// Like the engine: the first connection that fails its
		// handshake is closed, and the next is waited for.
		for {
			c, err := l.Accept()
			if err != nil {
				ch <- side{nil, err}
				return
			}
			t.Cleanup(func() { c.Close() })
			got := make([]byte, 68)
			if _, err := io.ReadFull(c, got); err != nil {
				c.Close()
				ch <- side{nil, err}
				continue
			}
			if !bytes.Equal(got, btHandshake(1)) {
				c.Close()
				ch <- side{nil, errGarbled}
				continue
			}
			_, err = c.Write(btHandshake(2))
			ch <- side{c, err}
			return
		}
	}()
	c, err := d.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	out.conn = c
	if _, out.err = c.Write(btHandshake(1)); out.err == nil {
		got := make([]byte, 68)
		if _, out.err = io.ReadFull(c, got); out.err == nil && !bytes.Equal(got, btHandshake(2)) {
			out.err = errors.New("dialler got a garbled handshake")
		}
	}
	for {
		select {
		case in = <-ch:
			if in.err == nil || out.err != nil {
				return out, in
			}
			// A refused first attempt; a fallback may follow.
		case <-time.After(2 * time.Second):
			return out, side{nil, errors.New("no inbound handshake")}
		}
	}
}

func encryption(c transport.Conn) mse.Method {
	if m, ok := c.(interface{ Encryption() mse.Method }); ok {
		return m.Encryption()
	}
	return 0
}

func TestPolicies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dial    mse.Policy
		listen  ListenConfig
		want    mse.Method // the method both ends see; 0: plain
		wantErr error      // the listener's, when the connection fails
	}{
		{"prefer to prefer", mse.Prefer, ListenConfig{Encryption: mse.Prefer, InfoHash: serves(infoHash)}, mse.Plaintext, nil},
		{"require to prefer", mse.Require, ListenConfig{Encryption: mse.Prefer, InfoHash: serves(infoHash)}, mse.RC4, nil},
		{"prefer to require", mse.Prefer, ListenConfig{Encryption: mse.Require, InfoHash: serves(infoHash)}, mse.RC4, nil},
		{"off to prefer", mse.Off, ListenConfig{Encryption: mse.Prefer, InfoHash: serves(infoHash)}, 0, nil},
		{"prefer to the zero config falls back", mse.Prefer, ListenConfig{}, 0, nil},
		{"prefer to a listener that knows no torrents falls back", mse.Prefer, ListenConfig{Encryption: mse.Prefer}, 0, nil},
		{"prefer to off falls back", mse.Prefer, ListenConfig{Encryption: mse.Off, InfoHash: serves(infoHash)}, 0, nil},
		{"prefer to an unknown torrent falls back", mse.Prefer, ListenConfig{Encryption: mse.Prefer, InfoHash: serves([20]byte{1})}, 0, nil},
		{"zero dialer to zero listener", Dialer{}.Encryption, ListenConfig{}, 0, nil},
		{"require to a plain listener", mse.Require, ListenConfig{}, 0, errGarbled},
		{"require to a listener that knows no torrents", mse.Require, ListenConfig{Encryption: mse.Prefer}, 0, ErrEncryptedRefused},
		{"off to require", mse.Off, ListenConfig{Encryption: mse.Require, InfoHash: serves(infoHash)}, 0, ErrPlainRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, in := pair(t, Dialer{Encryption: tc.dial}, tc.listen)
			if tc.wantErr != nil {
				if !errors.Is(in.err, tc.wantErr) {
					t.Fatalf("listener: err %v, want %v", in.err, tc.wantErr)
				}
				if out.err == nil {
					t.Fatal("dialler's handshake succeeded")
				}
				return
			}
			if out.err != nil || in.err != nil {
				t.Fatalf("dialler: %v; listener: %v", out.err, in.err)
			}
			if got := encryption(out.conn); got != tc.want {
				t.Errorf("dialler's method %v, want %v", got, tc.want)
			}
			if got := encryption(in.conn); got != tc.want {
				t.Errorf("listener's method %v, want %v", got, tc.want)
			}
			if !in.conn.Outbound() == !out.conn.Outbound() || in.conn.Network() != transport.TCP {
				t.Error("wrong Outbound or Network")
			}
			exchange(t, out.conn, in.conn, 1<<20)
		})
	}
}

func exchange(t *testing.T, a, b io.ReadWriter, n int) {
	t.Helper()
	ab, ba := make([]byte, n), make([]byte, n)
	rand.Read(ab)
	rand.Read(ba)
	errs := make(chan error, 2)
	go func() { _, err := a.Write(ab); errs <- err }()
	go func() { _, err := b.Write(ba); errs <- err }()
	gotB, gotA := make([]byte, n), make([]byte, n)
	if _, err := io.ReadFull(b, gotB); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(a, gotA); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(gotB, ab) || !bytes.Equal(gotA, ba) {
		t.Fatal("payload changed on the way")
	}
}

// TestNearlyPlain: 19 followed by something other than the protocol name
// is an MSE key, not a plain handshake.
func TestNearlyPlain(t *testing.T) {
	l, err := ListenConfig{Encryption: mse.Prefer}.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("\x13BitTorrent protocoX and more"))
	in, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.Read(make([]byte, 10)); !errors.Is(err, ErrEncryptedRefused) {
		t.Fatalf("err %v, want ErrEncryptedRefused", err)
	}
}

// TestCloseUnblocks: Close ends a Read that waits for a handshake.
func TestCloseUnblocks(t *testing.T) {
	l, err := ListenConfig{Encryption: mse.Prefer, InfoHash: serves(infoHash)}.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{1, 2, 3}) // the start of a key, then silence
	in, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := in.Read(make([]byte, 10)); errc <- err }()
	time.Sleep(50 * time.Millisecond) // let Read block in the handshake (not needed for correctness)
	in.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Read succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked after Close")
	}
}

// TestRequireNeedsHandshake: with encryption required, the first write must
// carry the info hash.
func TestRequireNeedsHandshake(t *testing.T) {
	l, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := Dialer{Encryption: mse.Require}.Dial(context.Background(), l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); !errors.Is(err, ErrNotHandshake) {
		t.Fatalf("err %v, want ErrNotHandshake", err)
	}
}

// BenchmarkThroughput moves 64 MiB over loopback for each method, to show
// what RC4 costs against plain.
func BenchmarkThroughput(b *testing.B) {
	for _, tc := range []struct {
		name string
		dial mse.Policy
	}{{"plain", mse.Off}, {"mse-plaintext", mse.Prefer}, {"rc4", mse.Require}} {
		b.Run(tc.name, func(b *testing.B) {
			l, _ := ListenConfig{Encryption: mse.Prefer, InfoHash: serves(infoHash)}.Listen("127.0.0.1:0")
			defer l.Close()
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				io.ReadFull(c, make([]byte, 68))
				c.Write(btHandshake(2))
				io.Copy(io.Discard, c)
			}()
			c, err := Dialer{Encryption: tc.dial}.Dial(context.Background(), l.Addr())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			c.Write(btHandshake(1))
			io.ReadFull(c, make([]byte, 68))
			buf := make([]byte, 256<<10)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				c.Write(buf)
			}
		})
	}
}

// TestDialerRemembersRefusal: NewDialer's Prefer dials a peer without MSE
// plain at once once it has refused an encrypted handshake; a literal
// Dialer tries MSE every time.
func TestDialerRemembersRefusal(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Dialer
		want []int // connections the peer sees per dial
	}{
		{"NewDialer", NewDialer(mse.Prefer), []int{2, 1, 1}},
		{"literal", Dialer{Encryption: mse.Prefer}, []int{2, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			accepted := make(chan bool, 16) // whether each connection was a plain handshake
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					got := make([]byte, 68)
					_, err = io.ReadFull(c, got)
					plain := err == nil && bytes.Equal(got, btHandshake(1))
					if plain {
						c.Write(btHandshake(2))
					}
					c.Close() // a client without MSE hangs up on anything else
					accepted <- plain
				}
			}()
			for i, want := range tc.want {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				c, err := tc.d.Dial(ctx, l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write(btHandshake(1)); err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				if _, err := io.ReadFull(c, make([]byte, 68)); err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				c.Close()
				cancel()
				for j := range want {
					select {
					case plain := <-accepted:
						if plain != (j == want-1) {
							t.Fatalf("dial %d, connection %d: plain %v", i, j, plain)
						}
					case <-time.After(5 * time.Second):
						t.Fatalf("dial %d: %d connections, want %d", i, j, want)
					}
				}
			}
		})
	}
}

func TestPlainPeersBounded(t *testing.T) {
	p := newPlainPeers()
	now := time.Now()
	for i := range plainPeersMax + 10 {
		p.add(net.JoinHostPort("10.0.0.1", strconv.Itoa(i)), now)
	}
	if p.len() != plainPeersMax {
		t.Fatalf("%d remembered, want the bound %d", p.len(), plainPeersMax)
	}
	if p.has("10.0.0.1:0", now) || !p.has("10.0.0.1:10", now) {
		t.Fatal("the oldest were not the ones forgotten")
	}
	if p.has("10.0.0.1:11", now.Add(plainPeersTTL)) {
		t.Fatal("an entry outlived its TTL")
	}
	if p.len() != plainPeersMax-1 {
		t.Fatalf("an expired entry was kept: %d", p.len())
	}
}

func TestRateLimit(t *testing.T) {
	r := newRateLimit(10, 3)
	now := time.Now()
	for i := range 3 {
		if !r.allow(now) {
			t.Fatalf("burst: token %d refused", i)
		}
	}
	if r.allow(now) {
		t.Fatal("a fourth token in the same instant")
	}
	if !r.allow(now.Add(100 * time.Millisecond)) {
		t.Fatal("no token after a tenth of a second at 10 a second")
	}
	if r.allow(now.Add(100 * time.Millisecond)) {
		t.Fatal("two tokens after a tenth of a second")
	}
	if n := countAllowed(r, now.Add(time.Hour)); n != 3 {
		t.Fatalf("%d tokens after an hour, want the burst 3", n)
	}
}

func countAllowed(r *rateLimit, at time.Time) int {
	n := 0
	for r.allow(at) {
		n++
	}
	return n
}

// TestKeyExchangeFlood: past the listener's key exchange budget, encrypted
// connections are refused before any exponentiation, and plain ones still
// served.
func TestKeyExchangeFlood(t *testing.T) {
	l, err := ListenConfig{Encryption: mse.Prefer, InfoHash: serves(infoHash)}.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.(*listener).exchange = newRateLimit(1.0/3600, 2) // two, then one an hour
	results := make(chan error, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, err := io.ReadFull(c, make([]byte, 68))
				results <- err
			}()
		}
	}()
	dial := func(policy mse.Policy) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := Dialer{Encryption: policy}.Dial(ctx, l.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write(btHandshake(1)) // a Require dial that is refused fails here; the listener side tells
	}
	for i, want := range []error{nil, nil, ErrBusy} {
		dial(mse.Require)
		if err := <-results; !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Fatalf("encrypted connection %d: %v, want %v", i, err, want)
		}
	}
	dial(mse.Off)
	if err := <-results; err != nil {
		t.Fatalf("plain connection during the flood: %v", err)
	}
}
