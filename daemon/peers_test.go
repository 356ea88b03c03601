package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/httptracker"
)

// torrent-get's "peers" and "peersFrom" list the connections as
// Transmission does, and /api/torrents/<hash> has them too.
func TestPeersInTorrentGet(t *testing.T) {
	// 2 MiB at 512 KiB/s: the download lasts ~4 s, time to look.
	src := seed(t, "slow.bin", map[string]int{"slow.bin": 2 << 20}, 64<<10, 512<<10)
	n := startNode(t, t.TempDir(), []string{src.addr}, nil)
	var added map[string]map[string]any
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(src.raw)}, &added)
	list := n.waitFor(t, "a peer sending", func(tr map[string]any) bool {
		ps, _ := tr["peers"].([]any)
		return len(ps) == 1 && ps[0].(map[string]any)["rateToClient"].(float64) > 0
	}, "peers", "peersFrom")
	p := list[0]["peers"].([]any)[0].(map[string]any)
	if p["address"] != "127.0.0.1" || p["isIncoming"] != false || p["clientIsChoked"] != false || p["clientIsInterested"] != true ||
		p["progress"] != 1.0 || p["isDownloadingFrom"] != true || p["clientName"] == "" {
		t.Errorf("peer %v", p)
	}
	if f, _ := p["flagStr"].(string); f != "D" {
		t.Errorf("flagStr %q, want D (downloading from it; found by the user, outgoing, unencrypted)", f)
	}
	if from := list[0]["peersFrom"].(map[string]any); from["fromIncoming"] != 0.0 || from["fromTracker"] != 0.0 {
		t.Errorf("peersFrom %v", from)
	}
	var tj TorrentJSON
	if code := n.apiDo(t, http.MethodGet, "/api/torrents/"+src.hashHex, "", nil, &tj); code != http.StatusOK {
		t.Fatalf("GET /api/torrents/<hash>: %d", code)
	}
	if len(tj.Peers) != 1 || tj.Peers[0].Network != "tcp" || tj.Peers[0].Source != "user" {
		t.Errorf("/api/ peers %+v", tj.Peers)
	}
}

