package trackerserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// batchSink records what a routeBatcher publishes; a closed gate lets
// publish return, an open one holds it (a destination that does not keep up).
type batchSink struct {
	mu      sync.Mutex
	batches [][]byte
	subj    []string
	at      []time.Time   // when each was published
	got     chan struct{} // a batch was published
	gate    chan struct{}
}

func newBatchSink() *batchSink {
	g := make(chan struct{})
	close(g)
	return &batchSink{got: make(chan struct{}, 1<<10), gate: g}
}

func (k *batchSink) publish(subj string, b []byte) error {
	<-k.gate
	k.mu.Lock()
	k.batches = append(k.batches, bytes.Clone(b))
	k.subj = append(k.subj, subj)
	k.at = append(k.at, time.Now())
	k.mu.Unlock()
	k.got <- struct{}{}
	return nil
}

// recvBatch waits up to d for one more batch.
func (k *batchSink) recvBatch(d time.Duration) (struct{}, error) {
	select {
	case v := <-k.got:
		return v, nil
	case <-time.After(d):
		return struct{}{}, errors.New("no batch")
	}
}

// wait waits for n more batches.
func (k *batchSink) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-k.got:
		case <-time.After(testTimeout):
			t.Fatalf("no batch published within %v", testTimeout)
		}
	}
}

// items decodes every batch published, in order.
func (k *batchSink) items(t *testing.T) [][]byte {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	var all [][]byte
	for _, b := range k.batches {
		var err error
		if all, err = decodeBatch(b, all); err != nil {
			t.Fatalf("published batch: %v", err)
		}
	}
	return all
}

// testBatchBytes bounds the batches of the batcher tests: small, so that a
// few messages fill one.
const testBatchBytes = 64 << 10

// startBatcher runs a batcher's sender until the test ends.
func startBatcher(t *testing.T, k *batchSink, delay time.Duration) (*routeBatcher, *clusterCounters) {
	ctr := new(clusterCounters)
	rb := newRouteBatcher(k.publish, delay, testBatchBytes, ctr)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		rb.run(done)
	}()
	t.Cleanup(func() {
		close(done)
		<-stopped
	})
	return rb, ctr
}

func answerItem(i int, size int) []byte {
	payload := fmt.Appendf(nil, `{"n":%d,"pad":"`, i)
	payload = append(payload, bytes.Repeat([]byte("x"), max(0, size-len(payload)-2))...)
	payload = append(payload, `"}`...)
	return appendAnswerRoute(nil, 7, payload)
}

// TestRouteBatchFills: a batch that reaches its byte or count bound is
// published at once, not after the delay, and the rest follows in order.
func TestRouteBatchFills(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size, n    int
		firstBatch int // messages in the first, full batch
	}{
		{"bytes", 20 << 10, 4, testBatchBytes / (20<<10 + batchItemOverhead)},
		{"count", 40, maxBatchItems + 1, maxBatchItems},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newBatchSink()
			rb, ctr := startBatcher(t, k, time.Hour)
			// A first message goes at once (the sender was quiet); for the
			// hour after it, only a full batch goes.
			rb.add(2, "dst", answerItem(-1, 10), false)
			k.wait(t, 1)
			k.mu.Lock()
			k.batches, k.subj, k.at = nil, nil, nil
			k.mu.Unlock()
			var want [][]byte
			for i := range tc.n {
				m := answerItem(i, tc.size)
				want = append(want, m)
				if !rb.add(2, "dst", m, true) {
					t.Fatalf("message %d refused", i)
				}
			}
			k.wait(t, 1)
			got := k.items(t)
			if len(got) < tc.firstBatch {
				t.Fatalf("first batch holds %d messages, want %d", len(got), tc.firstBatch)
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("message %d differs", i)
				}
			}
			k.mu.Lock()
			first := len(k.batches[0])
			k.mu.Unlock()
			if first > testBatchBytes {
				t.Fatalf("batch of %d bytes, bound %d", first, testBatchBytes)
			}
			// The batcher counts a batch once its publish returns, and the
			// flush that publishes the full batch may publish the partial
			// one after it: wait for the count to meet what the sink holds.
			deadline := time.Now().Add(testTimeout)
			for ctr.routedOut.Load() != uint64(len(k.items(t))) && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if out, n := ctr.routedOut.Load(), len(k.items(t)); out != uint64(n) {
				t.Fatalf("routedOut %d after %d messages published", out, n)
			}
		})
	}
}

