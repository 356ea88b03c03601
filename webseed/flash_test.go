package webseed_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/httptracker"
	"github.com/swarmcast/swarmcast/trackerserver"
	"github.com/swarmcast/swarmcast/transport"
)

// BenchmarkFlashCrowd: six viewers start 0.2 s apart on a 32 MiB torrent
// whose only seed is an HTTP origin; they find each other through a tracker
// (ours, HTTP, in this process). It reports how many copies of the torrent
// the origin sent, counted by the origin (origin-copies), how many the
// viewers kept (accepted-copies: the rest was cut off or came too late),
// and the share of all bytes the viewers got from peers (at most 5/6 = 83%:
// someone must fetch each byte from the origin once). The origin is
// unlimited, or capped at 8 MB/s as a busy origin is.
//
//	go test -run '^$' -bench FlashCrowd -benchtime 1x ./webseed
func BenchmarkFlashCrowd(b *testing.B) {
	for _, rate := range []int64{0, 8 << 20} {
		name := "origin=unlimited"
		if rate > 0 {
			name = fmt.Sprintf("origin=%dMBps", rate>>20)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				sent, kept, peers := flashCrowd(b, 6, 32<<20, rate)
				b.ReportMetric(sent, "origin-copies")
				b.ReportMetric(kept, "accepted-copies")
				b.ReportMetric(peers, "peers-%")
			}
		})
	}
}

func flashCrowd(b *testing.B, viewers, size int, rate int64) (sent, kept, peersPercent float64) {
	b.StopTimer()
	srv := b.TempDir()
	mi, _ := content(b, srv, "movie", map[string]int{"m.bin": size}, 256<<10)
	o := newOrigin(b, srv)
	if rate > 0 {
		o.limit(rate)
	}
	mi.URLList = metainfo.URLList{o.URL + "/movie/m.bin"}
	mi.Announce = startTracker(b)
	var cs []*torrent.Client
	for range viewers {
		c, _ := newClient(b, b.TempDir(), withTrackers)
		cs = append(cs, c)
	}
	b.StartTimer()
	var ts []*torrent.Torrent
	for _, c := range cs {
		tt, err := c.AddTorrent(mi, torrent.AddOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ts = append(ts, tt)
		time.Sleep(200 * time.Millisecond)
	}
	var ws, all int64
	for _, tt := range ts {
		waitComplete(b, tt)
		st := tt.Stats()
		ws += st.Downloaded[transport.WebSeed]
		all += st.DownloadedTotal
	}
	b.StopTimer()
	for _, c := range cs {
		c.Close()
	}
	return float64(o.bytes.Load()) / float64(size), float64(ws) / float64(size), 100 * float64(all-ws) / float64(all)
}

// startTracker runs swarmcast's tracker on loopback and returns its HTTP
// announce URL.
func startTracker(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := trackerserver.New(trackerserver.Config{})
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return "http://" + l.Addr().String() + "/announce"
}

// withTrackers lets a client announce to HTTP trackers.
func withTrackers(cfg *torrent.Config) {
	schemes := tracker.Schemes{"http": httptracker.Opener(httptracker.Config{})}
	cfg.Tracker = func(u string) (tracker.Client, error) { return tracker.New(u, tracker.Config{Schemes: schemes}) }
}

// A viewer whose tracker says nobody else is in the swarm does not hold the
// origin back for peers: it is served as soon as the tracker has answered,
// not after the start's grace (2 s) for a swarm that is not there.
func TestOriginAtOnceWhenTheTrackerSaysAlone(t *testing.T) {
	srv := t.TempDir()
	mi, data := content(t, srv, "solo", map[string]int{"s.bin": 4 << 20}, 64<<10)
	o := newOrigin(t, srv)
	mi.URLList = metainfo.URLList{o.URL + "/solo/s.bin"}
	mi.Announce = startTracker(t)
	c, _ := newClient(t, t.TempDir(), withTrackers)
	start := time.Now()
	tt, err := c.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := start.Add(1500 * time.Millisecond)
	for tt.Stats().Downloaded[transport.WebSeed] < int64(len(data["s.bin"]))/2 {
		if time.Now().After(deadline) {
			t.Fatalf("%v after the start the origin had sent %d bytes of %d; the tracker said nobody else was there: %+v",
				time.Since(start).Round(time.Millisecond), tt.Stats().Downloaded[transport.WebSeed], len(data["s.bin"]), tt.Trackers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitComplete(t, tt)
}

// A viewer that comes while the first is still downloading from the origin
// takes what it lacks from the first as the first gets it, instead of
// asking the origin for the same bytes: the origin, capped as a busy one
// is, sends the torrent about once.
func TestLaterViewerFollowsTheFirst(t *testing.T) {
	srv := t.TempDir()
	const size = 8 << 20
	mi, data := content(t, srv, "show", map[string]int{"s.bin": size}, 64<<10)
	o := newOrigin(t, srv)
	o.limit(2 << 20)
	mi.URLList = metainfo.URLList{o.URL + "/show/s.bin"}
	c, addr := newClient(t, t.TempDir())
	first, err := c.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for first.Stats().Downloaded[transport.WebSeed] < size/4 {
		if time.Now().After(deadline) {
			t.Fatalf("the first viewer has %d bytes from the origin after 20 s", first.Stats().Downloaded[transport.WebSeed])
		}
		time.Sleep(10 * time.Millisecond)
	}
	dst, second := leech(t, mi, addr)
	waitComplete(t, second)
	waitComplete(t, first)
	checkFiles(t, dst, data)
	fromOrigin := second.Stats().Downloaded[transport.WebSeed]
	t.Logf("second viewer: %d of %d bytes from the origin; the origin sent %.2f copies", fromOrigin, size, float64(o.bytes.Load())/size)
	if fromOrigin > size/16 {
		t.Errorf("the second viewer took %d of %d bytes from the origin, want at most a sixteenth: the first was getting them", fromOrigin, size)
	}
	if sent := o.bytes.Load(); sent > size*21/20 {
		t.Errorf("the origin sent %.2f copies, want at most 1.05", float64(sent)/size)
	}
}
