package torrent

import (
	"testing"
	"time"
)

// Between ticks the pipeline follows the rate of each 512 KiB received, to
// twice the bandwidth-delay product, while the pipeline is what holds the
// peer back: a fresh peer across a 41 ms path is asked for twice as much
// each round trip until the path is full; a peer on loopback, one that
// delivers slowly, one that sent a burst, or one with nothing more we want
// is not asked for more.
func TestQuickRate(t *testing.T) {
	t0 := time.Now()
	const rtt = 41 * time.Millisecond
	fresh := func(minLatency time.Duration) *peer {
		return &peer{reqq: ourReqq, pipeline: 4 * minRequests, minLatency: minLatency}
	}
	// deliver adds bytes received at t0+at; full says whether the last
	// top-up of the pipeline filled it.
	deliver := func(p *peer, bytes int64, at time.Duration, full bool) {
		p.pipelineFull = full
		p.downloaded += bytes
		p.quickRate(t0.Add(at))
	}
	// twiceBDP is the depth for a rate over the round trip rtt.
	twiceBDP := func(bytesPerSec float64, rtt time.Duration) int {
		return int(bytesPerSec*2*rtt.Seconds()/BlockSize) + minRequests
	}

	// 41 ms path, the pipeline the limit: each round trip brings back what
	// was asked, and the pipeline doubles.
	p := fresh(rtt)
	deliver(p, BlockSize, 0, true)
	at := time.Duration(0)
	for _, want := range []int{64, 128, 256, 512} {
		at += rtt
		deliver(p, int64(p.pipeline)*BlockSize, at, true)
		if p.pipeline != want {
			t.Fatalf("after a round trip at %v: pipeline %d, want %d", at, p.pipeline, want)
		}
	}
	// The path the limit: 300 requests out, but 512 KiB a round trip is what
	// comes back (12.8 MB/s), and twice its BDP is 72 requests: nothing raised.
	p = fresh(rtt)
	p.pipeline = 300
	deliver(p, BlockSize, 0, true)
	deliver(p, 512<<10, rtt, true)
	if p.pipeline != 300 {
		t.Errorf("a full path: pipeline %d, want it kept at 300", p.pipeline)
	}
	// Loopback: 20 MB/s over a 1 ms round trip needs 10 requests.
	p = fresh(time.Millisecond)
	deliver(p, BlockSize, 0, true)
	deliver(p, 512<<10, 25*time.Millisecond, true)
	if p.pipeline != 4*minRequests {
		t.Errorf("on loopback: pipeline %d, want %d", p.pipeline, 4*minRequests)
	}

	// The same round trip with room left in the pipeline raises nothing.
	p = fresh(rtt)
	deliver(p, BlockSize, 0, false)
	deliver(p, 512<<10, rtt, false)
	if p.pipeline != 4*minRequests {
		t.Errorf("with room in the pipeline: pipeline %d, want %d", p.pipeline, 4*minRequests)
	}

	// A burst: 512 KiB in 5 ms is not a rate yet; by 50 ms it is one.
	p = fresh(rtt)
	deliver(p, BlockSize, 0, true)
	deliver(p, 512<<10, 5*time.Millisecond, true)
	if p.pipeline != 4*minRequests {
		t.Errorf("after a 5 ms burst: pipeline %d, want %d", p.pipeline, 4*minRequests)
	}
	deliver(p, 0, 50*time.Millisecond, true)
	if want := twiceBDP(float64(512<<10)/0.050, rtt); p.pipeline != want {
		t.Errorf("50 ms after the burst: pipeline %d, want %d", p.pipeline, want)
	}

	// A peer held to 512 KiB/s: nothing raised.
	p = fresh(rtt)
	deliver(p, BlockSize, 0, true)
	deliver(p, 512<<10, time.Second, true)
	if p.pipeline != 4*minRequests {
		t.Errorf("at 512 KiB/s: pipeline %d, want %d", p.pipeline, 4*minRequests)
	}

	// A long path: never above the tick's rule, 500 ms of the rate.
	// At 2 MiB/s that is 72 requests, where twice the BDP would be 520.
	p = fresh(2 * time.Second)
	p.pipeline = 50
	deliver(p, BlockSize, 0, true)
	deliver(p, 4<<20, 2*time.Second, true)
	if want := int(float64(2<<20)*requestLatency.Seconds()/BlockSize) + minRequests; p.pipeline != want {
		t.Errorf("a 2 s round trip: pipeline %d, want %d", p.pipeline, want)
	}

	// Bounded by the peer's queue.
	p = fresh(rtt)
	p.reqq = 50
	deliver(p, BlockSize, 0, true)
	deliver(p, 64<<20, 30*time.Millisecond, true)
	if p.pipeline != 50 {
		t.Errorf("with reqq 50: pipeline %d, want 50", p.pipeline)
	}

	// A web seed keeps the tick's rule.
	p = fresh(rtt)
	p.webSeed = true
	deliver(p, BlockSize, 0, true)
	deliver(p, 512<<10, rtt, true)
	if p.pipeline != 4*minRequests {
		t.Errorf("web seed: pipeline %d, want %d", p.pipeline, 4*minRequests)
	}
}
