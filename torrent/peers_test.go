package torrent_test

import (
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/torrent"
)

// Peers lists each connection with its direction, where we found it, the
// client's name from its extension handshake and what has moved on it.
func TestPeersListsConnections(t *testing.T) {
	seeder := newNode(t, func(c *torrent.Config) { c.UploadRate = 1 << 20; c.Version = "seeder 9.9\x00\x07" })
	mi, _ := makeContent(t, seeder.dir, "listed", []int{4 << 20}, 64<<10)
	st, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
	if err != nil {
		t.Fatal(err)
	}
	leecher := newNode(t, func(c *torrent.Config) { c.Version = "leecher 1.0" })
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	// At 1 MiB/s the 4 MiB take ~4 s: look while data flows.
	var got []torrent.PeerInfo
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = lt.Peers()
		if len(got) == 1 && got[0].Downloaded > 0 && got[0].Client != "" {
			break
		}
		if time.Now().After(deadline) || lt.Complete() {
			t.Fatalf("the leecher's peers while downloading: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p := got[0]
	if p.Addr != seeder.addr || p.Network != "tcp" || p.Incoming || p.Source != "user" || p.Progress != 1 ||
		p.Client != "seeder 9.9" || p.PeerChoking || !p.AmInterested || p.ConnectedAt.IsZero() {
		t.Errorf("the leecher sees the seeder as %+v", p)
	}
	sp := st.Peers()
	if len(sp) != 1 || !sp[0].Incoming || sp[0].Source != "" || sp[0].Client != "leecher 1.0" || sp[0].Uploaded == 0 ||
		sp[0].AmChoking || !sp[0].PeerInterested || sp[0].Progress == 1 {
		t.Errorf("the seeder sees the leecher as %+v", sp)
	}
}
