package storage

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestMemorySharedUntilLastClose(t *testing.T) {
	s := NewMemory()
	info := crossInfo()
	data := content(41)
	a, err := s.OpenTorrent(info, hashOf("tor"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, a, data, 0)
	mustComplete(t, a, 1)
	b, err := s.OpenTorrent(info, hashOf("tor"))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, b, 41, 0); !bytes.Equal(got, want(info, data)) {
		t.Fatal("a second handle does not see the data")
	}
	if got := completed(t, b); !slices.Equal(got, []int{1}) {
		t.Fatalf("second handle: complete = %v, want [1]", got)
	}
	if _, err := s.OpenTorrent(singleInfo("tor", 16, 41), hashOf("tor")); !errors.Is(err, ErrBadInfo) {
		t.Fatalf("same hash, other layout: %v, want ErrBadInfo", err)
	}
	a.Close()
	if got := mustRead(t, b, 41, 0); !bytes.Equal(got, want(info, data)) {
		t.Fatal("closing one handle lost the data")
	}
	b.Close()
	c, err := s.OpenTorrent(info, hashOf("tor"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := mustRead(t, c, 41, 0); !bytes.Equal(got, make([]byte, 41)) || len(completed(t, c)) != 0 {
		t.Fatal("data outlived the last handle")
	}
}

// TestMemoryChunks writes across the memory backend's chunk boundaries.
func TestMemoryChunks(t *testing.T) {
	const total = 2*memChunkSize + 1000
	info := singleInfo("big", memChunkSize/2, total)
	data := content(total)
	ts := open(t, NewMemory(), info)
	for _, c := range chunks(total, 5000) {
		mustWrite(t, ts, data[c[0]:c[0]+c[1]], c[0])
	}
	if got := mustRead(t, ts, total, 0); !bytes.Equal(got, data) {
		t.Fatal("reads back wrong")
	}
	if got := mustRead(t, ts, 100, memChunkSize-50); !bytes.Equal(got, data[memChunkSize-50:memChunkSize+50]) {
		t.Fatal("a read across a chunk boundary is wrong")
	}
}
