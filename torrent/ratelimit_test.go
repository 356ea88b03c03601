package torrent_test

import (
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/torrent"
)

// A torrent's own limits hold its transfer to their rate: 1 MiB at
// 512 KiB/s takes at least 1.75 s (less the limiter's quarter-second
// burst), whichever side sets the limit. Unlimited, it takes a fraction of
// that on loopback.
func TestTorrentRateLimits(t *testing.T) {
	const size, rate = 1 << 20, 512 << 10
	minTime := time.Duration(float64(size-rate/4) / rate * float64(time.Second))
	for _, side := range []string{"download", "upload"} {
		t.Run(side, func(t *testing.T) {
			seeder := newNode(t, nil)
			mi, _ := makeContent(t, seeder.dir, "limited-"+side, []int{size}, 32<<10)
			st, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
			if err != nil {
				t.Fatal(err)
			}
			leecher := newNode(t, nil)
			lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Stopped: true, Peers: []string{seeder.addr}})
			if err != nil {
				t.Fatal(err)
			}
			if side == "download" {
				lt.SetRateLimits(rate, 0)
				if d, u := lt.RateLimits(); d != rate || u != 0 {
					t.Fatalf("RateLimits() = %d, %d", d, u)
				}
			} else {
				st.SetRateLimits(0, rate)
			}
			start := time.Now()
			if err := lt.Start(); err != nil {
				t.Fatal(err)
			}
			waitComplete(t, lt, 30*time.Second)
			if took := time.Since(start); took < minTime {
				t.Fatalf("1 MiB limited to 512 KiB/s on the %s side took %v, want at least %v", side, took, minTime)
			} else {
				t.Logf("1 MiB at 512 KiB/s (%s limit): %v", side, took.Round(time.Millisecond))
			}
		})
	}
}

// The client's limits can be changed while it runs: a limit set after the
// start holds the next transfer to its rate.
func TestClientSetRateLimits(t *testing.T) {
	const size, rate = 1 << 20, 512 << 10
	minTime := time.Duration(float64(size-rate/4) / rate * float64(time.Second))
	seeder := newNode(t, nil)
	mi, _ := makeContent(t, seeder.dir, "client-limited", []int{size}, 32<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	leecher := newNode(t, nil)
	leecher.c.SetRateLimits(rate, 0)
	if d, u := leecher.c.RateLimits(); d != rate || u != 0 {
		t.Fatalf("RateLimits() = %d, %d", d, u)
	}
	start := time.Now()
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	if took := time.Since(start); took < minTime {
		t.Fatalf("1 MiB with the client limited to 512 KiB/s took %v, want at least %v", took, minTime)
	}
}
