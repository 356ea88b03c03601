package trackerserver

import (
	"sync"
	"time"
)

// Nothing for another instance is published alone: offers, answers, calls
// (forwarded requests), their replies and removals go into that instance's
// outbox, and one sender goroutine publishes each outbox as one NATS message
// (a batch) a short delay after the first of them was queued. Each NATS
// message costs every process it crosses (this one, nats-server, the
// destination) a few goroutine wake-ups and system calls whatever its size,
// and on a busy machine these cost far more than its bytes: in one run of
// bench/tracker/cluster.sh, nats-server spent about 80 µs of CPU per
// message. A batch costs what one message does.
//
// Order: the sender alone publishes, oldest batch first, and the destination
// reads its subject with one subscriber, so messages for one socket arrive
// in the order they were queued.
//
// Bounds: a batch holds at most the batcher's maxBytes
// (ClusterConfig.BatchBytes; or one message bigger than that) and
// maxBatchItems messages; a full batch is published at once. What
// waits for the sender per destination is at most maxOutboxBytes: past it, a
// message is dropped and counted (routeDropped; a call fails instead), as a
// socket's full queue drops.
const (
	// DefaultClusterFlushDelay is the shortest time between two flushes of
	// the outboxes (run). It adds nothing to a crossing in a quiet cluster
	// and at most this much under load, where it bounds the NATS messages:
	// each costs every process it crosses a few thread wake-ups (nats-server
	// alone spent 120-170 µs of CPU per message on the benchmark's 2-core
	// VM), and under load every pair of instances sends one a delay. What
	// waits for it is only the offers and answers that cross instances (a
	// fifth of them, with near picks), the calls and their replies: an
	// announce's near offers are relayed at once from the instance's near
	// set (clusternear.go). Measured with bench/tracker/cluster.sh (1,500
	// announces/s, 5 offers each, three instances, three runs each, builds
	// in turns): the build before near sets at 10 ms sent 0.36 NATS
	// messages per announce at 1.37-1.57× a plain tracker's CPU per
	// announce, median relay 16-23 ms; this one at 20 ms 0.19 at
	// 1.16-1.26×, median relay 5.7-6.2 ms, 20-21 ms for the offers that
	// cross. An offer crosses at most two batches: the call that carries
	// it, then the owner's message to the target's instance.
	DefaultClusterFlushDelay = 20 * time.Millisecond
	// DefaultClusterBatchBytes bounds a batch (ClusterConfig.BatchBytes):
	// 512 KiB, half of NATS's default 1 MiB payload limit, holds what one
	// instance sends another in a flush delay at a few thousand announces
	// a second, so that under load a batch leaves once a delay and not
	// each time it fills. Measured with bench/tracker/cluster.sh (4,000
	// announces/s, 5 offers each, GOMAXPROCS=1, two runs of each bound in
	// turns): 64, 256 and 512 KiB gave two instances 0.22-0.23, 0.05 and
	// 0.04-0.05 NATS messages per announce and 1.46-1.48, 1.32-1.39 and
	// 1.30-1.33 times a plain tracker's CPU per announce (three instances
	// 1.55-1.62, 1.52-1.55 and 1.45-1.52), a median offer relay of 6.2-6.7,
	// 11.2-12.2 and 10.9-11.4 ms. Below a few hundred announces a second
	// batches never fill, and nothing changes.
	DefaultClusterBatchBytes = 512 << 10
	// maxBatchItems bounds the messages of a batch (the count is 16 bits).
	maxBatchItems = 1024
	// maxOutboxBytes bounds what waits for the sender per destination: a
	// second of one instance's offers at a few thousand announces a second.
	maxOutboxBytes = 4 << 20
	// maxSpareBatches bounds the batch buffers kept for reuse, each at
	// most twice the batch bound: 8 MiB with the default.
	maxSpareBatches = 8
)

// routeBatcher holds the outboxes and runs their sender.
type routeBatcher struct {
	// publish sends a batch to a subject (nats.Conn.Publish; tests stub it).
	publish  func(subj string, data []byte) error
	delay    time.Duration
	maxBytes int // a batch's bound (ClusterConfig.BatchBytes)
	ctr      *clusterCounters

	mu      sync.Mutex
	boxes   map[uint64]*outbox
	pending bool     // some outbox holds messages the sender has not taken
	spare   [][]byte // batch buffers for reuse
	kick    chan struct{}
	full    chan struct{}

	taken []sealedBatch // the sender's
}

// outbox is what waits for one destination instance.
type outbox struct {
	subj   string
	cur    []byte        // the batch being filled; empty when n is 0
	n      int           // messages in cur
	routes int           // of which offers and answers
	sealed []sealedBatch // full batches, oldest first
	bytes  int           // queued in cur and sealed
}

type sealedBatch struct {
	subj   string
	b      []byte
	n      int
	routes int // offers and answers among the n messages (RoutedOut counts these)
}

