package torrent_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
)

// A seeder whose file is truncated under it does not serve zeros as
// verified data: it stops with an error naming the file, its readers get
// that error at once, the leecher bans nobody, and once the file is put back
// Start rechecks it and the leecher completes. Nothing verified is lost.
func TestTruncatedFileWhileSeeding(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "trunc", []int{2 << 20}, 64<<10)
	st, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(seeder.dir, "trunc", "first.bin")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for st.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("seeder still running with its file truncated; stats %+v", st.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	serr := st.Err()
	if !errors.Is(serr, storage.ErrMissingData) || !strings.Contains(serr.Error(), "first.bin") {
		t.Fatalf("seeder error %v, want ErrMissingData naming the file", serr)
	}
	t.Logf("seeder stopped: %v", serr)
	// A reader waiting for data of a stopped torrent returns its error.
	r := st.NewReader()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.ReadContext(ctx, make([]byte, 10)); !errors.Is(err, storage.ErrMissingData) {
		t.Fatalf("reader of the stopped torrent: %v, want the torrent's error", err)
	}
	r.Close()

	if err := os.WriteFile(path, data["first.bin"], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, st, 20*time.Second)
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "trunc"), data)
	if s := lt.Stats(); s.Banned != 0 || s.HashFails != 0 {
		t.Fatalf("the leecher blamed the seeder for its disk: %+v", s)
	}
	if s := st.Stats(); s.PiecesHave != s.Pieces || s.Error != "" {
		t.Fatalf("seeder after Start: %+v", s)
	}
	r = st.NewReader()
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || len(got) != len(data["first.bin"]) {
		t.Fatalf("reading after Start: %d bytes, %v", len(got), err)
	}
}

// Stop pauses a torrent (its readers return ErrStopped, it has no peers)
// and Start resumes the download where it was.
func TestStopAndStart(t *testing.T) {
	seeder := newNode(t, func(c *torrent.Config) { c.UploadRate = 2 << 20 })
	mi, data := makeContent(t, seeder.dir, "pause", []int{4 << 20}, 64<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for lt.Stats().PiecesHave == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no piece arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := lt.Stop(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(lt.Err(), torrent.ErrStopped) {
		t.Fatalf("Err after Stop: %v", lt.Err())
	}
	have := lt.Stats().PiecesHave
	waitPeers(t, lt, 0, 5*time.Second)
	info, _ := mi.UnmarshalInfo()
	missing := -1
	for i := 0; i < info.NumPieces() && missing < 0; i++ {
		if !lt.HavePiece(i) {
			missing = i
		}
	}
	if missing < 0 {
		t.Fatal("everything arrived before Stop: the upload limit is too high for the test")
	}
	r := lt.NewReader()
	r.Seek(int64(missing)*info.PieceLength, io.SeekStart)
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, torrent.ErrStopped) {
		t.Fatalf("reader of a stopped torrent: %v", err)
	}
	r.Close()
	if err := lt.Start(); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "pause"), data)
	if s := lt.Stats(); s.PiecesHave < have {
		t.Fatalf("pieces lost over Stop/Start: %d before, %+v", have, s)
	}
}

// A seed dials the peers the user named (seed --peer ADDR), though a
// complete torrent otherwise waits for leechers to come to it.
func TestSeedDialsUserPeers(t *testing.T) {
	leecher := newNode(t, nil)
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "dialout", []int{512 << 10}, 32<<10)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true, Peers: []string{leecher.addr}}); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 20*time.Second)
	checkFiles(t, filepath.Join(leecher.dir, "dialout"), data)
}

