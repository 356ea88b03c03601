package mse

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

var testSKey = [20]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}

// tcpPair returns the two ends of a loopback TCP connection, closed at the
// end of the test, each with a deadline so a broken handshake fails the
// test instead of hanging it.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	a, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	b = r.c
	deadline := time.Now().Add(10 * time.Second)
	a.SetDeadline(deadline)
	b.SetDeadline(deadline)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func lookup(skey [20]byte) func([20]byte) ([20]byte, bool) {
	want := SKeyHash(skey)
	return func(h [20]byte) ([20]byte, bool) { return skey, h == want }
}

type result struct {
	s   *Stream
	err error
}

// handshake runs both sides at once over loopback TCP.
func handshake(t *testing.T, provide Method, accept Policy, ia []byte) (a, b result) {
	t.Helper()
	ca, cb := tcpPair(t)
	ch := make(chan result, 1)
	go func() {
		s, err := Accept(cb, nil, AcceptConfig{SKey: lookup(testSKey), Select: accept.Select})
		if err != nil {
			cb.Close() // as a real receiver does: the initiator must not wait
		}
		ch <- result{s, err}
	}()
	s, err := Initiate(ca, testSKey, provide, ia, nil)
	a = result{s, err}
	b = <-ch
	return a, b
}

func TestHandshakeMethods(t *testing.T) {
	for _, tc := range []struct {
		name    string
		provide Method
		accept  Policy
		want    Method // 0: both sides fail
	}{
		{"prefer-prefer", Prefer.Provide(), Prefer, Plaintext},
		{"prefer-require", Prefer.Provide(), Require, RC4},
		{"require-prefer", Require.Provide(), Prefer, RC4},
		{"require-require", Require.Provide(), Require, RC4},
		{"plaintext-only-require", Plaintext, Require, 0},
		{"prefer-off", Prefer.Provide(), Off, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ia := []byte("\x13BitTorrent protocol and the rest of a handshake")
			a, b := handshake(t, tc.provide, tc.accept, ia)
			if tc.want == 0 {
				if !errors.Is(b.err, ErrNoMethod) {
					t.Fatalf("receiver: err %v, want ErrNoMethod", b.err)
				}
				if a.err == nil {
					t.Fatal("initiator succeeded where the receiver refused")
				}
				return
			}
			if a.err != nil || b.err != nil {
				t.Fatalf("initiator: %v; receiver: %v", a.err, b.err)
			}
			if a.s.Method() != tc.want || b.s.Method() != tc.want {
				t.Fatalf("methods %v and %v, want %v", a.s.Method(), b.s.Method(), tc.want)
			}
			if b.s.SKey() != testSKey {
				t.Fatalf("receiver's SKey %x", b.s.SKey())
			}
			got := make([]byte, len(ia))
			if _, err := io.ReadFull(b.s, got); err != nil || !bytes.Equal(got, ia) {
				t.Fatalf("initial payload %q, %v; want %q", got, err, ia)
			}
			exchange(t, a.s, b.s, 1<<20)
		})
	}
}

// exchange sends n random bytes each way at once and checks they arrive.
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

func TestEmptyInitialPayload(t *testing.T) {
	a, b := handshake(t, RC4, Prefer, nil)
	if a.err != nil || b.err != nil {
		t.Fatalf("initiator: %v; receiver: %v", a.err, b.err)
	}
	exchange(t, a.s, b.s, 100)
}

