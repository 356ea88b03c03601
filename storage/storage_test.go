package storage

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/swarmcast/swarmcast/metainfo"
	"io"
	"slices"
	"sync"
	"testing"
)

// crossInfo is a torrent whose first piece spans a file, an empty file, a
// padding file and the start of another file.
func crossInfo() *metainfo.Info {
	return multiInfo("tor", 32,
		fileSpec{path: "a.bin", length: 10},
		fileSpec{path: "empty.txt", length: 0},
		fileSpec{path: ".pad/6", length: 6, attr: "p"},
		fileSpec{path: "b.bin", length: 20},
		fileSpec{path: "sub/c.bin", length: 5},
	)
}

// chunks splits [0, total) into writes of size n (the last may be short).
func chunks(total, n int64) [][2]int64 {
	var out [][2]int64
	for off := int64(0); off < total; off += n {
		out = append(out, [2]int64{off, min(n, total-off)})
	}
	return out
}

func TestReadWriteAcrossFiles(t *testing.T) {
	info := crossInfo()
	data := content(info.TotalLength())
	expect := want(info, data)
	reversed := chunks(41, 5)
	slices.Reverse(reversed)
	patterns := []struct {
		name   string
		writes [][2]int64 // offset, length
	}{
		{"whole torrent", [][2]int64{{0, 41}}},
		{"by piece", [][2]int64{{0, 32}, {32, 9}}},
		{"blocks of 7", chunks(41, 7)},
		{"reverse blocks of 5", reversed},
		{"straddling a, empty, padding and b", [][2]int64{{8, 12}, {0, 8}, {20, 21}}},
		{"one byte at a time", chunks(41, 1)},
	}
	for bname, newStorage := range backends(t) {
		for _, pt := range patterns {
			t.Run(bname+"/"+pt.name, func(t *testing.T) {
				ts := open(t, newStorage(t), info)
				for _, w := range pt.writes {
					mustWrite(t, ts, data[w[0]:w[0]+w[1]], w[0])
				}
				if got := mustRead(t, ts, 41, 0); !bytes.Equal(got, expect) {
					t.Fatalf("whole read\n got %x\nwant %x", got, expect)
				}
				for _, r := range chunks(41, 3) {
					if got := mustRead(t, ts, int(r[1]), r[0]); !bytes.Equal(got, expect[r[0]:r[0]+r[1]]) {
						t.Fatalf("read %d+%d = %x, want %x", r[0], r[1], got, expect[r[0]:r[0]+r[1]])
					}
				}
			})
		}
	}
}

func TestReadUnwritten(t *testing.T) {
	info := crossInfo()
	data := content(41)
	for bname, newStorage := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			ts := open(t, newStorage(t), info)
			if got := mustRead(t, ts, 41, 0); !bytes.Equal(got, make([]byte, 41)) {
				t.Fatalf("fresh torrent reads %x, want zeros", got)
			}
			mustWrite(t, ts, data[12:20], 12) // the padding file and the start of b.bin
			got := mustRead(t, ts, 41, 0)
			w := make([]byte, 41)
			copy(w[16:20], data[16:20])
			if !bytes.Equal(got, w) {
				t.Fatalf("after a write into b.bin\n got %x\nwant %x", got, w)
			}
			// Past the end: io.ReaderAt's contract.
			p := make([]byte, 10)
			if n, err := ts.ReadAt(p, 36); n != 5 || err != io.EOF {
				t.Fatalf("ReadAt across the end = %d, %v; want 5, EOF", n, err)
			}
			if n, err := ts.ReadAt(p, 41); n != 0 || err != io.EOF {
				t.Fatalf("ReadAt at the end = %d, %v; want 0, EOF", n, err)
			}
			if _, err := ts.ReadAt(p, -1); !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("ReadAt(-1) error = %v, want ErrOutOfRange", err)
			}
		})
	}
}