func newRouteBatcher(publish func(string, []byte) error, delay time.Duration, maxBytes int, ctr *clusterCounters) *routeBatcher {
	return &routeBatcher{
		publish:  publish,
		delay:    delay,
		maxBytes: maxBytes,
		ctr:      ctr,
		boxes:    make(map[uint64]*outbox),
		kick:     make(chan struct{}, 1),
		full:     make(chan struct{}, 1),
	}
}

// add queues a copy of msg (one encoded message) for instance inst on
// subject subj; route says it is an offer or answer (counted in RoutedOut
// or RouteDropped). It reports false when inst's outbox is full.
func (rb *routeBatcher) add(inst uint64, subj string, msg []byte, route bool) bool {
	size := batchItemOverhead + len(msg)
	rb.mu.Lock()
	ob := rb.boxes[inst]
	if ob == nil {
		ob = &outbox{subj: subj}
		rb.boxes[inst] = ob
	}
	if ob.bytes+size > maxOutboxBytes {
		rb.mu.Unlock()
		if route {
			rb.ctr.routeDropped.Add(1)
		}
		return false
	}
	if ob.n > 0 && (len(ob.cur)+size > rb.maxBytes || ob.n == maxBatchItems) {
		ob.sealed = append(ob.sealed, sealedBatch{subj: ob.subj, b: ob.cur, n: ob.n, routes: ob.routes})
		ob.cur, ob.n, ob.routes = rb.spareLocked(), 0, 0
		signal(rb.full)
	}
	if ob.n == 0 {
		ob.cur = appendBatchHeader(ob.cur[:0])
	}
	ob.cur = appendBatchItem(ob.cur, msg)
	ob.n++
	if route {
		ob.routes++
	}
	ob.bytes += size
	if !rb.pending {
		rb.pending = true
		signal(rb.kick)
	}
	rb.mu.Unlock()
	return true
}

// signal wakes whoever waits on c, if it is not already woken.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (rb *routeBatcher) spareLocked() []byte {
	if n := len(rb.spare); n > 0 {
		b := rb.spare[n-1]
		rb.spare = rb.spare[:n-1]
		return b
	}
	return make([]byte, 0, 4096)
}

// forget drops what waits for an instance that left, counting it.
func (rb *routeBatcher) forget(inst uint64) {
	rb.mu.Lock()
	if ob := rb.boxes[inst]; ob != nil {
		n := ob.routes
		for _, sb := range ob.sealed {
			n += sb.routes
		}
		rb.ctr.routeDropped.Add(uint64(n))
		delete(rb.boxes, inst)
	}
	rb.mu.Unlock()
}

// run publishes the outboxes until done is closed, then once more. Batches
// leave at most once a delay: a message queued when the last flush is a
// delay old or more goes at once (with whatever else is queued by the time
// the sender runs), one queued sooner waits for the delay since the last
// flush to pass, with everything queued meanwhile; a full batch goes at
// once. So a quiet cluster adds no wait to a crossing, and a busy one sends
// each instance at most one NATS message a delay, whatever the rate.
func (rb *routeBatcher) run(done <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	var last time.Time
	for {
		full := false
		select {
		case <-done:
			rb.flush()
			return
		case <-rb.kick:
		case <-rb.full:
			full = true
		}
		if wait := rb.delay - time.Since(last); !full && wait > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-rb.full:
				t.Stop()
			case <-done:
				rb.flush()
				return
			}
		}
		rb.flush()
		last = time.Now()
	}
}

// flush publishes every batch queued, each outbox's oldest first; a
// message queued from then on kicks the sender again.
func (rb *routeBatcher) flush() {
	rb.mu.Lock()
	rb.pending = false
	taken := rb.taken[:0]
	for _, ob := range rb.boxes {
		taken = append(taken, ob.sealed...)
		clear(ob.sealed)
		ob.sealed = ob.sealed[:0]
		if ob.n > 0 {
			taken = append(taken, sealedBatch{subj: ob.subj, b: ob.cur, n: ob.n, routes: ob.routes})
			ob.cur, ob.n, ob.routes = rb.spareLocked(), 0, 0
		}
		ob.bytes = 0
	}
	rb.mu.Unlock()
	for _, sb := range taken {
		if err := rb.publish(sb.subj, sb.b); err != nil {
			rb.ctr.routeDropped.Add(uint64(sb.routes))
		} else {
			rb.ctr.routedOut.Add(uint64(sb.routes))
		}
	}
	rb.mu.Lock()
	for i := range taken {
		if len(rb.spare) < maxSpareBatches && cap(taken[i].b) <= 2*rb.maxBytes {
			rb.spare = append(rb.spare, taken[i].b[:0])
		}
		taken[i] = sealedBatch{}
	}
	rb.mu.Unlock()
	rb.taken = taken[:0]
}