// TestRouteBatchDelay: a sender that has been quiet publishes what is
// queued at once, one batch per destination; what is queued within the delay
// after a flush waits for the delay to pass, and goes at shutdown if that
// comes first.
func TestRouteBatchDelay(t *testing.T) {
	perSubject := func(k *batchSink, from int) map[string]int {
		k.mu.Lock()
		defer k.mu.Unlock()
		counts := map[string]int{}
		for i, b := range k.batches[from:] {
			items, err := decodeBatch(b, nil)
			if err != nil {
				t.Fatal(err)
			}
			counts[k.subj[from+i]] += len(items)
		}
		return counts
	}
	t.Run("quiet", func(t *testing.T) {
		k := newBatchSink()
		ctr := new(clusterCounters)
		rb := newRouteBatcher(k.publish, time.Hour, testBatchBytes, ctr)
		// Queued before the sender starts: all there when it first runs.
		for i := range 3 {
			rb.add(2, "two", answerItem(i, 50), true)
		}
		rb.add(3, "three", answerItem(9, 50), false)
		done, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			rb.run(done)
		}()
		k.wait(t, 2) // within testTimeout, not the hour
		if c := perSubject(k, 0); c["two"] != 3 || c["three"] != 1 {
			t.Fatalf("messages per subject %v; want 3 and 1", c)
		}
		// The removal-like message (not an offer or answer) is not a route.
		if out := ctr.routedOut.Load(); out != 3 {
			t.Fatalf("routedOut %d, want 3", out)
		}
		// Within the hour after that flush, a message waits; shutdown
		// sends it.
		rb.add(2, "two", answerItem(10, 50), true)
		if _, err := k.recvBatch(100 * time.Millisecond); err == nil {
			t.Fatal("a message queued right after a flush went before the delay")
		}
		close(done)
		<-stopped
		if c := perSubject(k, 2); c["two"] != 1 {
			t.Fatalf("after shutdown, messages per subject %v; want the one queued", c)
		}
	})
	t.Run("busy", func(t *testing.T) {
		const delay = 30 * time.Millisecond
		k := newBatchSink()
		rb, ctr := startBatcher(t, k, delay)
		rb.add(2, "two", answerItem(0, 50), true)
		k.wait(t, 1)
		for i := 1; i <= 3; i++ {
			rb.add(2, "two", answerItem(i, 50), true)
		}
		waitFor(t, "the 3 messages to be published", func() bool { return ctr.routedOut.Load() == 4 })
		k.mu.Lock()
		gap := k.at[1].Sub(k.at[0])
		k.mu.Unlock()
		if gap < delay {
			t.Fatalf("second batch %v after the first, before the delay of %v", gap, delay)
		}
		if c := perSubject(k, 1); c["two"] != 3 {
			t.Fatalf("later batches hold %d messages, want the 3 queued", c["two"])
		}
	})
}

