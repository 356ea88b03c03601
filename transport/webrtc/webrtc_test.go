//go:build !js

package webrtc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/swarmcast/swarmcast/transport"
)

// testTimeout bounds every test, so a bug cannot hang the run.
const testTimeout = 60 * time.Second

// loopback is the Config of every test: ICE over 127.0.0.1 only.
var loopback = Config{Loopback: true}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// pair connects two peers in this process and returns the offerer's and
// the answerer's Conn. Both are closed when the test ends.
func pair(t testing.TB, cfg Config) (*Conn, *Conn) {
	t.Helper()
	ctx := testCtx(t)
	o, err := NewOffer(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAnswer(ctx, cfg, o.SDP())
	if err != nil {
		o.Close()
		t.Fatal(err)
	}
	type result struct {
		c   *Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := a.Wait(ctx)
		ch <- result{c, err}
	}()
	c1, err := o.Accept(ctx, a.SDP())
	r := <-ch
	if err != nil || r.err != nil {
		if c1 != nil {
			c1.Close()
		}
		if r.c != nil {
			r.c.Close()
		}
		t.Fatalf("offerer: %v; answerer: %v", err, r.err)
	}
	t.Cleanup(func() {
		c1.Close()
		r.c.Close()
	})
	return c1, r.c
}

func TestConnBasics(t *testing.T) {
	c1, c2 := pair(t, loopback)
	var _ transport.Conn = c1
	if c1.Network() != transport.WebRTC || c2.Network() != "webrtc" {
		t.Errorf("Network() = %q, %q", c1.Network(), c2.Network())
	}
	if !c1.Outbound() || c2.Outbound() {
		t.Errorf("Outbound() = %v (offerer), %v (answerer)", c1.Outbound(), c2.Outbound())
	}
	for _, c := range []*Conn{c1, c2} {
		if !strings.HasPrefix(c.RemoteAddr(), "127.0.0.1:") {
			t.Errorf("RemoteAddr() = %q, want the loopback candidate", c.RemoteAddr())
		}
	}
	// A message larger than the reader's buffer arrives over several reads.
	msg := bytes.Repeat([]byte("0123456789"), 5000)
	go c1.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c2, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("data differs")
	}
}

// TestBulk sends 64 MiB each way at once and compares SHA-256 sums.
func TestBulk(t *testing.T) {
	size := 64 << 20
	switch {
	case testing.Short():
		size = 4 << 20
	case raceEnabled:
		size = 16 << 20
	}
	c1, c2 := pair(t, loopback)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	sums := make([][32]byte, 4) // written by 1, read by 2, written by 2, read by 1
	send := func(c *Conn, seed uint64, sum *[32]byte) {
		defer wg.Done()
		r := rand.New(rand.NewChaCha8([32]byte{byte(seed)}))
		h := sha256.New()
		buf := make([]byte, 100<<10)
		for left := size; left > 0; {
			n := min(left, 1+r.IntN(len(buf))) // odd sizes across message boundaries
			for i := range buf[:n] {
				buf[i] = byte(r.Uint32())
			}
			h.Write(buf[:n])
			if _, err := c.Write(buf[:n]); err != nil {
				errs <- err
				return
			}
			left -= n
		}
		copy(sum[:], h.Sum(nil))
	}
	recv := func(c *Conn, sum *[32]byte) {
		defer wg.Done()
		h := sha256.New()
		if _, err := io.CopyN(h, c, int64(size)); err != nil {
			errs <- err
			return
		}
		copy(sum[:], h.Sum(nil))
	}
	wg.Add(4)
	go send(c1, 1, &sums[0])
	go recv(c2, &sums[1])
	go send(c2, 2, &sums[2])
	go recv(c1, &sums[3])
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if sums[0] != sums[1] || sums[2] != sums[3] {
		t.Fatal("SHA-256 of received data differs from sent")
	}
	el := time.Since(start)
	t.Logf("%d MiB each way in %v: %.1f MB/s each way", size>>20, el, float64(size)/el.Seconds()/1e6)
}

