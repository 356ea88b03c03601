package interop

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// debianPython is the interpreter that has Debian's python3-libtorrent module; a `python3` earlier on
// PATH (pyenv, a venv) would not.
const debianPython = "/usr/bin/python3"

// TestEngineLibtorrent moves data between swarmcast and libtorrent 2.0 (Debian's python3-libtorrent,
// the engine of qBittorrent and Deluge, driven by node/lt.py) over TCP on the loopback: libtorrent is
// given the other side's address directly (connect_peer), with DHT, LSD, uTP, UPnP and NAT-PMP off
// and plaintext outgoing connections. Single- and multi-file torrents, both directions, by .torrent
// and by magnet link; libtorrent makes v1-only torrents here (TestEngineLibtorrentHybrid covers its
// default, v1+v2 hybrid torrents).
func TestEngineLibtorrent(t *testing.T) {
	requireLibtorrent(t)
	swarmcastBin(t)
	sw := loopbackSwarm()
	runEngineTests(t, sw, engineClient{
		name:  "libtorrent",
		multi: true,
		seed: func(t *testing.T, sw *engineSwarm, d *engineData, work string) (string, string, string) {
			return libtorrentSeed(t, sw, d, work, false)
		},
		download: libtorrentDownload,
	})
}

// TestEngineLibtorrentHybrid has libtorrent make and seed a v1+v2 hybrid torrent of a multi-file
// folder (its default since 2.0, with BEP 47 padding files between the files) and swarmcast download
// it by that .torrent: swarmcast must take the v1 part, keep to the v1 info hash in the handshake, and
// write the real files (padding files are not data).
func TestEngineLibtorrentHybrid(t *testing.T) {
	requireLibtorrent(t)
	swarmcastBin(t)
	sw := loopbackSwarm()
	d := makeMultiData(t, engineRNG(t), t.TempDir(), "hybrid folder")
	work, out := t.TempDir(), t.TempDir()
	torrent, infoHash, addr := libtorrentSeed(t, sw, d, work, true)
	t.Logf("libtorrent seeds hybrid torrent %s (v1 info hash %s) at %s", d.name, infoHash, addr)
	swarmcastDownload(t, sw.scOpts(), torrent, out, sw.scListen(), "--peer", addr)
	d.check(t, "swarmcast", out)
	if _, err := os.Stat(filepath.Join(out, d.name, ".pad")); err == nil {
		t.Logf("swarmcast wrote the BEP 47 padding files to disk (%s); they hold no data", filepath.Join(d.name, ".pad"))
	}
}

func requireLibtorrent(t *testing.T) {
	t.Helper()
	requireTool(t, debianPython)
	if err := exec.Command(debianPython, "-c", "import libtorrent").Run(); err != nil {
		missing(t, "Python module libtorrent (Debian package python3-libtorrent)")
	}
}

func libtorrentSeed(t *testing.T, sw *engineSwarm, d *engineData, work string, hybrid bool) (torrent, infoHash, addr string) {
	torrent = filepath.Join(work, "libtorrent.torrent")
	args := []string{filepath.Join("node", "lt.py"), "seed", d.path, "--torrent-out", torrent, "--listen", sw.peerListen()}
	if hybrid {
		args = append(args, "--hybrid")
	}
	p := startBG(t, "libtorrent seed", sw.peerOpts(), debianPython, args...)
	var l wtListening
	p.waitEvent("listening", &l, engineReadyTimeout)
	var r wtReady
	p.waitEvent("ready", &r, engineReadyTimeout)
	if r.Length != d.size && !hybrid { // a hybrid torrent's length counts its padding files too
		t.Fatalf("libtorrent made a torrent of %d bytes, want %d", r.Length, d.size)
	}
	// Seeding starts once libtorrent has checked the files it was given.
	p.waitEvent("done", nil, engineReadyTimeout)
	return torrent, r.InfoHash, net.JoinHostPort(sw.peerHost, strconv.Itoa(l.Port))
}

func libtorrentDownload(t *testing.T, sw *engineSwarm, s *swarmcastSeeder, target, out string) {
	p := startBG(t, "libtorrent download", sw.peerOpts(), debianPython, filepath.Join("node", "lt.py"), "download", target,
		"--dir", out, "--peer", s.peerAddr(sw.scHost), "--listen", sw.peerListen())
	if err := p.wait(engineTransferTimeout); err != nil {
		t.Fatalf("libtorrent did not download %s from swarmcast: %v", s.name, err)
	}
	p.waitEvent("done", nil, 0)
}