// Empty files are created: in a torrent of only empty files, and beside an
// unselected file whose piece they share.
func TestEmptyFilesCreated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sizes   []int
		select_ []int
		want    []string // files that must exist, below the torrent's folder
	}{
		{"only-empty", []int{0, 0}, nil, []string{"first.bin", "sub/b.bin"}},
		{"beside-unselected", []int{100 << 10, 0, 50 << 10}, []int{1}, []string{"sub/b.bin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seeder := newNode(t, nil)
			mi, _ := makeContent(t, seeder.dir, tc.name, tc.sizes, 32<<10)
			if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
				t.Fatal(err)
			}
			leecher := newNode(t, nil)
			lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Select: tc.select_, Peers: []string{seeder.addr}})
			if err != nil {
				t.Fatal(err)
			}
			waitComplete(t, lt, 20*time.Second)
			for _, f := range tc.want {
				if _, err := os.Stat(filepath.Join(leecher.dir, tc.name, f)); err != nil {
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
}

// Remove with deleteData deletes the torrent's files and resume state and
// leaves the rest of the download folder alone; without, the files stay.
func TestRemove(t *testing.T) {
	n := newNode(t, nil)
	mi, _ := makeContent(t, n.dir, "gone", []int{64 << 10, 0, 10 << 10}, 16<<10)
	keep := filepath.Join(n.dir, "keep.txt")
	os.WriteFile(keep, []byte("mine"), 0o644)
	tt, err := n.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := tt.Remove(false); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.c.Torrent(mi.HashInfoBytes()); ok {
		t.Fatal("torrent still in the client")
	}
	if _, err := os.Stat(filepath.Join(n.dir, "gone", "first.bin")); err != nil {
		t.Fatalf("Remove(false) deleted data: %v", err)
	}
	tt, err = n.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := tt.Remove(true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(n.dir, "gone")); !os.IsNotExist(err) {
		t.Fatalf("torrent folder still there: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("Remove(true) touched another file: %v", err)
	}
}

// wrappedStorage opens torrents through Storage and hands each to wrap:
// a test's own disk behaviour over a real backend.
type wrappedStorage struct {
	storage.Storage
	wrap func(storage.TorrentStorage) storage.TorrentStorage
}

func (s wrappedStorage) OpenTorrent(info *metainfo.Info, ih metainfo.Hash) (storage.TorrentStorage, error) {
	ts, err := s.Storage.OpenTorrent(info, ih)
	if err != nil {
		return nil, err
	}
	return s.wrap(ts), nil
}

// slowTorrent makes every write take a while, as on a slow or busy disk.
type slowTorrent struct {
	storage.TorrentStorage
	delay time.Duration
}

func (s slowTorrent) WriteAt(p []byte, off int64) (int, error) {
	time.Sleep(s.delay)
	return s.TorrentStorage.WriteAt(p, off)
}

// A slow disk does not stall the torrent's loop: Stats answers promptly
// while writes take 20 ms each.
func TestSlowDiskDoesNotStallTheLoop(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "slow", []int{2 << 20}, 64<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	leecher := newNode(t, func(c *torrent.Config) {
		c.Storage = wrappedStorage{storage.NewMemory(), func(ts storage.TorrentStorage) storage.TorrentStorage {
			return slowTorrent{ts, 20 * time.Millisecond}
		}}
	})
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	var worst time.Duration
	for !lt.Complete() {
		start := time.Now()
		lt.Stats()
		worst = max(worst, time.Since(start))
		time.Sleep(5 * time.Millisecond)
	}
	// A write on the loop would hold each Stats call behind up to a
	// batch of writes (64 blocks: over a second).
	if worst > 500*time.Millisecond {
		t.Fatalf("Stats took up to %v while the disk was slow", worst)
	}
	t.Logf("Stats took at most %v with 20 ms writes", worst.Round(time.Millisecond))
	r := lt.NewReader()
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, data["first.bin"]) {
		t.Fatal("content differs")
	}
}

// countedTorrent counts the bytes read back from a torrent's storage.
type countedTorrent struct {
	storage.TorrentStorage
	read *atomic.Int64
}

func (s countedTorrent) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.TorrentStorage.ReadAt(p, off)
	s.read.Add(int64(n))
	return n, err
}

func (s countedTorrent) WriteVAt(bufs [][]byte, off int64) error {
	return s.TorrentStorage.(storage.VectorWriter).WriteVAt(bufs, off)
}

// Pieces whose blocks arrive in order (one peer) are verified from the
// blocks as they are written: nothing is read back from the disk.
func TestInOrderPiecesAreNotReadBack(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "inorder", []int{3<<20 + 5000}, 256<<10)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	var read atomic.Int64
	leecher := newNode(t, func(c *torrent.Config) {
		c.Storage = wrappedStorage{storage.NewFile(t.TempDir()), func(ts storage.TorrentStorage) storage.TorrentStorage {
			return countedTorrent{ts, &read}
		}}
	})
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, lt, 30*time.Second)
	if n := read.Load(); n != 0 {
		t.Fatalf("%d bytes read back to verify pieces that arrived in order", n)
	}
	r := lt.NewReader()
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, data["first.bin"]) {
		t.Fatal("content differs")
	}
}

