package interop

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/internal/testenv"
)

// firstByteGoal is the goal for the time from adding a torrent to a client until its first
// payload byte from a swarmcast seed on loopback: before swarmcast spoke MSE, libtorrent (qBittorrent,
// Deluge) reached it ~5 s late, after trying MSE and being refused.
const firstByteGoal = time.Second

// firstByteLoose is what the tests enforce outside bench/goals.sh (testenv.TimeLimit): CI's 2 cores
// run other packages' tests beside these. That MSE was taken at the first try, not refused and
// retried plain, the tests prove from the peer's flags (encrypted), not from the time.
const firstByteLoose = 15 * time.Second

// ltPeerEvent is lt.py's "peer" event.
type ltPeerEvent struct {
	IP         string `json:"ip"`
	Client     string `json:"client"`
	Encryption string `json:"encryption"`
}

// TestMSELibtorrent moves data between swarmcast and libtorrent 2.0 with message stream encryption:
// libtorrent with encryption required (RC4 only, both ways) downloads from a swarmcast seed with the
// default policy and with --encryption require, and seeds to a swarmcast with --encryption require;
// libtorrent with its default policy (MSE first, plain when refused) downloads too. Each run checks the
// data, the encryption libtorrent reports for the connection, and the time from adding the torrent to
// the first byte.
func TestMSELibtorrent(t *testing.T) {
	requireLibtorrent(t)
	swarmcastBin(t)
	sw := loopbackSwarm()
	d := makeSingleData(t, engineRNG(t), t.TempDir(), "mse-data.bin", engineDataSize)
	var timings []string
	t.Cleanup(func() {
		if len(timings) > 0 {
			t.Logf("first byte (libtorrent: from add_torrent to the first payload byte; goal %v):\n  %s", firstByteGoal, strings.Join(timings, "\n  "))
		}
	})

	for _, tc := range []struct {
		name      string
		scPolicy  string // swarmcast seed's --encryption ("" for the default)
		ltPolicy  string // lt.py's --encryption
		wantCrypt []string
	}{
		{"lt-require-from-sc-default", "", "require", []string{"rc4"}},
		{"lt-require-from-sc-require", "require", "require", []string{"rc4"}},
		{"lt-prefer-from-sc-default", "", "prefer", []string{"plaintext", "rc4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			torrent := filepath.Join(work, "swarmcast.torrent")
			args := []string{d.path, "-o", torrent}
			if tc.scPolicy != "" {
				args = append(args, "--encryption", tc.scPolicy)
			}
			s := startSwarmcastSeed(t, sw.scOpts(), sw.scListen(), args...)
			out := t.TempDir()
			p := startBG(t, "libtorrent download", sw.peerOpts(), debianPython, filepath.Join("node", "lt.py"), "download", torrent,
				"--dir", out, "--peer", s.peerAddr(sw.scHost), "--listen", sw.peerListen(), "--encryption", tc.ltPolicy)
			var fb struct {
				MS int `json:"ms"`
			}
			p.waitEvent("firstByte", &fb, engineTransferTimeout)
			var peer ltPeerEvent
			p.waitEvent("peer", &peer, engineTransferTimeout)
			if err := p.wait(engineTransferTimeout); err != nil {
				t.Fatalf("libtorrent did not download from swarmcast: %v", err)
			}
			d.check(t, "libtorrent", out)
			if !slices.Contains(tc.wantCrypt, peer.Encryption) {
				t.Errorf("libtorrent reports encryption %q for swarmcast (%s), want one of %q", peer.Encryption, peer.Client, tc.wantCrypt)
			}
			took := time.Duration(fb.MS) * time.Millisecond
			timings = append(timings, fmt.Sprintf("%-30s %5d ms, %s", tc.name, fb.MS, peer.Encryption))
			if limit := testenv.TimeLimit(firstByteGoal, firstByteLoose); took > limit {
				t.Errorf("libtorrent's first byte came %v after adding the torrent; want ≤ %v (goal %v)", took, limit, firstByteGoal)
			}
			s.checkProtocolErrors(t)
		})
	}

	t.Run("lt-require-seeds-to-sc-require", func(t *testing.T) {
		work := t.TempDir()
		torrent := filepath.Join(work, "libtorrent.torrent")
		p := startBG(t, "libtorrent seed", sw.peerOpts(), debianPython, filepath.Join("node", "lt.py"), "seed", d.path,
			"--torrent-out", torrent, "--listen", sw.peerListen(), "--encryption", "require")
		var l wtListening
		p.waitEvent("listening", &l, engineReadyTimeout)
		p.waitEvent("done", nil, engineReadyTimeout)
		out := t.TempDir()
		took := swarmcastDownload(t, sw.scOpts(), torrent, out, sw.scListen(),
			"--peer", fmt.Sprintf("%s:%d", sw.peerHost, l.Port), "--encryption", "require")
		d.check(t, "swarmcast", out)
		var peer ltPeerEvent
		p.waitEvent("peer", &peer, 0)
		if peer.Encryption != "rc4" {
			t.Errorf("libtorrent reports encryption %q for swarmcast, want rc4", peer.Encryption)
		}
		timings = append(timings, fmt.Sprintf("%-30s %5d ms (swarmcast download's whole run)", "sc-require-from-lt-require", took.Milliseconds()))
	})

	// The other half of "require": a swarmcast that will not encrypt cannot trade with a libtorrent that
	// insists, in either direction; the test proves the encryption above was not optional.
	t.Run("lt-require-refuses-sc-off", func(t *testing.T) {
		work := t.TempDir()
		torrent := filepath.Join(work, "swarmcast.torrent")
		s := startSwarmcastSeed(t, sw.scOpts(), sw.scListen(), d.path, "-o", torrent, "--encryption", "off")
		out := t.TempDir()
		p := startBG(t, "libtorrent download", sw.peerOpts(), debianPython, filepath.Join("node", "lt.py"), "download", torrent,
			"--dir", out, "--peer", s.peerAddr(sw.scHost), "--listen", sw.peerListen(), "--encryption", "require")
		if lines, err := p.waitMatch(eventLineRE("firstByte"), func(string) bool { return true }, 3*time.Second); err == nil {
			t.Fatalf("libtorrent (encryption required) got data from swarmcast --encryption off: %s", lines[0])
		}
	})
}
