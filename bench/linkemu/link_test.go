package linkemu

import (
	"context"
	"io"
	"testing"
	"time"
)

// packets is a packet source: each Read returns one packet from the
// channel, and io.EOF once it is closed.
type packets chan []byte

func (p packets) Read(b []byte) (int, error) {
	pkt, ok := <-p
	if !ok {
		return 0, io.EOF
	}
	return copy(b, pkt), nil
}

// sink records when each packet was written.
type sink chan time.Time

func (s sink) Write(b []byte) (int, error) {
	s <- time.Now()
	return len(b), nil
}

// run sends n packets of size bytes at once through Pipe shaped by s and
// returns the stats, the start, and the time each delivered packet left.
// The input ends after the last packet, and Pipe returns once it has
// delivered what it accepted.
func run(t *testing.T, s Shape, n, size int) (*Stats, time.Time, []time.Time) {
	t.Helper()
	in := make(packets, n)
	out := make(sink, n)
	st := new(Stats)
	start := time.Now()
	for range n {
		in <- make([]byte, size)
	}
	close(in)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Pipe(ctx, in, out, s, 1, st); err != io.EOF {
		t.Fatalf("Pipe: %v, want io.EOF at the input's end", err)
	}
	close(out)
	var got []time.Time
	for at := range out {
		got = append(got, at)
	}
	return st, start, got
}

func TestPipeDelay(t *testing.T) {
	const delay = 30 * time.Millisecond
	st, start, got := run(t, Shape{Delay: delay}, 20, 1000)
	if len(got) != 20 || st.Passed.Load() != 20 {
		t.Fatalf("%d delivered, %d passed; want 20", len(got), st.Passed.Load())
	}
	for i, at := range got {
		if d := at.Sub(start); d < delay {
			t.Errorf("packet %d left after %v, before the %v delay", i, d, delay)
		}
	}
}

func TestPipeLoss(t *testing.T) {
	st, _, got := run(t, Shape{Loss: 1}, 50, 100)
	if len(got) != 0 || st.Lost.Load() != 50 {
		t.Fatalf("loss 1: %d delivered, %d lost; want 0, 50", len(got), st.Lost.Load())
	}
	st, _, got = run(t, Shape{Loss: 0.5}, 1000, 100)
	if l := st.Lost.Load(); l < 400 || l > 600 || int64(len(got)) != 1000-l {
		t.Fatalf("loss 0.5: %d lost of 1000, %d delivered", l, len(got))
	}
}

// TestPipeRate sends a burst into a bottleneck of 160 kbit/s (1,000-byte
// packets leave 50 ms apart, far more than a burst of reads takes) with a 5,000-byte queue: the queue, the packet
// being sent included, takes five packets and drops the rest, and the
// packets it keeps leave spaced by the rate.
func TestPipeRate(t *testing.T) {
	st, start, got := run(t, Shape{Rate: 160_000, Queue: 5000}, 20, 1000)
	if len(got) != 5 || st.QueueDrops.Load() != 15 {
		t.Fatalf("%d delivered, %d dropped by the queue; want 5, 15", len(got), st.QueueDrops.Load())
	}
	if d := got[len(got)-1].Sub(start); d < 250*time.Millisecond {
		t.Errorf("5 packets at 50 ms each took %v, want at least 250 ms", d)
	}
}
