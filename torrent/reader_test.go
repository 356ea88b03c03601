package torrent_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/torrent"
)

// streamSetup seeds one file from a rate-limited seeder and returns the
// leecher's torrent and the file's bytes.
func streamSetup(t *testing.T, size int, pieceLength int64, rate int64) (*torrent.Torrent, []byte) {
	t.Helper()
	seeder := newNode(t, func(c *torrent.Config) { c.UploadRate = rate })
	mi, data := makeContent(t, seeder.dir, "stream", []int{size, 1000}, pieceLength)
	if _, err := seeder.c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true}); err != nil {
		t.Fatal(err)
	}
	leecher := newNode(t, nil)
	lt, err := leecher.c.AddTorrent(mi, torrent.AddOptions{Peers: []string{seeder.addr}})
	if err != nil {
		t.Fatal(err)
	}
	return lt, data["first.bin"]
}

// Random ranges read while the torrent downloads are exactly the file's bytes.
func TestReaderRandomRanges(t *testing.T) {
	lt, data := streamSetup(t, 6<<20, 64<<10, 3<<20)
	f := lt.Files()[0]
	r := f.NewReader()
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 40; i++ {
		off := rng.Int64N(int64(len(data)))
		n := min(rng.Int64N(300<<10)+1, int64(len(data))-off)
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(readerCtx{r, ctx}, buf); err != nil {
			t.Fatalf("read %d bytes at %d: %v", n, off, err)
		}
		if !bytes.Equal(buf, data[off:off+n]) {
			t.Fatalf("bytes at %d differ", off)
		}
	}
	if lt.Complete() {
		t.Log("the torrent completed during the test; the seeder was faster than expected")
	}
}

type readerCtx struct {
	r   *torrent.Reader
	ctx context.Context
}

func (rc readerCtx) Read(p []byte) (int, error) { return rc.r.ReadContext(rc.ctx, p) }

// A seek far ahead gets its bytes before the pieces before it arrive.
func TestReaderSeekAheadFirst(t *testing.T) {
	const size, pl = 16 << 20, 64 << 10
	lt, data := streamSetup(t, size, pl, 2<<20)
	select {
	case <-lt.GotInfo():
	case <-time.After(10 * time.Second):
		t.Fatal("no info")
	}
	r := lt.Files()[0].NewReader()
	defer r.Close()
	off := int64(size * 9 / 10)
	r.Seek(off, io.SeekStart)
	buf := make([]byte, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := io.ReadFull(readerCtx{r, ctx}, buf); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if !bytes.Equal(buf, data[off:off+1000]) {
		t.Fatal("bytes differ")
	}
	before := int(off / pl)
	have := 0
	for i := 0; i < before; i++ {
		if lt.HavePiece(i) {
			have++
		}
	}
	if have > before/2 {
		t.Fatalf("%d of the %d pieces before the seek point arrived first (read took %v)", have, before, elapsed)
	}
	t.Logf("first byte after the seek in %v; %d of %d earlier pieces had arrived", elapsed, have, before)
}

// Several readers at once each get their bytes.
func TestConcurrentReaders(t *testing.T) {
	lt, data := streamSetup(t, 4<<20, 32<<10, 16<<20)
	<-lt.GotInfo()
	f := lt.Files()[0]
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for k := 0; k < 3; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			r := f.NewReader()
			defer r.Close()
			start := int64(k) * int64(len(data)) / 3
			r.Seek(start, io.SeekStart)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			got, err := io.ReadAll(readerCtx{r, ctx})
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, data[start:]) {
				errs <- io.ErrUnexpectedEOF
			}
		}(k)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A reader of an unselected file still gets its bytes, and closing a
// reader that waits wakes it.
func TestReaderUnselectedAndClose(t *testing.T) {
	lt, data := streamSetup(t, 1<<20, 32<<10, 0)
	<-lt.GotInfo()
	f := lt.Files()[0]
	f.SetPriority(torrent.PriorityNone)
	r := f.NewReader()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	buf := make([]byte, 5000)
	r.Seek(700000, io.SeekStart)
	if _, err := io.ReadFull(readerCtx{r, ctx}, buf); err != nil || !bytes.Equal(buf, data[700000:705000]) {
		t.Fatalf("unselected file read: %v", err)
	}
	r.Close()
	if _, err := r.Read(buf); err != torrent.ErrReaderClosed {
		t.Fatalf("read after close: %v", err)
	}
}
