package torrent

import (
	"crypto/sha1"
	"errors"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/metainfo"
)

// A reader waiting for data that cannot come is woken by Close, and its
// priorities are released.
func TestReaderCloseReleases(t *testing.T) {
	data := make([]byte, 100000)
	pl := int64(32 << 10)
	var pieces []byte
	for off := int64(0); off < int64(len(data)); off += pl {
		s := sha1.Sum(data[off:min(off+pl, int64(len(data)))])
		pieces = append(pieces, s[:]...)
	}
	info := map[string]any{"name": "x", "piece length": pl, "pieces": pieces, "length": len(data)}
	mi := mustTorrent(t, info)
	c := NewClient(Config{})
	defer c.Close()
	tt, err := c.AddTorrent(mi, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := tt.Files()[0].NewReader()
	r.Seek(40000, 0)
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 10))
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		tt.do(func() { n = len(tt.readers) })
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reader never registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrReaderClosed) {
			t.Fatalf("Read returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the reader")
	}
	var n int
	var prio int
	for time.Now().Before(deadline) {
		tt.do(func() { n, prio = len(tt.readers), int(tt.picker.Priority(1)) })
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n != 0 || prio != 1 {
		t.Fatalf("after Close: %d readers, piece priority %d", n, prio)
	}
}

func mustTorrent(t *testing.T, info map[string]any) *metainfo.MetaInfo {
	t.Helper()
	b, err := bencode.Marshal(map[string]any{"info": info})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return mi
}
