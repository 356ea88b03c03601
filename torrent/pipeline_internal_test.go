package torrent

import (
	"testing"
	"time"
)

// The pipeline follows the rate of each 512 KiB received, not only the
// tick's, while the pipeline is what holds the peer back: a fresh peer on a
// fast path is asked for twice as much each window, up to what its rate
// needs; a peer that delivers slowly, sends a burst, or has nothing more we
// want is not asked for more.
func TestQuickRate(t *testing.T) {
	t0 := time.Now()
	fresh := func() *peer {
		return &peer{reqq: ourReqq, pipeline: 4 * minRequests}
	}
	// deliver adds bytes received at t0+at; full says whether the last
	// top-up of the pipeline filled it.
	deliver := func(p *peer, bytes int64, at time.Duration, full bool) {
		p.pipelineFull = full
		p.downloaded += bytes
		p.quickRate(t0.Add(at))
	}
	wantFor := func(bytesPerSec float64) int {
		return int(bytesPerSec*requestLatency.Seconds()/BlockSize) + minRequests
	}

	// 41 ms path: each round trip brings back what was asked, and the
	// pipeline doubles until it holds 500 ms of the rate.
	p := fresh()
	deliver(p, BlockSize, 0, true)
	at := time.Duration(0)
	for _, want := range []int{64, 128, 256} {
		at += 41 * time.Millisecond
		deliver(p, int64(p.pipeline)*BlockSize, at, true)
		if p.pipeline != want {
			t.Fatalf("after a round trip at %v: pipeline %d, want %d", at, p.pipeline, want)
		}
	}
	// 512 KiB per 41 ms needs 398 requests: no more, however it came.
	p = fresh()
	p.pipeline = 300
	deliver(p, BlockSize, 0, true)
	deliver(p, 512<<10, 41*time.Millisecond, true)
	if want := wantFor(float64(512<<10) / 0.041); p.pipeline != want {
		t.Errorf("512 KiB in 41 ms from 300 requests: pipeline %d, want %d", p.pipeline, want)
	}

	// The same round trip with room left in the pipeline raises nothing.
	p = fresh()
	deliver(p, BlockSize, 0, false)
	deliver(p, 512<<10, 41*time.Millisecond, false)
	if p.pipeline != 4*minRequests {
		t.Errorf("with room in the pipeline: pipeline %d, want %d", p.pipeline, 4*minRequests)
	}

	// A burst: 512 KiB in 5 ms is not a rate yet; by 50 ms it is one.
	p = fresh()
	deliver(p, BlockSize, 0, true)
	deliver(p, 512<<10, 5*time.Millisecond, true)
	if p.pipeline != 4*minRequests {
		t.Errorf("after a 5 ms burst: pipeline %d, want %d", p.pipeline, 4*minRequests)
	}
	deliver(p, 0, 50*time.Millisecond, true)
	if p.pipeline != 8*minRequests {
		t.Errorf("50 ms after the burst: pipeline %d, want %d", p.pipeline, 8*minRequests)
	}

	// A peer held to 512 KiB/s needs 24: nothing is raised, and a slower
	// window lowers nothing either (the tick does, a quarter at a time).
	p = fresh()
	deliver(p, BlockSize, 0, true)
	deliver(p, 512<<10, time.Second, true)
	if p.pipeline != 4*minRequests {
		t.Errorf("at 512 KiB/s: pipeline %d, want %d", p.pipeline, 4*minRequests)
	}

	// Bounded by the peer's queue.
	p = fresh()
	p.reqq = 50
	deliver(p, BlockSize, 0, true)
	deliver(p, 64<<20, 30*time.Millisecond, true)
	if p.pipeline != 50 {
		t.Errorf("with reqq 50: pipeline %d, want 50", p.pipeline)
	}

	// A web seed keeps the tick's rule.
	p = fresh()
	p.webSeed = true
	deliver(p, BlockSize, 0, true)
	deliver(p, 512<<10, 41*time.Millisecond, true)
	if p.pipeline != 4*minRequests {
		t.Errorf("web seed: pipeline %d, want %d", p.pipeline, 4*minRequests)
	}
}