func TestManySmallWrites(t *testing.T) {
	c1, c2 := pair(t, loopback)
	var want bytes.Buffer
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		b := make([]byte, 1+r.IntN(40))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		want.Write(b)
	}
	go func() {
		data := want.Bytes()
		r := rand.New(rand.NewPCG(3, 4))
		for len(data) > 0 {
			n := min(len(data), 1+r.IntN(40))
			if _, err := c1.Write(data[:n]); err != nil {
				return
			}
			data = data[n:]
		}
	}()
	got := make([]byte, want.Len())
	// Read with tiny buffers too.
	for off := 0; off < len(got); {
		n, err := c2.Read(got[off:min(len(got), off+7)])
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("data differs")
	}
}

// TestCloseUnblocksPeer checks that closing either side ends a Read blocked
// on the other side, and that Write after Close fails.
func TestCloseUnblocksPeer(t *testing.T) {
	for _, side := range []string{"offerer closes", "answerer closes"} {
		t.Run(side, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			c1, c2 := pair(t, loopback)
			closer, other := c1, c2
			if side == "answerer closes" {
				closer, other = c2, c1
			}
			readErr := make(chan error, 1)
			go func() {
				_, err := other.Read(make([]byte, 10))
				readErr <- err
			}()
			// The remote's Read also unblocks when the peer Closes while it
			// is blocked in its own Read.
			localErr := make(chan error, 1)
			go func() {
				_, err := closer.Read(make([]byte, 10))
				localErr <- err
			}()
			time.Sleep(20 * time.Millisecond) // let both Reads block
			start := time.Now()
			if err := closer.Close(); err != nil {
				t.Fatal(err)
			}
			for _, ch := range []chan error{localErr, readErr} {
				select {
				case err := <-ch:
					if err == nil {
						t.Fatal("Read returned no error after Close")
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Read still blocked 10 s after Close")
				}
			}
			t.Logf("remote Read unblocked %v after Close", time.Since(start))
			if _, err := closer.Write([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close: %v, want ErrClosed", err)
			}
			// The other side's Write fails too once it noticed.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := other.Write([]byte("x")); err != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("Write to a closed peer still succeeds after 10 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestCloseUnblocksWrite checks that a Write blocked on a full send buffer
// (the peer does not read) returns when the conn is closed.
func TestCloseUnblocksWrite(t *testing.T) {
	defer goleak.VerifyNone(t)
	c1, c2 := pair(t, loopback)
	// The peer is closed here, not left to notice c1's close: on loopback
	// under the race detector that took 0.4-0.5 s, at the edge of goleak's
	// wait, and this test is about c1.
	defer c2.Close()
	// More than the peer's receive window (receiveWindow) and our send
	// queue above it (sendQueueAbove) can hold: with 8 MiB, once the
	// window was 4 MiB, the Write finished on loopback without the race
	// detector.
	const size = 32 << 20
	done := make(chan error, 1)
	go func() {
		_, err := c1.Write(make([]byte, size))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("%d MiB Write to a peer that does not read returned early: %v", size>>20, err)
	default:
	}
	c1.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Write: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write still blocked 10 s after Close")
	}
}

func TestUnansweredOfferClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	o, err := NewOffer(testCtx(t), loopback)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(o.SDP(), "a=candidate:") || strings.Contains(o.SDP(), "a=ice-options:trickle") {
		t.Errorf("offer SDP lacks candidates or still says trickle:\n%s", o.SDP())
	}
	if !strings.Contains(o.SDP(), "a=max-message-size:262144") {
		t.Errorf("offer SDP does not announce max-message-size 262144:\n%s", o.SDP())
	}
	t.Logf("offer SDP: %d bytes", len(o.SDP()))
	o.Close()
	o.Close()
	if _, err := o.Accept(testCtx(t), "v=0"); err == nil {
		t.Error("Accept after Close succeeded")
	}
}

func TestAcceptBadAnswer(t *testing.T) {
	defer goleak.VerifyNone(t)
	o, err := NewOffer(testCtx(t), loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if _, err := o.Accept(testCtx(t), "not an sdp"); !errors.Is(err, ErrBadSDP) {
		t.Fatalf("Accept(garbage) = %v, want ErrBadSDP", err)
	}
	if _, err := NewAnswer(testCtx(t), loopback, "v=0\r\nnonsense"); !errors.Is(err, ErrBadSDP) {
		t.Fatalf("NewAnswer(garbage) = %v, want ErrBadSDP", err)
	}
}

// TestWaitTimeout checks that an answer whose offerer never applies it gives
// up when its context ends, and leaks nothing.
func TestWaitTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	o, err := NewOffer(testCtx(t), loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	a, err := NewAnswer(testCtx(t), loopback, o.SDP())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want DeadlineExceeded", err)
	}
	a.Close()
}

// TestTimings logs how long gathering and opening take on loopback.
func TestTimings(t *testing.T) {
	ctx := testCtx(t)
	const rounds = 5
	var gatherOffer, gatherAnswer, open time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		o, err := NewOffer(ctx, loopback)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		a, err := NewAnswer(ctx, loopback, o.SDP())
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		ch := make(chan *Conn, 1)
		go func() {
			c, _ := a.Wait(ctx)
			ch <- c
		}()
		c1, err := o.Accept(ctx, a.SDP())
		c2 := <-ch
		if err != nil || c2 == nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		gatherOffer += t1.Sub(start)
		gatherAnswer += t2.Sub(t1)
		open += t3.Sub(start)
		c1.Close()
		c2.Close()
	}
	t.Logf("loopback, mean of %d: NewOffer (incl. ICE gathering) %v, NewAnswer %v, NewOffer to open channel %v",
		rounds, gatherOffer/rounds, gatherAnswer/rounds, open/rounds)
}

func TestFilterTrickle(t *testing.T) {
	in := "v=0\r\na=ice-options:trickle\r\na=x\r\n"
	if got := filterTrickle(in); got != "v=0\r\na=x\r\n" {
		t.Errorf("filterTrickle = %q", got)
	}
	if got := filterTrickle("v=0\r\n"); got != "v=0\r\n" {
		t.Errorf("filterTrickle changed an SDP without trickle: %q", got)
	}
}

// TestEchoedSCTPInit: an answerer that does not speak SNAP and copies the
// offer's a=sctp-init into its answer, as libdatachannel (WebTorrent in Node)
// does, still gets a data channel that carries data both ways.
func TestEchoedSCTPInit(t *testing.T) {
	ctx := testCtx(t)
	o, err := NewOffer(ctx, loopback)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var init string
	for _, l := range strings.Split(o.SDP(), "\r\n") {
		if strings.HasPrefix(l, "a=sctp-init:") {
			init = l
		}
	}
	if init == "" {
		t.Fatal("the offer has no a=sctp-init line (SNAP is off?)")
	}
	// The answerer never saw the attribute, so it shakes hands as SCTP
	// always did; its answer then repeats the offerer's line.
	a, err := NewAnswer(ctx, loopback, strings.Replace(o.SDP(), init+"\r\n", "", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if strings.Contains(a.SDP(), "a=sctp-init:") {
		t.Fatal("the answerer offered SNAP to an offer without it")
	}
	answer := strings.Replace(a.SDP(), "a=sctp-port:", init+"\r\na=sctp-port:", 1)
	if !strings.Contains(answer, init) {
		t.Fatal("no a=sctp-port line to put the echo before")
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ch := make(chan *Conn, 1)
	go func() {
		c, err := a.Wait(wctx)
		if err != nil {
			t.Errorf("answerer: %v", err)
		}
		ch <- c
	}()
	c1, err := o.Accept(wctx, answer)
	if err != nil {
		t.Fatalf("offerer: %v", err)
	}
	defer c1.Close()
	c2 := <-ch
	if c2 == nil {
		return
	}
	defer c2.Close()
	for _, dir := range []struct{ w, r *Conn }{{c1, c2}, {c2, c1}} {
		go dir.w.Write([]byte("BitTorrent protocol"))
		got := make([]byte, 19)
		read := make(chan error, 1)
		go func() { _, err := io.ReadFull(dir.r, got); read <- err }()
		select {
		case err := <-read:
			if err != nil || string(got) != "BitTorrent protocol" {
				t.Fatalf("read %q, %v", got, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("nothing arrived in 10 s: the channel is open on one side only")
		}
	}
}

func TestDropEchoedSCTPInit(t *testing.T) {
	offer := "v=0\r\na=sctp-init:AAA=\r\na=sctp-port:5000\r\n"
	for _, c := range []struct{ answer, want string }{
		{"v=0\r\na=sctp-init:AAA=\r\na=sctp-port:5000\r\n", "v=0\r\na=sctp-port:5000\r\n"},
		// An answerer's own INIT is kept: that is SNAP.
		{"v=0\r\na=sctp-init:BBB=\r\na=sctp-port:5000\r\n", "v=0\r\na=sctp-init:BBB=\r\na=sctp-port:5000\r\n"},
		{"v=0\r\na=sctp-port:5000\r\n", "v=0\r\na=sctp-port:5000\r\n"},
	} {
		if got := dropEchoedSCTPInit(offer, c.answer); got != c.want {
			t.Errorf("dropEchoedSCTPInit(%q) = %q, want %q", c.answer, got, c.want)
		}
	}
	if got := dropEchoedSCTPInit("v=0\r\n", "v=0\r\na=sctp-init:AAA=\r\n"); got != "v=0\r\na=sctp-init:AAA=\r\n" {
		t.Errorf("an offer without SNAP changed the answer: %q", got)
	}
}

// BenchmarkConn measures one-way throughput of Conn (64 KiB writes, split
// into 16 KiB messages, with backpressure) beside raw pion: the detached
// channel written directly with 16 KiB messages and no flow control.
func BenchmarkConn(b *testing.B) {
	for _, kind := range []string{"conn", "raw-pion"} {
		b.Run(kind, func(b *testing.B) {
			c1, c2 := pair(b, loopback)
			const chunk = 64 << 10
			total := int64(b.N) * chunk
			b.SetBytes(chunk)
			buf := make([]byte, chunk)
			done := make(chan error, 1)
			b.ResetTimer()
			go func() {
				rb := make([]byte, 64<<10)
				var got int64
				for got < total {
					var n int
					var err error
					if kind == "conn" {
						n, err = c2.Read(rb)
					} else {
						n, err = c2.raw.Read(rb)
					}
					if err != nil {
						done <- err
						return
					}
					got += int64(n)
				}
				done <- nil
			}()
			for i := 0; i < b.N; i++ {
				if kind == "conn" {
					if _, err := c1.Write(buf); err != nil {
						b.Fatal(err)
					}
					continue
				}
				for off := 0; off < chunk; off += MaxWriteMessage {
					if _, err := c1.raw.Write(buf[off : off+MaxWriteMessage]); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkOpen measures NewOffer to open channel on loopback.
func BenchmarkOpen(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		b.StartTimer()
		ctx := testCtx(b)
		o, err := NewOffer(ctx, loopback)
		if err != nil {
			b.Fatal(err)
		}
		a, err := NewAnswer(ctx, loopback, o.SDP())
		if err != nil {
			b.Fatal(err)
		}
		ch := make(chan *Conn, 1)
		go func() {
			c, _ := a.Wait(ctx)
			ch <- c
		}()
		c1, err := o.Accept(ctx, a.SDP())
		c2 := <-ch
		if err != nil || c2 == nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c1.Close()
		c2.Close()
		b.StartTimer()
	}
}

func TestSendThresholds(t *testing.T) {
	for _, tc := range []struct {
		rwnd      uint32
		low, high uint64
	}{
		{0, minSendWindow, minSendWindow + sendQueueAbove},
		{64 << 10, minSendWindow, minSendWindow + sendQueueAbove},
		{1 << 20, 1 << 20, 2 << 20},
		{5 << 20, 5 << 20, 6 << 20},
		{1 << 30, maxSendWindow, maxSendWindow + sendQueueAbove},
	} {
		low, high := sendThresholds(tc.rwnd)
		if low != tc.low || high != tc.high {
			t.Errorf("sendThresholds(%d) = %d, %d; want %d, %d", tc.rwnd, low, high, tc.low, tc.high)
		}
	}
}

// TestSendThresholdsFollowPeerWindow checks that an open channel takes its
// send thresholds from the receive window its peer advertises (ours,
// receiveWindow, less the few bytes of the channel's open handshake the
// peer may not yet have counted as read).
func TestSendThresholdsFollowPeerWindow(t *testing.T) {
	c1, c2 := pair(t, loopback)
	for _, c := range []*Conn{c1, c2} {
		if c.sendLow <= receiveWindow-1<<10 || c.sendLow > receiveWindow || c.sendHigh != c.sendLow+sendQueueAbove {
			t.Errorf("send thresholds %d, %d; want the peer's %d-byte window and %d more", c.sendLow, c.sendHigh, receiveWindow, sendQueueAbove)
		}
	}
}
