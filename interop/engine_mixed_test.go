package interop

import (
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestEngineMixedSwarm has swarmcast download one torrent (made by mktorrent) from three different
// clients at once, each seeding the same data: aria2, WebTorrent and libtorrent. Each speaks its own
// dialect of the same protocol (its own extension handshake, choking, and order of messages), and
// swarmcast must keep all of them and verify every piece whichever peer sent it.
func TestEngineMixedSwarm(t *testing.T) {
	requireTool(t, "aria2c")
	requireTool(t, "mktorrent")
	requireNodeModule(t, "webtorrent")
	requireLibtorrent(t)
	swarmcastBin(t)
	sw := loopbackSwarm()
	src, work, out := t.TempDir(), t.TempDir(), t.TempDir()
	d := makeSingleData(t, engineRNG(t), src, "mixed-data.bin", engineDataSize)
	torrent := filepath.Join(work, "mktorrent.torrent")
	// 64 KiB pieces: 128 of them, enough to spread over three peers.
	if r := run(t, "", "mktorrent", "-l", "16", "-o", torrent, d.path); r.err != nil {
		t.Fatalf("mktorrent: %s", r.message())
	}

	var peers []string
	aport := freeTCPPort(t, sw.peerHost)
	ap := startBG(t, "aria2c seed", sw.peerOpts(), "aria2c", append([]string{
		"--check-integrity=true", "--seed-ratio=0.0", "--dir", src, "--listen-port=" + strconv.Itoa(aport),
	}, append(aria2Isolated, torrent)...)...)
	wp := startBG(t, "webtorrent seed", sw.peerOpts(), "node", filepath.Join("node", "wt.mjs"), "seed-torrent", torrent, "--dir", src)
	lp := startBG(t, "libtorrent seed", sw.peerOpts(), debianPython, filepath.Join("node", "lt.py"), "seed-torrent", torrent,
		"--dir", src, "--listen", sw.peerListen())

	ap.waitFor(aria2ListeningRE, engineReadyTimeout)
	ap.waitFor(regexp.MustCompile(`Verification finished successfully|Seeding`), engineReadyTimeout)
	peers = append(peers, net.JoinHostPort(sw.peerHost, strconv.Itoa(aport)))
	for _, p := range []*bgProc{wp, lp} {
		var l wtListening
		p.waitEvent("listening", &l, engineReadyTimeout)
		p.waitEvent("done", nil, engineReadyTimeout) // the data is checked: it seeds
		peers = append(peers, net.JoinHostPort(sw.peerHost, strconv.Itoa(l.Port)))
	}
	t.Logf("aria2, WebTorrent and libtorrent seed %s at %v", d.name, peers)

	// A download limit stretches the transfer over a few seconds, so that every seeder has time to
	// connect and serve: unlimited, the first to unchoke serves it all in a fraction of a second.
	args := []string{"--down-limit", mixedDownLimit}
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	took := swarmcastDownload(t, sw.scOpts(), torrent, out, sw.scListen(), args...)
	d.check(t, "swarmcast", out)
	t.Logf("swarmcast downloaded %d MiB from three clients at once in %v", d.size>>20, took)

	// Who served what, as WebTorrent and libtorrent count it (each prints its totals every second).
	for name, p := range map[string]*bgProc{"WebTorrent": wp, "libtorrent": lp} {
		var up struct{ Uploaded int64 }
		_, err := p.waitMatch(eventLineRE("progress"), func(line string) bool {
			return json.Unmarshal([]byte(line), &up) == nil && up.Uploaded > 0
		}, 3*time.Second)
		if err != nil {
			t.Logf("%s served nothing to swarmcast", name)
			continue
		}
		// The last line has the final count.
		lines := p.grep(eventLineRE("progress"))
		_ = json.Unmarshal([]byte(lines[len(lines)-1]), &up)
		t.Logf("%s served %d bytes to swarmcast", name, up.Uploaded)
	}
}

// mixedDownLimit is swarmcast's download limit in TestEngineMixedSwarm: 8 MiB in about three seconds.
const mixedDownLimit = "3MB"
