package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// A run of buffers written with one WriteVAt lands where WriteAt would put
// it: across file boundaries, around a padding file, with buffers split
// between files.
func TestWriteVAtAcrossFiles(t *testing.T) {
	info := crossInfo()
	data := content(41)
	for _, sizes := range [][]int{{41}, {3, 7, 6, 11, 14}, {10, 6, 20, 5}, {1, 1, 39}} {
		ts := open(t, NewFile(t.TempDir()), info)
		var bufs [][]byte
		off := 0
		for _, n := range sizes {
			bufs = append(bufs, data[off:off+n])
			off += n
		}
		keep := append([][]byte(nil), bufs...)
		if err := ts.(VectorWriter).WriteVAt(bufs, 0); err != nil {
			t.Fatalf("sizes %v: %v", sizes, err)
		}
		for i := range bufs {
			if len(bufs[i]) != len(keep[i]) {
				t.Fatalf("sizes %v: WriteVAt changed the caller's buffer list", sizes)
			}
		}
		if got, w := mustRead(t, ts, 41, 0), want(info, data); !bytes.Equal(got, w) {
			t.Errorf("sizes %v: read back %x, want %x", sizes, got, w)
		}
	}
}

func TestWriteVAtRules(t *testing.T) {
	info := crossInfo()
	ts := open(t, NewFile(t.TempDir()), info)
	vw := ts.(VectorWriter)
	if err := vw.WriteVAt([][]byte{make([]byte, 30), make([]byte, 20)}, 0); !errors.Is(err, ErrOutOfRange) {
		t.Errorf("a run past the end: %v, want ErrOutOfRange", err)
	}
	mustWrite(t, ts, content(32), 0)
	mustComplete(t, ts, 0, 1)
	if err := vw.WriteVAt([][]byte{make([]byte, 4), make([]byte, 4)}, 28); !errors.Is(err, ErrPieceComplete) {
		t.Errorf("a run into a complete piece: %v, want ErrPieceComplete", err)
	}
}

// A wanted file is preallocated when it is created, an unwanted one stays
// sparse, and in both only the written bytes count as data.
func TestPreallocation(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("preallocation is Linux only")
	}
	const k = 16 << 10
	info := multiInfo("t", k, fileSpec{"wanted", 64 * k, ""}, fileSpec{"unwanted", 64 * k, ""})
	dir := t.TempDir()
	ts := open(t, NewFile(dir), info)
	ts.(FileWanter).SetFileWanted(1, false)
	mustWrite(t, ts, content(k), 0)
	mustWrite(t, ts, content(k), 64*k)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		size      int64
		allocated func(int64) bool
	}{
		{"wanted", 64 * k, func(b int64) bool { return b >= 64*k }},
		{"unwanted", k, func(b int64) bool { return b < 64*k }},
	} {
		fi, err := os.Stat(filepath.Join(dir, "t", c.name))
		if err != nil {
			t.Fatal(err)
		}
		blocks := fileBlocks(fi) * 512
		if fi.Size() != c.size || !c.allocated(blocks) {
			t.Errorf("%s: size %d, %d bytes allocated; want size %d", c.name, fi.Size(), blocks, c.size)
		}
	}
	ts = open(t, NewFile(dir), info)
	hd := ts.(DataPresence)
	if !hd.HasData(0, k) || hd.HasData(k, 63*k) {
		t.Errorf("HasData of the preallocated file: written piece %v, the rest %v; want true, false",
			hd.HasData(0, k), hd.HasData(k, 63*k))
	}
}