// TestRC4OnTheWire checks that with RC4 the payload is not on the wire in
// the clear, and with plaintext it is.
func TestRC4OnTheWire(t *testing.T) {
	for _, m := range []Method{RC4, Plaintext} {
		var wire bytes.Buffer
		ca, cb := tcpPair(t)
		done := make(chan error, 1)
		go func() {
			s, err := Accept(cb, nil, AcceptConfig{SKey: lookup(testSKey)})
			if err == nil {
				_, err = io.Copy(io.Discard, s)
			}
			done <- err
		}()
		s, err := Initiate(teeWriter{ca, &wire}, testSKey, m, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		secret := bytes.Repeat([]byte("secret payload "), 100)
		wire.Reset()
		s.Write(secret)
		ca.Close()
		<-done
		if got := bytes.Contains(wire.Bytes(), secret[:30]); got != (m == Plaintext) {
			t.Errorf("%v: payload in the clear on the wire: %v", m, got)
		}
	}
}

type teeWriter struct {
	net.Conn
	w io.Writer
}

func (t teeWriter) Write(p []byte) (int, error) {
	t.w.Write(p)
	return t.Conn.Write(p)
}

// fakeInitiator writes an initiator's step 1 and 3 by hand, so tests can
// break any field.
type fakeInitiator struct {
	k *dh
	s [KeyLen]byte
}

// start sends Ya and pad, reads Yb.
func startFake(t *testing.T, c net.Conn, padA int) *fakeInitiator {
	t.Helper()
	k, err := newDH(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(append(k.pub[:], make([]byte, padA)...)); err != nil {
		t.Fatal(err)
	}
	yb := make([]byte, KeyLen)
	if _, err := io.ReadFull(c, yb); err != nil {
		t.Fatal(err)
	}
	s, err := k.secret(yb)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeInitiator{k, s}
}

// step3 returns step 3 with the given encrypted part (before encryption).
func (f *fakeInitiator) step3(skey [20]byte, encrypted []byte) []byte {
	req1 := hash([]byte("req1"), f.s[:])
	req2 := SKeyHash(skey)
	req3 := hash([]byte("req3"), f.s[:])
	msg := append([]byte(nil), req1[:]...)
	for i := range req2 {
		msg = append(msg, req2[i]^req3[i])
	}
	enc := newCipher("keyA", f.s, skey)
	tail := append([]byte(nil), encrypted...)
	enc.XORKeyStream(tail, tail)
	return append(msg, tail...)
}

func fields(vc []byte, provide Method, padC int, ia []byte, iaLen int) []byte {
	b := append([]byte(nil), vc...)
	b = binary.BigEndian.AppendUint32(b, uint32(provide))
	b = binary.BigEndian.AppendUint16(b, uint16(padC))
	b = append(b, make([]byte, min(padC, 600))...)
	b = binary.BigEndian.AppendUint16(b, uint16(iaLen))
	return append(b, ia...)
}

func TestAcceptRefuses(t *testing.T) {
	zeroVC := make([]byte, 8)
	other := [20]byte{99}
	for _, tc := range []struct {
		name    string
		padA    int
		skey    [20]byte
		enc     []byte
		wantErr error
	}{
		{"unknown torrent", 0, other, fields(zeroVC, RC4, 0, nil, 0), ErrUnknownSKey},
		{"bad VC", 0, testSKey, fields([]byte{0, 0, 0, 0, 0, 0, 0, 1}, RC4, 0, nil, 0), ErrBadVC},
		{"PadC too long", 0, testSKey, fields(zeroVC, RC4, 513, nil, 0), ErrTooLong},
		{"IA too long", 0, testSKey, fields(zeroVC, RC4, 0, nil, MaxInitialPayload+1), ErrTooLong},
		{"nothing provided", 0, testSKey, fields(zeroVC, 0, 0, nil, 0), ErrNoMethod},
		{"unknown method only", 0, testSKey, fields(zeroVC, 0x08, 0, nil, 0), ErrNoMethod},
		{"PadA too long", 513, testSKey, fields(zeroVC, RC4, 0, nil, 0), ErrNoSync},
		{"longest PadA", 512, testSKey, fields(zeroVC, RC4, 0, nil, 0), nil},
		{"longest PadC and IA", 0, testSKey, fields(zeroVC, RC4, MaxPad, make([]byte, MaxInitialPayload), MaxInitialPayload), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := tcpPair(t)
			ch := make(chan error, 1)
			go func() {
				_, err := Accept(cb, nil, AcceptConfig{SKey: lookup(testSKey)})
				ch <- err
			}()
			f := startFake(t, ca, tc.padA)
			ca.Write(f.step3(tc.skey, tc.enc))
			if err := <-ch; !errors.Is(err, tc.wantErr) && !(tc.wantErr == nil && err == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// TestNoSyncIsBounded: a peer that sends junk instead of the req1 hash is
// refused once the padding could have ended, without waiting for more.
func TestNoSyncIsBounded(t *testing.T) {
	ca, cb := tcpPair(t)
	ch := make(chan error, 1)
	go func() {
		_, err := Accept(cb, nil, AcceptConfig{SKey: lookup(testSKey)})
		ch <- err
	}()
	startFake(t, ca, 0)
	ca.Write(make([]byte, MaxPad+20)) // the connection stays open after it
	select {
	case err := <-ch:
		if !errors.Is(err, ErrNoSync) {
			t.Fatalf("err %v, want ErrNoSync", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("receiver still waiting after the padding's bound")
	}
}

// TestSilentPeerMeetsDeadline: a peer that sends its key and then nothing
// holds the receiver only until the connection's deadline.
func TestSilentPeerMeetsDeadline(t *testing.T) {
	for _, side := range []string{"receiver", "initiator"} {
		t.Run(side, func(t *testing.T) {
			ca, cb := tcpPair(t)
			cb.SetDeadline(time.Now().Add(200 * time.Millisecond))
			ch := make(chan error, 1)
			start := time.Now()
			go func() {
				var err error
				if side == "receiver" {
					_, err = Accept(cb, nil, AcceptConfig{SKey: lookup(testSKey)})
				} else {
					_, err = Initiate(cb, testSKey, RC4, nil, nil)
				}
				ch <- err
			}()
			k, _ := newDH(rand.Reader)
			ca.Write(k.pub[:]) // a key, then silence
			err := <-ch
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("err %v, want a timeout", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestBadKeys(t *testing.T) {
	p1 := new(big.Int).Sub(prime, big.NewInt(1))
	for _, y := range []*big.Int{big.NewInt(0), big.NewInt(1), p1, prime, new(big.Int).Add(prime, big.NewInt(5))} {
		var b [KeyLen]byte
		y.FillBytes(b[:])
		k, _ := newDH(rand.Reader)
		if _, err := k.secret(b[:]); !errors.Is(err, ErrBadKey) {
			t.Errorf("key %v: err %v, want ErrBadKey", y, err)
		}
	}
	var ff [KeyLen]byte
	for i := range ff {
		ff[i] = 0xff
	}
	k, _ := newDH(rand.Reader)
	if _, err := k.secret(ff[:]); !errors.Is(err, ErrBadKey) {
		t.Errorf("all-ones key: err %v", err)
	}
}

func TestShortInput(t *testing.T) {
	for _, n := range []int{0, 1, 50, 95, 96, 200} {
		in := make([]byte, n)
		rand.Read(in)
		_, err := Accept(struct {
			io.Reader
			io.Writer
		}{bytes.NewReader(in), io.Discard}, nil, AcceptConfig{SKey: lookup(testSKey)})
		if err == nil {
			t.Fatalf("%d bytes accepted", n)
		}
	}
}

// TestPrefix: bytes read before Accept (to sniff a plain handshake) count
// as the start of Ya.
func TestPrefix(t *testing.T) {
	ca, cb := tcpPair(t)
	ch := make(chan result, 1)
	go func() {
		first := make([]byte, 20)
		if _, err := io.ReadFull(cb, first); err != nil {
			ch <- result{nil, err}
			return
		}
		s, err := Accept(cb, first, AcceptConfig{SKey: lookup(testSKey)})
		ch <- result{s, err}
	}()
	a, err := Initiate(ca, testSKey, RC4, []byte("hello"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b.err != nil {
		t.Fatal(b.err)
	}
	got := make([]byte, 5)
	io.ReadFull(b.s, got)
	if string(got) != "hello" {
		t.Fatalf("initial payload %q", got)
	}
	exchange(t, a, b.s, 4096)
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []Policy{Prefer, Require, Off} {
		if q, err := ParsePolicy(p.String()); err != nil || q != p {
			t.Errorf("%v: %v, %v", p, q, err)
		}
	}
	if _, err := ParsePolicy("yes"); err == nil {
		t.Error("ParsePolicy(yes) succeeded")
	}
}

func BenchmarkHandshake(b *testing.B) {
	for b.Loop() {
		k1, _ := newDH(rand.Reader)
		k2, _ := newDH(rand.Reader)
		k1.secret(k2.pub[:])
		k2.secret(k1.pub[:])
	}
}

func BenchmarkRC4Write(b *testing.B) {
	c, _ := newDH(rand.Reader)
	s := newStream(struct {
		io.Reader
		io.Writer
	}{nil, io.Discard}, RC4, newCipher("keyA", c.pub, testSKey), newCipher("keyB", c.pub, testSKey), nil, nil)
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		s.Write(buf)
	}
}

// TestPlainPeerHangsUp: a client without MSE reads our key as a bad
// BitTorrent handshake and hangs up; the initiator says so with
// ErrNoPeerKey, which a dialler takes as the cue to dial plain.
func TestPlainPeerHangsUp(t *testing.T) {
	ca, cb := tcpPair(t)
	go func() {
		io.ReadFull(cb, make([]byte, 68))
		cb.Close()
	}()
	if _, err := Initiate(ca, testSKey, Prefer.Provide(), nil, nil); !errors.Is(err, ErrNoPeerKey) {
		t.Fatalf("err %v, want ErrNoPeerKey", err)
	}
}
