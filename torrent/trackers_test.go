package torrent_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/httptracker"
)

// eventTracker is an HTTP tracker that records the event of every announce
// it gets and answers with no peers.
type eventTracker struct {
	url    string
	mu     sync.Mutex
	events []string
}

func newEventTracker(t *testing.T) *eventTracker {
	et := &eventTracker{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev := r.URL.Query().Get("event")
		if ev == "" {
			ev = "none"
		}
		et.mu.Lock()
		et.events = append(et.events, ev)
		et.mu.Unlock()
		w.Write([]byte("d8:intervali1800e5:peers0:e"))
	}))
	t.Cleanup(srv.Close)
	et.url = srv.URL + "/announce"
	return et
}

func (et *eventTracker) got() []string {
	et.mu.Lock()
	defer et.mu.Unlock()
	return slices.Clone(et.events)
}

// waitEvents waits until the tracker has seen exactly want.
func (et *eventTracker) waitEvents(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(et.got(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("tracker saw %q, want %q", et.got(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadTrackerURL is an announce URL whose port refuses connections.
func deadTrackerURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/announce"
}

// httpTrackers opens our HTTP tracker client per URL, once, and closes them
// when the test ends.
func httpTrackers(t *testing.T) func(string) (tracker.Client, error) {
	var mu sync.Mutex
	clients := map[string]tracker.Client{}
	t.Cleanup(func() {
		for _, cl := range clients {
			cl.Close()
		}
	})
	cfg := tracker.Config{Schemes: tracker.Schemes{"http": httptracker.Opener(httptracker.Config{})}}
	return func(u string) (tracker.Client, error) {
		mu.Lock()
		defer mu.Unlock()
		if cl, ok := clients[u]; ok {
			return cl, nil
		}
		cl, err := tracker.New(u, cfg)
		if err == nil {
			clients[u] = cl
		}
		return cl, err
	}
}

// With TrackerTiers the leecher uses the first tier that answers and no
// other: tier one is down, tier two answers, tier three is never asked. The
// tracker in use hears started, completed and stopped.
func TestTrackerTiersBEP12(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "tiers", []int{1 << 20}, 64<<10)
	st, err := seeder.c.AddTorrent(mi, torrent.AddOptions{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, st, 10*time.Second)

	second, third := newEventTracker(t), newEventTracker(t)
	mi.Announce = ""
	mi.AnnounceList = [][]string{{deadTrackerURL(t), deadTrackerURL(t)}, {second.url}, {third.url}}
	leecher := newNode(t, func(c *torrent.Config) {
		c.Tracker = httpTrackers(t)
		c.TrackerTiers = true
	})
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "tiers"), data)
	second.waitEvents(t, "started", "completed")
	leecher.c.Close()
	second.waitEvents(t, "started", "completed", "stopped")
	if ev := third.got(); len(ev) != 0 {
		t.Fatalf("the third tier was announced to while the second answered: %q", ev)
	}
}

// By default every tracker of every tier is announced to at once.
func TestTrackersAllAtOnce(t *testing.T) {
	seeder := newNode(t, nil)
	mi, _ := makeContent(t, seeder.dir, "all", []int{256 << 10}, 64<<10)
	first, second := newEventTracker(t), newEventTracker(t)
	mi.Announce = ""
	mi.AnnounceList = [][]string{{first.url}, {second.url}}
	n := newNode(t, func(c *torrent.Config) { c.Tracker = httpTrackers(t) })
	if _, err := n.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}}); err != nil {
		t.Fatal(err)
	}
	first.waitEvents(t, "started")
	second.waitEvents(t, "started")
	n.c.Close()
	first.waitEvents(t, "started", "stopped")
	second.waitEvents(t, "started", "stopped")
}

// A leecher that a tracker gave no peer (or whose handshakes with them
// failed) announces again in seconds, not at the tracker's interval (here
// 30 min), so that a failed WebRTC signalling round is tried again.
func TestLonelyLeecherAnnouncesAgainSoon(t *testing.T) {
	dir := t.TempDir()
	mi, _ := makeContent(t, dir, "lonely", []int{64 << 10}, 16<<10)
	et := newEventTracker(t)
	mi.Announce, mi.AnnounceList = et.url, nil
	n := newNode(t, func(c *torrent.Config) { c.Tracker = httpTrackers(t) })
	start := time.Now()
	if _, err := n.c.AddTorrent(mi, torrent.AddOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(25 * time.Second)
	for len(et.got()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("tracker saw %q in 25 s; want a second announce within lonelyRetry (15 s)", et.got())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := et.got(); got[1] != "none" {
		t.Fatalf("announces %q", got)
	}
	t.Logf("second announce after %v", time.Since(start).Round(100*time.Millisecond))
}

// Trackers reports each tracker's last announce: answered or why not, with
// the counts it gave, and when the next comes.
func TestTrackersReportResults(t *testing.T) {
	dir := t.TempDir()
	mi, _ := makeContent(t, dir, "reported", []int{64 << 10}, 16<<10)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d8:completei3e10:incompletei5e8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e"))
	}))
	t.Cleanup(good.Close)
	dead := deadTrackerURL(t)
	mi.Announce = ""
	mi.AnnounceList = [][]string{{good.URL + "/announce"}, {dead, "udp://unsupported.example:1/announce"}}
	n := newNode(t, func(c *torrent.Config) { c.Tracker = httpTrackers(t) })
	tt, err := n.c.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var got []torrent.TrackerInfo
	for {
		got = tt.Trackers()
		if len(got) == 3 && got[0].Announces == 1 && got[1].Failures == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trackers after 10 s: %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	g, d, u := got[0], got[1], got[2]
	if g.URL != good.URL+"/announce" || g.Tier != 0 || !g.Used || g.LastError != "" || g.Seeders != 3 || g.Leechers != 5 ||
		g.LastPeers != 1 || g.LastAnnounce.IsZero() || !g.NextAnnounce.After(g.LastAnnounce) {
		t.Errorf("the answering tracker: %+v", g)
	}
	if d.URL != dead || d.Tier != 1 || d.LastError == "" || d.Announces != 0 || d.Seeders != -1 || d.NextAnnounce.IsZero() {
		t.Errorf("the dead tracker: %+v", d)
	}
	if u.Used || u.Announces+u.Failures != 0 || u.Tier != 1 {
		t.Errorf("the tracker whose scheme the client lacks: %+v", u)
	}
}

// A torrent added stopped tells its tracker nothing until it is started;
// then it announces started, and stopped when stopped again.
func TestAddedStoppedAnnouncesNothing(t *testing.T) {
	dir := t.TempDir()
	mi, _ := makeContent(t, dir, "addedstopped", []int{64 << 10}, 16<<10)
	et := newEventTracker(t)
	mi.Announce, mi.AnnounceList = et.url, nil
	n := newNode(t, func(c *torrent.Config) { c.Tracker = httpTrackers(t) })
	tt, err := n.c.AddTorrent(mi, torrent.AddOptions{Stopped: true})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(tt.Err(), torrent.ErrStopped) {
		t.Fatalf("Err() = %v after adding stopped, want ErrStopped", tt.Err())
	}
	// The announcer would have announced at once: give it time to.
	time.Sleep(500 * time.Millisecond)
	if got := et.got(); len(got) != 0 {
		t.Fatalf("a torrent added stopped announced %q", got)
	}
	if err := tt.Start(); err != nil {
		t.Fatal(err)
	}
	et.waitEvents(t, "started")
	if err := tt.Stop(); err != nil {
		t.Fatal(err)
	}
	et.waitEvents(t, "started", "stopped")
}
