package torrent_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/torrent"
)

// A seed dials the leechers a tracker names (a leecher that announced
// before the seed came would otherwise wait for its own next announce),
// and once the leecher is done the two part: two seeds have nothing for
// each other.
func TestSeedDialsTrackerPeersAndPartsFromSeeds(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "late-seed", []int{1<<20 + 77}, 32<<10)
	st, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
	if err != nil {
		t.Fatal(err)
	}
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st.AddPeersFrom(torrent.SourceTracker, leecher.addr)
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "late-seed"), data)

	deadline := time.Now().Add(10 * time.Second)
	for st.Stats().Peers != 0 || lt.Stats().Peers != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("two seeds still connected 10 s after the download: seeder %d peers, leecher %d", st.Stats().Peers, lt.Stats().Peers)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
