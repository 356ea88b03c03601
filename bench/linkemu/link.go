// Package linkemu emulates a network path between two network namespaces in
// user space, for benchmarks and tests on kernels without netem: a TUN
// device in each namespace, and a copy of every IP packet from one to the
// other with a one-way delay, random loss, and a rate cap behind a bounded
// drop-tail queue, set per direction.
//
// A Namespace holds a network namespace on a locked OS thread: TUN devices
// opened and processes started through its Do run there. cmd/linkemu is the
// command bench scripts run between two `ip netns` namespaces.
package linkemu

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Shape is what a path does to the packets of one direction. The zero value
// passes packets at once, unchanged.
type Shape struct {
	// Delay is the one-way delay added to every packet.
	Delay time.Duration
	// Loss is the probability, 0 to 1, that a packet is dropped at random.
	Loss float64
	// Rate is the bottleneck's rate in bits per second; zero means no cap.
	Rate int64
	// Queue is the bottleneck queue in bytes: a packet that would make the
	// backlog waiting for the rate exceed it is dropped (drop-tail). Zero
	// means DefaultQueue. It matters only with a Rate.
	Queue int
}

// DefaultQueue is the bottleneck queue when Shape.Queue is zero: 500 kB, the
// queue of the drop-tail row (about 40 ms at 100 Mbit/s).
const DefaultQueue = 500_000

// maxInFlight bounds the packets held in one direction (queued or being
// delayed). 65,536 packets of 1,500 bytes hold 1 Gbit/s for 0.8 s: far more
// than any path the benchmarks emulate, so only a runaway sender meets it.
const maxInFlight = 1 << 16

// maxPacket is the largest packet read from a TUN device: its MTU stays at
// Linux's default of 1,500, and 64 KiB covers any MTU.
const maxPacket = 64 << 10

// Stats counts the packets of one direction. Passed counts the packets that
// went on the path; Refused those of them the kernel did not take at the
// far end (a write to the TUN device failed), which are lost as on a wire.
type Stats struct {
	Passed, Lost, QueueDrops, Overflows, Refused atomic.Int64
}

type packet struct {
	b  []byte
	at time.Time // when it leaves the path
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, maxPacket); return &b }}

// Pipe copies packets read from in (one packet per Read, as from a TUN
// device) to out, shaped by s, until ctx ends or in fails; when in fails,
// the packets still on the path are delivered first. seed makes the random
// losses repeatable. Pipe returns nil when ctx ended it, else in's error.
func Pipe(ctx context.Context, in io.Reader, out io.Writer, s Shape, seed uint64, st *Stats) error {
	if st == nil {
		st = new(Stats)
	}
	queue := s.Queue
	if queue <= 0 {
		queue = DefaultQueue
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ch := make(chan packet, maxInFlight)
	ctx, cancel := context.WithCancel(ctx)
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		deliver(ctx, ch, out, st)
	}()
	defer func() {
		cancel()
		<-delivered
	}()

	var lastDep time.Time // when the bottleneck finishes sending what it holds
	for {
		bp := bufPool.Get().(*[]byte)
		n, err := in.Read(*bp)
		if err != nil {
			bufPool.Put(bp)
			if ctx.Err() != nil {
				return nil
			}
			// The input ended: what is on the path still arrives.
			close(ch)
			<-delivered
			return err
		}
		if n == 0 {
			bufPool.Put(bp)
			continue
		}
		if s.Loss > 0 && rng.Float64() < s.Loss {
			st.Lost.Add(1)
			bufPool.Put(bp)
			continue
		}
		now := time.Now()
		dep := now
		if s.Rate > 0 {
			if lastDep.After(now) {
				backlog := int(lastDep.Sub(now).Seconds() * float64(s.Rate) / 8)
				if backlog+n > queue {
					st.QueueDrops.Add(1)
					bufPool.Put(bp)
					continue
				}
				dep = lastDep
			}
			dep = dep.Add(time.Duration(float64(n*8) / float64(s.Rate) * float64(time.Second)))
			lastDep = dep
		}
		select {
		case ch <- packet{b: (*bp)[:n], at: dep.Add(s.Delay)}:
			st.Passed.Add(1)
		default:
			st.Overflows.Add(1)
			bufPool.Put(bp)
		}
	}
}

// deliver writes each packet when its time comes, until ctx ends or ch is
// closed and empty. Packets leave in the order they came: with one delay
// per direction, their times only grow.
func deliver(ctx context.Context, ch <-chan packet, out io.Writer, st *Stats) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var p packet
		var ok bool
		select {
		case p, ok = <-ch:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
		if d := time.Until(p.at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		if _, err := out.Write(p.b); err != nil {
			st.Refused.Add(1) // lost, as on a wire
		}
		b := p.b[:cap(p.b)]
		bufPool.Put(&b)
	}
}

// Link runs Pipe both ways between two TUN devices until ctx ends or a
// device fails: a's packets go to b shaped by ab, b's to a shaped by ba.
// stats, if not nil, receives the counts of a→b and b→a. Link closes both
// devices before it returns.
func Link(ctx context.Context, a, b io.ReadWriteCloser, ab, ba Shape, stats *[2]Stats) error {
	if stats == nil {
		stats = new([2]Stats)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- Pipe(ctx, a, b, ab, 1, &stats[0]) }()
	go func() { errs <- Pipe(ctx, b, a, ba, 2, &stats[1]) }()
	var err error
	got := 0
	select {
	case err = <-errs:
		got++
	case <-ctx.Done():
	}
	cancel()
	// Closing the devices ends the Reads blocked in Pipe.
	a.Close()
	b.Close()
	for ; got < 2; got++ {
		if e := <-errs; err == nil {
			err = e
		}
	}
	if ctx.Err() != nil && errors.Is(err, os.ErrClosed) {
		err = nil
	}
	return err
}