// trackerStats reports each tracker's last announce, and /metrics counts
// announces by result.
func TestTrackerStats(t *testing.T) {
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d8:completei2e10:incompletei7e8:intervali1800e5:peers0:e"))
	}))
	t.Cleanup(good.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/announce"
	l.Close()
	src := seed(t, "tracked.bin", map[string]int{"tracked.bin": 64 << 10}, 16<<10, 0)
	mi := *src.mi
	mi.Announce, mi.AnnounceList = "", [][]string{{good.URL + "/announce"}, {dead}}
	var buf bytes.Buffer
	mi.Write(&buf)
	trackers := tracker.Config{Schemes: tracker.Schemes{"http": httptracker.Opener(httptracker.Config{})}}
	n := startNodeWith(t, t.TempDir(), nil, func(c *torrent.Config) {
		c.Tracker = func(u string) (tracker.Client, error) { return tracker.New(u, trackers) }
	}, nil)
	var added map[string]map[string]any
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(buf.Bytes())}, &added)
	list := n.waitFor(t, "both trackers announced to", func(tr map[string]any) bool {
		ts, _ := tr["trackerStats"].([]any)
		return len(ts) == 2 && ts[0].(map[string]any)["hasAnnounced"] == true && ts[1].(map[string]any)["hasAnnounced"] == true
	}, "trackerStats")
	ts := list[0]["trackerStats"].([]any)
	g, d := ts[0].(map[string]any), ts[1].(map[string]any)
	if g["lastAnnounceSucceeded"] != true || g["lastAnnounceResult"] != "Success" || g["seederCount"] != 2.0 || g["leecherCount"] != 7.0 ||
		g["lastAnnounceTime"].(float64) == 0 || g["nextAnnounceTime"].(float64) < g["lastAnnounceTime"].(float64) {
		t.Errorf("the answering tracker: %v", g)
	}
	if d["lastAnnounceSucceeded"] != false || d["lastAnnounceResult"] == "" || d["tier"] != 1.0 {
		t.Errorf("the dead tracker: %v", d)
	}
	resp, err := http.Get(n.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tracker_announces_total{result="ok"} 1`, `tracker_announces_total{result="failed"} 1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// torrent-set's limits reach the engine, torrent-get reports them, and a
// restart keeps them.
func TestTorrentSetLimits(t *testing.T) {
	src := seed(t, "lim.bin", map[string]int{"lim.bin": 64 << 10}, 16<<10, 0)
	dataDir := t.TempDir()
	n := startNode(t, dataDir, nil, nil)
	n.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(src.raw), "paused": true}, nil)
	fields := []string{"downloadLimit", "downloadLimited", "uploadLimit", "uploadLimited"}
	if tr := n.get(t, fields...)[0]; tr["downloadLimit"] != 100.0 || tr["downloadLimited"] != false || tr["uploadLimited"] != false {
		t.Errorf("defaults %v, want Transmission's (100 kB/s, off)", tr)
	}
	n.call(t, "torrent-set", map[string]any{"ids": []int{1}, "downloadLimit": 250, "downloadLimited": true, "uploadLimit": 40, "uploadLimited": true}, nil)
	check := func(n *node) {
		t.Helper()
		tr := n.get(t, fields...)[0]
		if tr["downloadLimit"] != 250.0 || tr["downloadLimited"] != true || tr["uploadLimit"] != 40.0 || tr["uploadLimited"] != true {
			t.Errorf("after torrent-set: %v", tr)
		}
		down, up := n.client.Torrents()[0].RateLimits()
		if down != 250_000 || up != 40_000 {
			t.Errorf("the engine's limits: %d, %d B/s, want 250000, 40000", down, up)
		}
	}
	check(n)
	n.call(t, "torrent-set", map[string]any{"ids": []int{1}, "uploadLimited": false}, nil)
	if _, up := n.client.Torrents()[0].RateLimits(); up != 0 {
		t.Errorf("upload limit %d after uploadLimited false, want none", up)
	}
	n.call(t, "torrent-set", map[string]any{"ids": []int{1}, "uploadLimited": true}, nil)
	n.close()
	check(startNode(t, dataDir, nil, nil))
}

// session-set changes the session's speed limits: the client's limits
// follow, and session-get reports them; other settings are still refused.
func TestSessionSetSpeedLimits(t *testing.T) {
	n := startNode(t, t.TempDir(), nil, nil)
	var got map[string]any
	n.call(t, "session-get", map[string]any{"fields": []string{"speed-limit-down", "speed-limit-down-enabled"}}, &got)
	if got["speed-limit-down"] != 100.0 || got["speed-limit-down-enabled"] != false {
		t.Errorf("defaults %v, want 100 kB/s, off", got)
	}
	n.call(t, "session-set", map[string]any{"speed-limit-down": 800, "speed-limit-down-enabled": true, "speed-limit-up": 30, "speed-limit-up-enabled": true}, nil)
	if d, u := n.client.RateLimits(); d != 800_000 || u != 30_000 {
		t.Errorf("the client's limits %d, %d B/s, want 800000, 30000", d, u)
	}
	n.call(t, "session-get", nil, &got)
	if got["speed-limit-down"] != 800.0 || got["speed-limit-up-enabled"] != true {
		t.Errorf("session-get after session-set: down %v, up enabled %v", got["speed-limit-down"], got["speed-limit-up-enabled"])
	}
	n.call(t, "session-set", map[string]any{"speed-limit-up-enabled": false}, nil)
	if _, u := n.client.RateLimits(); u != 0 {
		t.Errorf("upload limit %d after turning it off", u)
	}
	r := n.d.Call(context.Background(), []byte(`{"method":"session-set","arguments":{"dht-enabled":true}}`))
	if r.Result == "success" || !strings.Contains(r.Result, "dht-enabled") {
		t.Errorf("session-set dht-enabled: %q, want refused", r.Result)
	}
}
