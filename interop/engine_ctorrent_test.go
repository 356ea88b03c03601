package interop

import (
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEngineCTorrent has swarmcast download from Enhanced CTorrent (apt `ctorrent`, dnh3.3.2), a client
// of the original protocol only: no extension protocol (BEP 10), so no ut_metadata and no magnet
// links, and no way to tell it to dial a peer. It seeds a torrent it made itself; swarmcast downloads
// it by that .torrent, and, by a bare magnet link, must say before long that its only peer cannot send
// the metadata instead of waiting in silence.
//
// ctorrent closes a connection from its own IP address at once (it takes the peer for itself), so it
// listens at 127.0.0.2 and swarmcast dials it from 127.0.0.1. It refuses a torrent without an announce
// URL: the torrent names one where nothing listens.
func TestEngineCTorrent(t *testing.T) {
	requireTool(t, "ctorrent")
	swarmcastBin(t)
	sw := &engineSwarm{scHost: "127.0.0.1", peerHost: "127.0.0.2"}
	src, work := t.TempDir(), t.TempDir()
	d := makeSingleData(t, engineRNG(t), src, "ctorrent-data.bin", engineDataSize)
	torrent := filepath.Join(work, "ctorrent.torrent")
	// 256 KiB pieces: 32 of them for 8 MiB.
	if r := run(t, "", "ctorrent", "-t", "-u", deadAnnounceURL(t, sw.peerHost), "-l", "262144", "-s", torrent, d.path); r.err != nil {
		t.Fatalf("ctorrent -t: %s", r.message())
	}
	si, r, ok := info(t, torrent)
	if !ok {
		t.Fatalf("swarmcast info %s: %s", torrent, r.message())
	}
	addr := ctorrentSeed(t, sw, d, torrent, work)
	t.Logf("ctorrent seeds %s (%s) at %s", d.name, si.InfoHash, addr)

	t.Run("torrent", func(t *testing.T) {
		out := t.TempDir()
		swarmcastDownload(t, sw.scOpts(), torrent, out, sw.scListen(), "--peer", addr)
		d.check(t, "swarmcast", out)
	})

	t.Run("magnet-says-why", func(t *testing.T) {
		out := t.TempDir()
		magnet := "magnet:?xt=urn:btih:" + strings.ToLower(si.InfoHash)
		// Default verbosity: what a user sees.
		p := startBG(t, "swarmcast download", sw.scOpts(), swarmcastBin(t),
			"download", magnet, "-o", out, "--listen", sw.scListen(), "--peer", addr)
		_, err := p.waitMatch(noMetadataPeerRE, func(string) bool { return true }, ctorrentSilenceTimeout)
		p.stop()
		if err != nil {
			var said []string
			for _, l := range p.grep(regexp.MustCompile(`(?i)metadata`)) {
				if !downloadProgressRE.MatchString(l) {
					said = append(said, l)
				}
			}
			var last downloadProgress
			if lines := p.grep(downloadProgressRE); len(lines) > 0 {
				_ = json.Unmarshal([]byte(lines[len(lines)-1]), &last)
			}
			t.Fatalf("swarmcast download of a magnet whose only peer (ctorrent) has no extension protocol did not say "+
				"%q within %v: %v (its other lines about metadata: %q; last progress: %d peer(s) connected, name %q)",
				noMetadataPeerPhrase, ctorrentSilenceTimeout, err, said, last.NumPeers, last.Name)
		}
		if !p.saidOnStderr(noMetadataPeerRE) {
			t.Errorf("swarmcast printed %q on stdout; messages for the user go to stderr", noMetadataPeerPhrase)
		}
	})
}

const (
	// noMetadataPeerPhrase is what `swarmcast download` of a magnet link prints, at default verbosity,
	// when every connected peer lacks ut_metadata (here: one peer, ctorrent).
	noMetadataPeerPhrase = "no peer can send the metadata: 1 connected, none supports ut_metadata"

	// ctorrentSilenceTimeout bounds the wait for that line: ctorrent's handshake (no extension bit)
	// arrives within milliseconds of the dial, so the engine knows at once; 30 s leaves room for a
	// grace period of some seconds in which other peers could still come.
	ctorrentSilenceTimeout = 30 * time.Second
)

var noMetadataPeerRE = regexp.MustCompile(regexp.QuoteMeta(noMetadataPeerPhrase))

// ctorrentSeed starts ctorrent seeding d (it checks the data first) and returns its address.
func ctorrentSeed(t *testing.T, sw *engineSwarm, d *engineData, torrent, work string) string {
	t.Helper()
	port := freeTCPPort(t, sw.peerHost)
	// -e 1: leave after an hour of seeding (the test stops it long before); -b: its bitfield file,
	// beside the torrent rather than the data; stdin is /dev/null, so it reads no keys.
	p := startBG(t, "ctorrent seed", sw.peerOpts(), "ctorrent", "-e", "1", "-i", sw.peerHost, "-p", strconv.Itoa(port),
		"-s", d.path, "-b", filepath.Join(work, "ctorrent.bf"), torrent)
	p.waitFor(regexp.MustCompile(`^Listening on `), engineReadyTimeout)
	p.waitFor(regexp.MustCompile(`^Seed for others`), engineReadyTimeout)
	return net.JoinHostPort(sw.peerHost, strconv.Itoa(port))
}

// saidOnStderr reports whether a line that re matches came on stderr.
func (p *bgProc) saidOnStderr(re *regexp.Regexp) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if l.stderr && re.MatchString(l.text) {
			return true
		}
	}
	return false
}