// TestRouteBatchSlowDestination: while the sender cannot publish, what
// waits for an instance stays within maxOutboxBytes: further messages are
// refused and counted as dropped; the rest goes once publishing resumes.
func TestRouteBatchSlowDestination(t *testing.T) {
	k := newBatchSink()
	k.gate = make(chan struct{}) // publish blocks
	rb, ctr := startBatcher(t, k, time.Millisecond)
	const size = 32 << 10
	sent, refused := 0, 0
	// The first batches fill and go to the sender, which blocks on the
	// first; after that the outbox fills.
	for i := range 4 * maxOutboxBytes / size {
		if rb.add(2, "dst", answerItem(i, size), true) {
			sent++
		} else {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("nothing refused past the outbox's bound")
	}
	if got := ctr.routeDropped.Load(); got != uint64(refused) {
		t.Fatalf("routeDropped %d, %d refused", got, refused)
	}
	// What the blocked sender took, and what waits behind it.
	if bound := 2*maxOutboxBytes/size + 2; sent > bound {
		t.Fatalf("%d messages queued, bound %d", sent, bound)
	}
	close(k.gate)
	waitFor(t, "the queued messages to be published", func() bool { return ctr.routedOut.Load() == uint64(sent) })
	// Order held through the stall.
	prev := -1
	for _, m := range k.items(t) {
		var r wireRoute
		if err := decodeRoute(m, &r); err != nil {
			t.Fatal(err)
		}
		var v struct{ N int }
		if err := json.Unmarshal(r.payload, &v); err != nil {
			t.Fatal(err)
		}
		if v.N <= prev {
			t.Fatalf("message %d after %d", v.N, prev)
		}
		prev = v.N
	}
}

// TestClusterRouteOrder: messages routed from one instance to a socket of
// another arrive in the order they were sent, across many batches.
func TestClusterRouteOrder(t *testing.T) {
	n := startEmbeddedNATS(t)
	in := startCluster(t, n.url(), 2, Config{MaxQueuedBytes: 4 << 20})
	ih := ownedBy(t, in, in[1], 5)
	w := dialWS(t, in[1].wsURL("/"), hash20(0xC1))
	w.announce(ih, nil)
	w.recv()
	var target *wsConn
	in[1].conns.each(func(c *wsConn) { target = c })
	if target == nil {
		t.Fatal("no socket on instance 1")
	}
	// Rounds the test client's buffer holds (it drops past 256); messages
	// of 4 KiB, so that a round (800 KiB) spans two batches
	// (DefaultClusterBatchBytes).
	const rounds, perRound = 5, 200
	pad := bytes.Repeat([]byte("x"), 4<<10)
	for r := range rounds {
		for i := r * perRound; i < (r+1)*perRound; i++ {
			out := getOut()
			out.b = fmt.Appendf(out.b, `{"n":%d,"pad":"%s"}`, i, pad)
			in[0].cluster.routeAnswer(connRef{inst: in[1].inst, id: target.regID}, out)
		}
		for i := r * perRound; i < (r+1)*perRound; i++ {
			if m := w.recv(); m["n"] != float64(i) {
				t.Fatalf("message %d: got n=%v", i, m["n"])
			}
		}
	}
	const count = rounds * perRound
	if st := in[0].Stats().Cluster; st.RoutedOut != count || st.RouteDropped != 0 {
		t.Fatalf("instance 0 routed %d, dropped %d; want %d, 0", st.RoutedOut, st.RouteDropped, count)
	}
}

// TestCallTable: a reply reaches its call once; a reply after its call gave
// up finds nothing, and leaves nothing in the pooled call.
func TestCallTable(t *testing.T) {
	ct := callTable{m: make(map[uint64]*call)}
	c := ct.start()
	if !ct.finish(c.seq, []byte("r1")) {
		t.Fatal("reply to a waiting call not taken")
	}
	if got := <-c.reply; string(got) != "r1" {
		t.Fatalf("reply %q", got)
	}
	if ct.finish(c.seq, []byte("again")) {
		t.Fatal("a second reply was taken")
	}
	first := c.seq
	ct.pool.Put(c)
	c2 := ct.start()
	if c2.seq == first {
		t.Fatal("a call number was used twice")
	}
	if !ct.cancel(c2) {
		t.Fatal("cancel of a waiting call")
	}
	if ct.finish(c2.seq, []byte("late")) {
		t.Fatal("a reply after the call gave up was taken")
	}
	select {
	case r := <-c2.reply:
		t.Fatalf("stale reply %q in a cancelled call", r)
	default:
	}
	if len(ct.m) != 0 {
		t.Fatalf("%d calls left in the table", len(ct.m))
	}
}

// TestClusterBatchBound: an instance's batches are bounded by
// ClusterConfig.BatchBytes, DefaultClusterBatchBytes when it is zero, and
// never by more than half the payload limit of the NATS server it joined
// through: a bigger batch would be refused by the server and its messages
// lost.
func TestClusterBatchBound(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPayload int32 // the server's; 0: NATS's default, 1 MiB
		cfg, want  int
	}{
		{"default", 0, 0, DefaultClusterBatchBytes},
		{"configured", 0, 100 << 10, 100 << 10},
		{"server limit", 64 << 10, 0, 32 << 10},
		{"configured above the server limit", 64 << 10, 1 << 20, 32 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := connectNATS(t, startEmbeddedNATSLimited(t, tc.maxPayload).url())
			s := New(Config{})
			t.Cleanup(func() { s.Shutdown(context.Background()) })
			if err := s.JoinCluster(ClusterConfig{Conn: nc, Heartbeat: testHeartbeat, BatchBytes: tc.cfg}); err != nil {
				t.Fatal(err)
			}
			if got := s.cluster.routes.maxBytes; got != tc.want {
				t.Fatalf("batch bound %d, want %d", got, tc.want)
			}
		})
	}
}
