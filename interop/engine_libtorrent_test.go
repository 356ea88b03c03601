package interop

import (
	"io/fs"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	// The premise: libtorrent put padding files in the torrent (BEP 47: attr "p", named .pad/N).
	pads := paddingFiles(t, torrent)
	if len(pads) == 0 {
		t.Fatalf("libtorrent's hybrid torrent has no padding files: this test needs some")
	}
	t.Logf("the torrent holds %d padding file(s): %q", len(pads), pads)
	swarmcastDownload(t, sw.scOpts(), torrent, out, sw.scListen(), "--peer", addr)
	d.check(t, "swarmcast", out)
	// Padding files hold no data: nothing of them may reach the disk, not the files, not their folder.
	err := filepath.WalkDir(out, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Name() == ".pad" || slices.Contains(pads, filepath.ToSlash(strings.TrimPrefix(p, out+string(filepath.Separator)))) {
			t.Errorf("swarmcast wrote padding to disk: %s", p)
			if e.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// paddingFiles lists the BEP 47 padding files of a .torrent as libtorrent reads it: their paths as a
// client lays them out under the download folder (NAME/.pad/N), with slashes.
func paddingFiles(t *testing.T, torrent string) []string {
	t.Helper()
	r := run(t, "", debianPython, "-c", paddingFilesPy, torrent)
	if r.err != nil {
		t.Fatalf("listing the padding files of %s: %s", torrent, r.message())
	}
	var pads []string
	for _, l := range strings.Split(strings.TrimSpace(string(r.stdout)), "\n") {
		if l != "" {
			pads = append(pads, l)
		}
	}
	return pads
}

// paddingFilesPy prints the path of each padding file of the torrent argv[1], one a line, as libtorrent
// reads the torrent (file_storage's pad_file flag).
const paddingFilesPy = `
import sys, libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
fs = ti.files()
for i in range(fs.num_files()):
    if fs.file_flags(i) & lt.file_storage.flag_pad_file:
        print(fs.file_path(i).replace("\\", "/"))
`

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
