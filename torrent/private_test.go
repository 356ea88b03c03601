package torrent_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
)

// A torrent added from its metainfo says whether it is private as soon as
// the client lists it, while its storage is still opening and Info is nil.
// The DHT and local discovery take their torrents from that list, and used
// Info: in that window a private torrent looked like a magnet link's and was
// looked up in the DHT (the root package's TestDHTNeverSeesPrivateTorrent
// caught it once on a loaded machine).
func TestPrivateKnownBeforeStorageOpens(t *testing.T) {
	for _, private := range []bool{true, false} {
		root := filepath.Join(t.TempDir(), "content")
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 100<<10)
		fastRand.Read(b)
		if err := os.WriteFile(filepath.Join(root, "a.bin"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		mi, _, err := metainfo.Create(root, metainfo.CreateOptions{PieceLength: 32 << 10, NoDate: true, Private: private})
		if err != nil {
			t.Fatal(err)
		}
		// The storage is held while it opens, before the torrent's info is
		// set, until release is closed.
		opening, release := make(chan struct{}), make(chan struct{})
		hold := wrappedStorage{Storage: storage.NewMemory(), wrap: func(ts storage.TorrentStorage) storage.TorrentStorage {
			close(opening)
			<-release
			return ts
		}}
		c := torrent.NewClient(torrent.Config{Storage: hold})
		added := make(chan error, 1)
		go func() {
			_, err := c.AddTorrent(mi, torrent.AddOptions{})
			added <- err
		}()
		select {
		case <-opening:
		case <-time.After(10 * time.Second):
			t.Fatal("the storage was not opened within 10 s")
		}
		ts := c.Torrents()
		if len(ts) != 1 {
			t.Fatalf("the client lists %d torrents while one opens, want 1", len(ts))
		}
		if ts[0].Info() != nil {
			t.Fatal("Info is set before the storage opened: the window this test covers is gone, so it tests nothing")
		}
		if got := ts[0].Private(); got != private {
			t.Errorf("private=%v: Private() is %v while the storage opens", private, got)
		}
		close(release)
		if err := <-added; err != nil {
			t.Fatal(err)
		}
		if got := ts[0].Private(); got != private {
			t.Errorf("private=%v: Private() is %v once the info is set", private, got)
		}
		c.Close()
	}
}
