package torrent_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/torrent"
)

// Two magnet leechers connected to each other before either knows the
// info: A then gets the info and the data from a seeder, and B, whose only
// peer is A, gets both from A. A's upload on a connection that began
// before its storage was opened once read from no storage at all and
// crashed the process (found by the root package's Example_swarm).
func TestMagnetLeechersConnectedBeforeInfo(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "early", []int{1<<20 + 99}, 32<<10)
	info, _ := mi.UnmarshalInfo()
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	magnet := mi.Magnet(info).String()
	a, b := newNode(t, nil), newNode(t, nil)
	at, err := a.c.AddMagnet(magnet, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bt, err := b.c.AddMagnet(magnet, torrent.AddOptions{Peers: []string{a.addr}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for at.Stats().Peers == 0 || bt.Stats().Peers == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("A and B not connected: %+v %+v", at.Stats(), bt.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	at.AddPeers(seeder.addr)
	waitComplete(t, at, 30*time.Second)
	waitComplete(t, bt, 30*time.Second)
	checkFiles(t, filepath.Join(b.dir, "early"), data)
}
