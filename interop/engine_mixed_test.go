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
// swarmcast must keep all of them, download from every one of them, and verify every piece whichever
// peer sent it.
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
	// A summary each second (the last --summary-interval given wins): its UL total is how aria2 counts
	// what it served.
	ap := startBG(t, "aria2c seed", sw.peerOpts(), "aria2c", append([]string{
		"--check-integrity=true", "--seed-ratio=0.0", "--dir", src, "--listen-port=" + strconv.Itoa(aport),
	}, append(aria2Isolated, "--summary-interval=1", torrent)...)...)
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
	r := swarmcastDownloadRun(t, sw.scOpts(), torrent, out, sw.scListen(), args...)
	d.check(t, "swarmcast", out)
	t.Logf("swarmcast downloaded %d MiB from three clients at once in %v", d.size>>20, r.took.Round(time.Millisecond))

	// Every kind of peer served. swarmcast counts what it downloaded by transport kind only (all three
	// are TCP peers here), so which client served what is counted by each seeder, as it reports it
	// (each prints its totals every second).
	if got := r.last.DownloadedBySource[mixedTransport]; got < d.size {
		t.Errorf("swarmcast counted %d bytes from %s peers, want at least the %d bytes of the torrent: "+
			"every peer of this swarm is a %s peer (by source: %v)", got, mixedTransport, d.size, mixedTransport, r.last.DownloadedBySource)
	}
	for kind, n := range r.last.DownloadedBySource {
		if kind != mixedTransport && n > 0 {
			t.Errorf("swarmcast counted %d bytes from %s peers, and no peer of this swarm is one", n, kind)
		}
	}
	served := map[string]int64{}
	for name, p := range map[string]*bgProc{"WebTorrent": wp, "libtorrent": lp} {
		var up struct{ Uploaded int64 }
		_, err := p.waitMatch(eventLineRE("progress"), func(line string) bool {
			return json.Unmarshal([]byte(line), &up) == nil && up.Uploaded > 0
		}, mixedCountTimeout)
		if err == nil {
			// The last line has the newest count.
			lines := p.grep(eventLineRE("progress"))
			_ = json.Unmarshal([]byte(lines[len(lines)-1]), &up)
			served[name] = up.Uploaded
		}
	}
	if _, err := ap.waitMatch(aria2UploadedRE, func(string) bool { return true }, mixedCountTimeout); err == nil {
		lines := ap.grep(aria2UploadedRE)
		m := aria2UploadedRE.FindStringSubmatch(lines[len(lines)-1])
		served["aria2"] = aria2Bytes(m[1], m[2])
	}
	for _, name := range []string{"aria2", "WebTorrent", "libtorrent"} {
		if served[name] == 0 {
			t.Errorf("%s served nothing to swarmcast (by its own count, within %v of the end): swarmcast did not "+
				"download from every kind of peer in the swarm", name, mixedCountTimeout)
		}
	}
	t.Logf("served to swarmcast so far, as each seeder counts it (aria2 rounds): %v", served)
}

const (
	// mixedDownLimit is swarmcast's download limit in TestEngineMixedSwarm: 8 MiB in about three seconds.
	mixedDownLimit = "3MB"

	// mixedTransport is the transport kind of every peer of TestEngineMixedSwarm, as swarmcast's
	// downloadedBySource names it.
	mixedTransport = "tcp"

	// mixedCountTimeout bounds the wait for a seeder's count of what it served: each prints it every
	// second.
	mixedCountTimeout = 5 * time.Second
)

// aria2UploadedRE matches the upload total in aria2's summary line of a torrent: "UL:RATE(TOTAL)", as in
// "[#f463a7 SEED(1.0) CN:1 SD:0 UL:8.0MiB(34MiB)]". aria2 leaves UL out while it has uploaded nothing.
var aria2UploadedRE = regexp.MustCompile(`UL:[^(\s]*\(([0-9.]+)(B|KiB|MiB|GiB)\)`)

// aria2Bytes turns aria2's rounded "1.3" "MiB" back into bytes.
func aria2Bytes(num, unit string) int64 {
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0
	}
	scale := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
	return int64(f * scale)
}
