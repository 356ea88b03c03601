package opfs

import (
	"bytes"
	"errors"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
)

func testInfo(t *testing.T, name string, size int64) (*metainfo.Info, metainfo.Hash) {
	t.Helper()
	mi, info, err := metainfo.CreateFromReader(bytes.NewReader(make([]byte, size)), name, size, metainfo.CreateOptions{NoDate: true})
	if err != nil {
		t.Fatal(err)
	}
	return info, mi.HashInfoBytes()
}

// TestMemoryCap: torrents open under the cap, the one that would pass it
// is refused with ErrOverCap, and closing a torrent frees its room.
func TestMemoryCap(t *testing.T) {
	m := NewMemory(3 << 20)
	a, ha := testInfo(t, "a", 2<<20)
	b, hb := testInfo(t, "b", 1<<20)
	c, hc := testInfo(t, "c", 1<<20+1)
	ta, err := m.OpenTorrent(a, ha)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := m.OpenTorrent(b, hb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.OpenTorrent(c, hc); !errors.Is(err, ErrOverCap) {
		t.Fatalf("a torrent over the cap opened: %v", err)
	}
	if m.Used() != 3<<20 {
		t.Errorf("used %d, want %d", m.Used(), 3<<20)
	}
	// The data is stored as memory storage stores it.
	if _, err := tb.WriteAt([]byte("hello"), 10); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 5)
	if _, err := tb.ReadAt(got, 10); err != nil || string(got) != "hello" {
		t.Fatalf("read back %q, %v", got, err)
	}
	ta.Close()
	ta.Close() // twice frees once
	if m.Used() != 1<<20 {
		t.Errorf("after a close, used %d, want %d", m.Used(), 1<<20)
	}
	tc, err := m.OpenTorrent(c, hc)
	if err != nil {
		t.Fatalf("after a close, a torrent that fits is refused: %v", err)
	}
	tc.Close()
	tb.Close()
	if m.Used() != 0 {
		t.Errorf("all closed, used %d", m.Used())
	}
	if NewMemory(0).cap != DefaultMemoryCap {
		t.Error("cap 0 is not the default")
	}
}
