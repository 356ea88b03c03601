package storage

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
)

// fileSpec describes one file of a hand-built torrent.
type fileSpec struct {
	path   string // slash-separated
	length int64
	attr   string
}

// multiInfo builds a multi-file Info named name without Validate, so tests
// can also build torrents Validate would refuse.
func multiInfo(name string, pieceLength int64, files ...fileSpec) *metainfo.Info {
	info := &metainfo.Info{Name: name, PieceLength: pieceLength}
	var total int64
	for _, f := range files {
		info.Files = append(info.Files, metainfo.FileInfo{Length: f.length, Path: strings.Split(f.path, "/"), Attr: f.attr})
		total += f.length
	}
	info.Pieces = make([]byte, metainfo.HashSize*int((total+pieceLength-1)/pieceLength))
	return info
}

// singleInfo builds a single-file Info.
func singleInfo(name string, pieceLength, length int64) *metainfo.Info {
	return &metainfo.Info{
		Name: name, PieceLength: pieceLength, Length: length,
		Pieces: make([]byte, metainfo.HashSize*int((length+pieceLength-1)/pieceLength)),
	}
}

// hashOf returns a distinct info hash per name.
func hashOf(name string) (h metainfo.Hash) {
	copy(h[:], name)
	h[19] = 0xa5
	return h
}

// content returns n bytes that differ at every offset in a way a shifted
// copy would not reproduce.
func content(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8 + 1)
	}
	return b
}

// want returns what reading the whole torrent must give after writing data:
// data with padding files zeroed.
func want(info *metainfo.Info, data []byte) []byte {
	w := bytes.Clone(data)
	for _, f := range info.FileList() {
		if f.IsPadding() {
			clear(w[f.Offset : f.Offset+f.Length])
		}
	}
	return w
}

// backends lists the backends that every behaviour test runs against.
func backends(t *testing.T) map[string]func(t *testing.T) Storage {
	return map[string]func(t *testing.T) Storage{
		"file":   func(t *testing.T) Storage { return NewFile(t.TempDir()) },
		"memory": func(t *testing.T) Storage { return NewMemory() },
	}
}

func open(t *testing.T, s Storage, info *metainfo.Info) TorrentStorage {
	t.Helper()
	ts, err := s.OpenTorrent(info, hashOf(info.Name))
	if err != nil {
		t.Fatalf("OpenTorrent: %v", err)
	}
	t.Cleanup(func() { ts.Close() })
	return ts
}

func mustWrite(t *testing.T, ts TorrentStorage, p []byte, off int64) {
	t.Helper()
	if n, err := ts.WriteAt(p, off); err != nil || n != len(p) {
		t.Fatalf("WriteAt(%d bytes, %d) = %d, %v", len(p), off, n, err)
	}
}

func mustRead(t *testing.T, ts TorrentStorage, n int, off int64) []byte {
	t.Helper()
	p := make([]byte, n)
	if m, err := ts.ReadAt(p, off); err != nil || m != n {
		t.Fatalf("ReadAt(%d bytes, %d) = %d, %v", n, off, m, err)
	}
	return p
}

func mustComplete(t *testing.T, ts TorrentStorage, pieces ...int) {
	t.Helper()
	for _, p := range pieces {
		if err := ts.MarkComplete(p, true); err != nil {
			t.Fatalf("MarkComplete(%d): %v", p, err)
		}
	}
}

// completed returns the indexes of the complete pieces.
func completed(t *testing.T, ts TorrentStorage) []int {
	t.Helper()
	bf, err := ts.Completion()
	if err != nil {
		t.Fatalf("Completion: %v", err)
	}
	var out []int
	for i := range bf.Len() {
		if bf.Has(i) {
			out = append(out, i)
		}
	}
	return out
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dirEntries lists every path below dir, for "nothing else was created"
// checks.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var _ io.ReaderAt = TorrentStorage(nil)
var _ io.WriterAt = TorrentStorage(nil)
