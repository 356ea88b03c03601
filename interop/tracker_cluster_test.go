package interop

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// trackerClusterRE matches `swarmcast tracker --nats`'s line saying how many instances it sees at start.
var trackerClusterRE = regexp.MustCompile(`^cluster: instance ([0-9a-f]+) of (\d+)$`)

// startNATSServer runs the nats-server program (apt) on a free loopback port and returns its URL.
func startNATSServer(t testing.TB) string {
	t.Helper()
	bin := requireTool(t, "nats-server")
	port := freeTCPPort(t, "127.0.0.1")
	p := startBG(t, "nats-server", bgOpts{}, bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	p.waitFor(regexp.MustCompile(`Server is ready`), engineReadyTimeout)
	return fmt.Sprintf("nats://127.0.0.1:%d", port)
}

// startTrackerInstance runs `swarmcast tracker --nats URL` and waits until it sees want instances.
func startTrackerInstance(t testing.TB, natsURL string, want int) *swarmcastTracker {
	t.Helper()
	p := startBG(t, "swarmcast tracker", bgOpts{}, swarmcastBin(t), "tracker", "--http", "127.0.0.1:0",
		"--nats", natsURL, "-v")
	m := p.waitFor(trackerClusterRE, engineReadyTimeout)
	if m[2] != strconv.Itoa(want) {
		t.Fatalf("tracker instance sees %s instances at start, want %d", m[2], want)
	}
	return &swarmcastTracker{bgProc: p, ws: p.waitFor(trackerWSRE, engineReadyTimeout)[1]}
}

// TestWebRTCBrowserTrackerCluster: two `swarmcast tracker` instances joined over the real nats-server.
// A swarmcast seeder announces only to instance 1, WebTorrent in headless Chromium only to instance 2;
// their offers and answers are routed across the instances, they meet over WebRTC, and the page gets
// the whole file.
func TestWebRTCBrowserTrackerCluster(t *testing.T) {
	chromium := requireTool(t, "chromium")
	requireNodeModule(t, "playwright-core")
	requireNodeModule(t, "webtorrent")
	swarmcastBin(t)
	natsURL := startNATSServer(t)
	tr1 := startTrackerInstance(t, natsURL, 1)
	tr2 := startTrackerInstance(t, natsURL, 2)
	work := t.TempDir()
	d := makeSingleData(t, engineRNG(t), work, "cluster.bin", webrtcDataSize)
	base := wtPageServer(t)
	seeder := startSwarmcastSeed(t, bgOpts{}, "127.0.0.1:0", append([]string{d.path,
		"--tracker", tr1.ws, "-o", filepath.Join(work, "t.torrent")}, webrtcLoopback...)...)
	b := startWTBrowser(t, chromium, base, "--tracker", tr2.ws, "--download", magnetFor(seeder.infoHash, tr2.ws))
	start := time.Now()
	b.result(t, d)
	t.Logf("the page got %d bytes through two tracker instances in %v", d.size, time.Since(start).Round(time.Millisecond))
	// The offers and answers went across: each instance routed some to the other.
	for i, tr := range []*swarmcastTracker{tr1, tr2} {
		var st struct {
			Cluster struct {
				Instances           int
				RoutedOut, RoutedIn uint64
			}
		}
		resp, err := http.Get(strings.Replace(tr.ws, "ws://", "http://", 1) + "/stats")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if c := st.Cluster; c.Instances != 2 || c.RoutedOut == 0 || c.RoutedIn == 0 {
			t.Errorf("instance %d: cluster stats %+v: offers and answers did not cross", i+1, c)
		}
	}
}