func TestOutOfRange(t *testing.T) {
	info := crossInfo()
	for bname, newStorage := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			ts := open(t, newStorage(t), info)
			for _, w := range []struct{ off, n int64 }{{-1, 1}, {40, 2}, {41, 1}, {1 << 62, 1}} {
				if n, err := ts.WriteAt(make([]byte, w.n), w.off); n != 0 || !errors.Is(err, ErrOutOfRange) {
					t.Errorf("WriteAt(%d bytes, %d) = %d, %v; want ErrOutOfRange", w.n, w.off, n, err)
				}
			}
			for _, p := range []int{-1, 2} {
				if err := ts.MarkComplete(p, true); !errors.Is(err, ErrOutOfRange) {
					t.Errorf("MarkComplete(%d) = %v, want ErrOutOfRange", p, err)
				}
			}
		})
	}
}

func TestCompletePieceIsReadOnly(t *testing.T) {
	info := crossInfo()
	data := content(41)
	for bname, newStorage := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			ts := open(t, newStorage(t), info)
			mustWrite(t, ts, data, 0)
			mustComplete(t, ts, 0)
			for _, w := range []struct{ off, n int64 }{{0, 1}, {31, 1}, {30, 4}} {
				if n, err := ts.WriteAt(bytes.Repeat([]byte{0xee}, int(w.n)), w.off); n != 0 || !errors.Is(err, ErrPieceComplete) {
					t.Fatalf("WriteAt(%d bytes, %d) over a verified piece = %d, %v; want ErrPieceComplete", w.n, w.off, n, err)
				}
			}
			if got := mustRead(t, ts, 41, 0); !bytes.Equal(got, want(info, data)) {
				t.Fatal("a refused write changed verified data")
			}
			mustWrite(t, ts, []byte{0xee}, 32) // piece 1 is not complete
			if err := ts.MarkComplete(0, false); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, ts, []byte{0xee}, 0)
			if got := completed(t, ts); len(got) != 0 {
				t.Fatalf("completion = %v, want none", got)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	info := crossInfo()
	for bname, newStorage := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			ts, err := newStorage(t).OpenTorrent(info, hashOf("tor"))
			if err != nil {
				t.Fatal(err)
			}
			if err := ts.Close(); err != nil {
				t.Fatal(err)
			}
			if err := ts.Close(); err != nil {
				t.Fatalf("second Close = %v", err)
			}
			p := make([]byte, 4)
			checks := map[string]error{
				"ReadAt":           func() error { _, err := ts.ReadAt(p, 0); return err }(),
				"WriteAt":          func() error { _, err := ts.WriteAt(p, 0); return err }(),
				"Completion":       func() error { _, err := ts.Completion(); return err }(),
				"MarkComplete":     ts.MarkComplete(0, true),
				"ForgetCompletion": ts.ForgetCompletion(),
				"Flush":            ts.Flush(),
			}
			for name, err := range checks {
				if !errors.Is(err, ErrClosed) {
					t.Errorf("%s after Close = %v, want ErrClosed", name, err)
				}
			}
		})
	}
}

func TestPiece(t *testing.T) {
	info := crossInfo()
	data := content(41)
	for bname, newStorage := range backends(t) {
		t.Run(bname, func(t *testing.T) {
			ts := open(t, newStorage(t), info)
			p1, err := PieceOf(ts, info, 1)
			if err != nil {
				t.Fatal(err)
			}
			if p1.Index() != 1 || p1.Size() != 9 || p1.Offset() != 32 {
				t.Fatalf("piece 1 = index %d size %d offset %d, want 1, 9, 32", p1.Index(), p1.Size(), p1.Offset())
			}
			if _, err := p1.WriteAt(data[32:41], 0); err != nil {
				t.Fatal(err)
			}
			if _, err := p1.WriteAt(make([]byte, 2), 8); !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("write past the piece = %v, want ErrOutOfRange", err)
			}
			buf := make([]byte, 16)
			n, err := p1.ReadAt(buf, 2)
			if n != 7 || err != io.EOF || !bytes.Equal(buf[:7], data[34:41]) {
				t.Fatalf("ReadAt = %d, %v, %x", n, err, buf[:n])
			}
			if err := p1.MarkComplete(true); err != nil {
				t.Fatal(err)
			}
			if got := completed(t, ts); !slices.Equal(got, []int{1}) {
				t.Fatalf("completion = %v, want [1]", got)
			}
			if _, err := PieceOf(ts, info, 2); !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("PieceOf(2) = %v, want ErrOutOfRange", err)
			}
		})
	}
}

