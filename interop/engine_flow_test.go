package interop

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// engineSwarm is where one client's engine tests run: swarmcast at scHost in the network namespace
// scNetns, the other client and the tracker at peerHost in peerNetns ("" for the test's own namespace),
// and the tracker, for clients that find peers only through one.
type engineSwarm struct {
	scHost, scNetns     string
	peerHost, peerNetns string
	tracker             *btTracker
	udpTracker          bool // announce to the tracker over UDP (BEP 15) rather than HTTP
}

// announceURL is the tracker URL swarmcast seeds with.
func (s *engineSwarm) announceURL() string {
	if s.udpTracker {
		return s.tracker.udp
	}
	return s.tracker.announce
}

// loopbackSwarm puts every program on 127.0.0.1 in the test's own namespace.
func loopbackSwarm() *engineSwarm {
	return &engineSwarm{scHost: "127.0.0.1", peerHost: "127.0.0.1"}
}

func (s *engineSwarm) scOpts() bgOpts   { return bgOpts{netns: s.scNetns} }
func (s *engineSwarm) peerOpts() bgOpts { return bgOpts{netns: s.peerNetns} }

// scListen is the --listen address of a swarmcast: any free port on its host.
func (s *engineSwarm) scListen() string { return net.JoinHostPort(s.scHost, "0") }

// peerListen is the same for the other client.
func (s *engineSwarm) peerListen() string { return net.JoinHostPort(s.peerHost, "0") }

// engineClient is a third-party BitTorrent client as the engine tests drive it.
type engineClient struct {
	name string

	// seed starts the client seeding d (from where it lies) and returns the .torrent it seeds (made by
	// the client itself, or by a tool of its family), the info hash as the client reports it, and the
	// address swarmcast can dial it at. work is a folder for the client's files.
	seed func(t *testing.T, sw *engineSwarm, d *engineData, work string) (torrent, infoHash, addr string)

	// download fetches target (a .torrent file or a magnet URI) from the swarmcast seeder s into out and
	// returns once the client has verified every piece and its files are closed.
	download func(t *testing.T, sw *engineSwarm, s *swarmcastSeeder, target, out string)

	// multi adds a multi-file torrent to the single-file one, in both directions.
	multi bool
}

// runEngineTests moves the test data between swarmcast and c, both ways: swarmcast seeds (it makes
// the torrent) and c downloads by that .torrent and by swarmcast's magnet link; then c seeds (its own
// torrent) and swarmcast downloads by .torrent and by a bare magnet link (info hash only, so the
// metadata comes over ut_metadata). Every download is checked file by file by SHA-256.
func runEngineTests(t *testing.T, sw *engineSwarm, c engineClient) {
	rng := engineRNG(t)
	src := t.TempDir()
	sets := []*engineData{makeSingleData(t, rng, src, c.name+"-data.bin", engineDataSize)}
	if c.multi {
		sets = append(sets, makeMultiData(t, rng, src, c.name+" folder"))
	}
	var timings []string
	timing := func(what string, d *engineData, took time.Duration) {
		line := fmt.Sprintf("%-40s %5.1f MiB in %6.2fs (%5.1f MiB/s)", what, float64(d.size)/(1<<20),
			took.Seconds(), float64(d.size)/(1<<20)/took.Seconds())
		timings = append(timings, line)
	}
	t.Cleanup(func() {
		if len(timings) > 0 {
			t.Logf("timings (%s; wall time of the downloading program, its start-up included):\n  %s", c.name, strings.Join(timings, "\n  "))
		}
	})

	t.Run("swarmcast-seeds", func(t *testing.T) {
		for _, d := range sets {
			t.Run(dataKind(d), func(t *testing.T) {
				work := t.TempDir()
				torrent := filepath.Join(work, "swarmcast.torrent")
				args := []string{d.path, "-o", torrent}
				if sw.tracker != nil {
					args = append(args, "--tracker", sw.announceURL())
				}
				s := startSwarmcastSeed(t, sw.scOpts(), sw.scListen(), args...)
				if sw.tracker != nil {
					if err := sw.tracker.waitAnnounce(s.infoHash, s.port, engineReadyTimeout); err != nil {
						t.Fatalf("swarmcast seed did not announce %s with its port %d to the tracker: %v", s.infoHash, s.port, err)
					}
				}
				targets := [][2]string{{"torrent", torrent}}
				if d == sets[0] {
					targets = append(targets, [2]string{"magnet", magnetWithTracker(t, s.magnet, sw)})
				}
				for _, tg := range targets {
					t.Run(tg[0], func(t *testing.T) {
						out := t.TempDir()
						start := time.Now()
						c.download(t, sw, s, tg[1], out)
						took := time.Since(start)
						d.check(t, c.name, out)
						if !t.Failed() {
							timing(fmt.Sprintf("swarmcast → %s, %s, %s", c.name, dataKind(d), tg[0]), d, took)
						}
					})
				}
				s.checkSelfDials(t)
				s.checkProtocolErrors(t)
				if sw.tracker != nil {
					sw.tracker.checkAnnounceRate(t, s.infoHash, s.port, s.start)
				}
			})
		}
	})

	t.Run(c.name+"-seeds", func(t *testing.T) {
		for _, d := range sets {
			t.Run(dataKind(d), func(t *testing.T) {
				work := t.TempDir()
				torrent, infoHash, addr := c.seed(t, sw, d, work)
				t.Logf("%s seeds %s (%s) at %s", c.name, d.name, infoHash, addr)
				targets := [][2]string{{"torrent", torrent}}
				if d == sets[0] {
					targets = append(targets, [2]string{"magnet", "magnet:?xt=urn:btih:" + infoHash})
				}
				for _, tg := range targets {
					t.Run(tg[0], func(t *testing.T) {
						out := t.TempDir()
						took := swarmcastDownload(t, sw.scOpts(), tg[1], out, sw.scListen(), "--peer", addr)
						d.check(t, "swarmcast", out)
						if !t.Failed() {
							timing(fmt.Sprintf("%s → swarmcast, %s, %s", c.name, dataKind(d), tg[0]), d, took)
						}
					})
				}
			})
		}
	})
}

// kind names a data set in subtest names.
func dataKind(d *engineData) string {
	if _, single := d.sums[""]; single {
		return "single-file"
	}
	return "multi-file"
}

// magnetWithTracker is the magnet link a client downloads by: swarmcast's own, with the swarm's tracker added
// when swarmcast left it out (clients that cannot be given a peer find swarmcast only through it).
func magnetWithTracker(t *testing.T, magnet string, sw *engineSwarm) string {
	t.Helper()
	if sw.tracker == nil {
		return magnet
	}
	u, err := url.Parse(magnet)
	if err != nil {
		t.Fatalf("swarmcast printed a magnet link that does not parse: %q: %v", magnet, err)
	}
	for _, tr := range u.Query()["tr"] {
		if tr == sw.announceURL() {
			return magnet
		}
	}
	t.Logf("swarmcast's magnet link has no tr=%s although it seeds with --tracker; adding it", sw.announceURL())
	return magnet + "&tr=" + url.QueryEscape(sw.announceURL())
}