// When the disk falls behind a fast peer, what waits for it in memory stays
// bounded: new requests stop at 8 MiB of backlog, and blocks already asked
// for wait in the kernel (the peer's reader holds off) rather than in ours.
func TestDiskBacklogIsBounded(t *testing.T) {
	seeder := newNode(t, nil)
	mi, data := makeContent(t, seeder.dir, "backlog", []int{48 << 20}, 1<<20)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	// Fast at first, so the pipeline grows deep, then slow.
	var writes atomic.Int64
	leecher := newNode(t, func(c *torrent.Config) {
		c.Storage = wrappedStorage{storage.NewMemory(), func(ts storage.TorrentStorage) storage.TorrentStorage {
			return stallingTorrent{ts, &writes}
		}}
	})
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	var most int64
	deadline := time.Now().Add(60 * time.Second)
	for !lt.Complete() && time.Now().Before(deadline) {
		most = max(most, lt.Stats().DiskBacklog)
		time.Sleep(2 * time.Millisecond)
	}
	waitComplete(t, lt, time.Second)
	// 8 MiB, and up to 3 MiB on its way from the one peer's reader (its
	// bound, and the batch that found room under it).
	if most > 11<<20 {
		t.Fatalf("disk backlog reached %d MiB", most>>20)
	}
	t.Logf("disk backlog at most %.1f MiB", float64(most)/(1<<20))
	r := lt.NewReader()
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, data["first.bin"]) {
		t.Fatal("content differs")
	}
}

// stallingTorrent writes its first 16 MiB at once and then takes 2 ms a
// block: a disk that falls behind after the pipeline has grown.
type stallingTorrent struct {
	storage.TorrentStorage
	writes *atomic.Int64
}

func (s stallingTorrent) WriteAt(p []byte, off int64) (int, error) {
	if s.writes.Add(int64(len(p))) > 16<<20 {
		time.Sleep(2 * time.Millisecond)
	}
	return s.TorrentStorage.WriteAt(p, off)
}

// Recheck finds a piece changed on disk behind the engine's back, keeps the
// others, and records the outcome: a restart trusts the recheck's result,
// not what was recorded before it.
func TestRecheckFindsChangedPiece(t *testing.T) {
	dir := t.TempDir()
	mi, _ := makeContent(t, dir, "recheck", []int{1 << 20}, 64<<10)
	open := func() (*torrent.Client, *torrent.Torrent) {
		c := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir)})
		tt, err := c.AddTorrent(mi, torrent.AddOptions{Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		waitChecked(t, tt)
		return c, tt
	}
	c, tt := open()
	if got := tt.Stats().PiecesHave; got != 16 {
		t.Fatalf("%d of 16 pieces before the change", got)
	}
	// Piece 5 changes; its file keeps its size.
	f, err := os.OpenFile(filepath.Join(dir, "recheck", "first.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("changed"), 5*64<<10+100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := tt.Recheck(); err != nil {
		t.Fatal(err)
	}
	waitChecked(t, tt)
	if s := tt.Stats(); s.PiecesHave != 15 || tt.HavePiece(5) {
		t.Fatalf("after the recheck: %d pieces, piece 5 had: %v", s.PiecesHave, tt.HavePiece(5))
	}
	c.Close()
	// Without Verify, the restart goes by what was recorded.
	c = torrent.NewClient(torrent.Config{Storage: storage.NewFile(dir)})
	defer c.Close()
	tt, err = c.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := tt.Stats(); s.PiecesHave != 15 || tt.HavePiece(5) {
		t.Fatalf("after a restart: %d pieces recorded, piece 5 recorded: %v", s.PiecesHave, tt.HavePiece(5))
	}
}

// waitChecked waits for a torrent's checks to end.
func waitChecked(t *testing.T, tt *torrent.Torrent) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if s := tt.Stats(); !s.Checking {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("checks did not end")
}