func TestBadInfo(t *testing.T) {
	bad := crossInfo()
	bad.Pieces = bad.Pieces[:20] // 1 piece hash for 2 pieces
	zero := crossInfo()
	zero.PieceLength = 0
	for bname, newStorage := range backends(t) {
		for name, info := range map[string]*metainfo.Info{"piece count": bad, "piece length": zero, "nil": nil} {
			t.Run(bname+"/"+name, func(t *testing.T) {
				if _, err := newStorage(t).OpenTorrent(info, hashOf("x")); !errors.Is(err, ErrBadInfo) {
					t.Fatalf("OpenTorrent = %v, want ErrBadInfo", err)
				}
			})
		}
	}
}

// TestConcurrentIO writes and reads disjoint blocks from many goroutines,
// across many files and with few open files, so that eviction runs while
// other goroutines do I/O (run with -race).
func TestConcurrentIO(t *testing.T) {
	const nFiles, fileLen, block = 40, 3000, 1000
	var specs []fileSpec
	for i := range nFiles {
		specs = append(specs, fileSpec{path: fmt.Sprintf("d%d/f%d", i%4, i), length: fileLen})
	}
	info := multiInfo("many", 4096, specs...)
	data := content(info.TotalLength())
	stores := map[string]Storage{
		"file":   NewFileConfig(t.TempDir(), FileConfig{MaxOpenFiles: 3}),
		"memory": NewMemory(),
	}
	for bname, s := range stores {
		t.Run(bname, func(t *testing.T) {
			ts := open(t, s, info)
			blocks := chunks(info.TotalLength(), block)
			const workers = 8
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, block)
					for i := w; i < len(blocks); i += workers {
						off, n := blocks[i][0], blocks[i][1]
						if _, err := ts.WriteAt(data[off:off+n], off); err != nil {
							errs <- err
							return
						}
						if _, err := ts.ReadAt(buf[:n], off); err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(buf[:n], data[off:off+n]) {
							errs <- fmt.Errorf("block at %d reads back wrong", off)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			var mwg sync.WaitGroup
			for p := range info.NumPieces() {
				mwg.Add(1)
				go func() { defer mwg.Done(); ts.MarkComplete(p, true) }()
			}
			mwg.Wait()
			if got := mustRead(t, ts, len(data), 0); !bytes.Equal(got, data) {
				t.Fatal("torrent reads back wrong")
			}
			if n := len(completed(t, ts)); n != info.NumPieces() {
				t.Fatalf("%d pieces complete, want %d", n, info.NumPieces())
			}
		})
	}
}

func TestBitfield(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 64, 65, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			f := NewBitfield(n)
			if f.Len() != n || f.Count() != 0 || len(f.Bytes()) != (n+7)/8 {
				t.Fatalf("NewBitfield(%d): len %d count %d bytes %d", n, f.Len(), f.Count(), len(f.Bytes()))
			}
			c := newCompletion(n)
			for i := 0; i < n; i += 3 {
				f.Set(i, true)
				c.set(i, true)
			}
			if n > 0 {
				f.Set(0, false)
				c.set(0, false)
			}
			if !bytes.Equal(f.Bytes(), c.bitfield().Bytes()) {
				t.Fatalf("Bitfield %x != completion %x", f.Bytes(), c.bitfield().Bytes())
			}
			count := 0
			for i := range n {
				if f.Has(i) != (i%3 == 0 && i != 0) {
					t.Fatalf("Has(%d) = %v", i, f.Has(i))
				}
				if f.Has(i) {
					count++
				}
			}
			if f.Count() != count || f.Has(-1) || f.Has(n) {
				t.Fatalf("Count %d want %d; Has(-1) %v Has(n) %v", f.Count(), count, f.Has(-1), f.Has(n))
			}
		})
	}
	f := NewBitfield(10)
	f.Set(0, true)
	f.Set(9, true)
	if !bytes.Equal(f.Bytes(), []byte{0x80, 0x40}) {
		t.Fatalf("wire order: %x, want 8040", f.Bytes())
	}
}
