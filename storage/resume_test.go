package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
)

// resumeInfo has files that share pieces: x is pieces 0-1, y is pieces 1-2,
// z is piece 3.
func resumeInfo() *metainfo.Info {
	return multiInfo("tor", 16,
		fileSpec{path: "x", length: 24},
		fileSpec{path: "d/y", length: 24},
		fileSpec{path: "z", length: 16},
	)
}

// downloaded writes the whole torrent into dir, marks pieces complete and
// closes it.
func downloaded(t *testing.T, dir string, cfg FileConfig, info *metainfo.Info, pieces ...int) {
	t.Helper()
	ts, err := NewFileConfig(dir, cfg).OpenTorrent(info, hashOf(info.Name))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, ts, content(info.TotalLength()), 0)
	mustComplete(t, ts, pieces...)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
}

// reopened opens the torrent in dir again, returns its completion and
// closes it (which rewrites the sidecar if pieces were dropped).
func reopened(t *testing.T, dir string, info *metainfo.Info) []int {
	t.Helper()
	ts, err := NewFile(dir).OpenTorrent(info, hashOf(info.Name))
	if err != nil {
		t.Fatal(err)
	}
	got := completed(t, ts)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestResumeRoundTrip(t *testing.T) {
	info := resumeInfo()
	for _, c := range []struct {
		name   string
		cfg    FileConfig
		pieces []int
	}{
		{"none", FileConfig{}, nil},
		{"some", FileConfig{}, []int{0, 2}},
		{"all", FileConfig{}, []int{0, 1, 2, 3}},
		{"all with sync", FileConfig{Sync: true}, []int{0, 1, 2, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			downloaded(t, dir, c.cfg, info, c.pieces...)
			if got := reopened(t, dir, info); !slices.Equal(got, c.pieces) {
				t.Fatalf("after reopening, complete = %v, want %v", got, c.pieces)
			}
			// A second round trip without changes keeps it too.
			if got := reopened(t, dir, info); !slices.Equal(got, c.pieces) {
				t.Fatalf("after reopening twice, complete = %v, want %v", got, c.pieces)
			}
			// Another torrent in the same folder starts from nothing.
			other := resumeInfo()
			if got := completed(t, open(t, NewFile(dir), other)); len(got) != len(c.pieces) {
				t.Fatalf("same info hash: %v", got)
			}
			ts, err := NewFile(dir).OpenTorrent(info, hashOf("another"))
			if err != nil {
				t.Fatal(err)
			}
			defer ts.Close()
			if got := completed(t, ts); len(got) != 0 {
				t.Fatalf("another info hash sees %v", got)
			}
		})
	}
}

func TestResumeInvalidation(t *testing.T) {
	info := resumeInfo()
	later := time.Now().Add(time.Hour)
	cases := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   []int
	}{
		{"nothing", func(t *testing.T, dir string) {}, []int{0, 1, 2, 3}},
		{"x grew", func(t *testing.T, dir string) { appendTo(t, filepath.Join(dir, "tor/x")) }, []int{2, 3}},
		{"y touched", func(t *testing.T, dir string) {
			if err := os.Chtimes(filepath.Join(dir, "tor/d/y"), later, later); err != nil {
				t.Fatal(err)
			}
		}, []int{0, 3}},
		{"z removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "tor/z")); err != nil {
				t.Fatal(err)
			}
		}, []int{0, 1, 2}},
		{"z truncated", func(t *testing.T, dir string) {
			if err := os.Truncate(filepath.Join(dir, "tor/z"), 3); err != nil {
				t.Fatal(err)
			}
		}, []int{0, 1, 2}},
		{"y replaced by a folder", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "tor/d/y")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}, []int{0, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			downloaded(t, dir, FileConfig{}, info, 0, 1, 2, 3)
			c.change(t, dir)
			if got := reopened(t, dir, info); !slices.Equal(got, c.want) {
				t.Fatalf("complete = %v, want %v", got, c.want)
			}
			// The dropped pieces stay dropped: the sidecar was rewritten
			// (or will be) with the new stamps and without them.
			if got := reopened(t, dir, info); !slices.Equal(got, c.want) {
				t.Fatalf("second reopen: complete = %v, want %v", got, c.want)
			}
		})
	}
}

func appendTo(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("!")); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptSidecar(t *testing.T) {
	info := resumeInfo()
	cases := []struct {
		name    string
		corrupt func(b []byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"last byte missing", func(b []byte) []byte { return b[:len(b)-1] }},
		{"extra byte", func(b []byte) []byte { return append(b, 0) }},
		{"bit flipped in the bitfield", func(b []byte) []byte { b[resumeHeaderSize] ^= 0x10; return b }},
		{"bit flipped in a stamp", func(b []byte) []byte { b[len(b)-6] ^= 1; return b }},
		{"garbage", func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, len(b)) }},
		{"wrong version", func(b []byte) []byte { b[4] = 9; return b }},
		{"huge", func(b []byte) []byte { return make([]byte, 1<<20) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			downloaded(t, dir, FileConfig{}, info, 0, 1, 2, 3)
			path := filepath.Join(dir, resumeDirName, hashOf("tor").String()+resumeSuffix)
			if err := os.WriteFile(path, c.corrupt(readFile(t, path)), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := reopened(t, dir, info); len(got) != 0 {
				t.Fatalf("a damaged sidecar was trusted: complete = %v", got)
			}
		})
	}
	t.Run("sidecar of another torrent", func(t *testing.T) {
		dir := t.TempDir()
		downloaded(t, dir, FileConfig{}, info, 0, 1, 2, 3)
		side := filepath.Join(dir, resumeDirName)
		b := readFile(t, filepath.Join(side, hashOf("tor").String()+resumeSuffix))
		if err := os.WriteFile(filepath.Join(side, hashOf("other").String()+resumeSuffix), b, 0o644); err != nil {
			t.Fatal(err)
		}
		ts, err := NewFile(dir).OpenTorrent(info, hashOf("other"))
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close()
		if got := completed(t, ts); len(got) != 0 {
			t.Fatalf("complete = %v, want none", got)
		}
	})
}

// TestResumeAfterKill saves from MarkComplete (as a download does every
// ResumeSaveInterval) and reopens without Close, as after kill -9.
func TestResumeAfterKill(t *testing.T) {
	dir := t.TempDir()
	info := resumeInfo()
	data := content(64)
	ts := open(t, NewFile(dir), info)
	ft := ts.(*fileTorrent)
	ft.saveInterval = 0 // every MarkComplete saves
	mustWrite(t, ts, data[:32], 0)
	mustComplete(t, ts, 0)
	ft.saveInterval = time.Hour // later completions stay in memory only
	mustComplete(t, ts, 1)
	mustWrite(t, ts, data[48:], 48)
	mustComplete(t, ts, 3)

	got := reopened(t, dir, info) // the first handle is never closed
	// Piece 0 was saved with x's stamp, and nothing touched x since (piece
	// 3 lives in z): it is kept. Pieces 1 and 3 were never saved.
	if !slices.Equal(got, []int{0}) {
		t.Fatalf("after a kill, complete = %v, want [0]", got)
	}
}

// TestResumeWritesAfterSave writes into a file after a periodic save that
// recorded it: Close must record the file's new stamp, or the next open
// would drop the pieces it verified.
func TestResumeWritesAfterSave(t *testing.T) {
	dir := t.TempDir()
	info := resumeInfo()
	data := content(64)
	ts, err := NewFile(dir).OpenTorrent(info, hashOf("tor"))
	if err != nil {
		t.Fatal(err)
	}
	ft := ts.(*fileTorrent)
	ft.saveInterval = 0
	mustWrite(t, ts, data[:16], 0)
	mustComplete(t, ts, 0) // saved, with x's stamp after this write
	ft.saveInterval = time.Hour
	later := time.Now().Add(time.Hour) // mtimes can be coarse: make the change visible
	mustWrite(t, ts, data[16:], 16)
	if err := os.Chtimes(filepath.Join(dir, "tor/x"), later, later); err != nil {
		t.Fatal(err)
	}
	mustComplete(t, ts, 1, 2, 3)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if got := reopened(t, dir, info); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("complete = %v, want all", got)
	}
}

func TestForgetCompletion(t *testing.T) {
	dir := t.TempDir()
	info := resumeInfo()
	downloaded(t, dir, FileConfig{}, info, 0, 1, 2, 3)
	ts := open(t, NewFile(dir), info)
	if err := ts.ForgetCompletion(); err != nil {
		t.Fatal(err)
	}
	if got := completed(t, ts); len(got) != 0 {
		t.Fatalf("complete = %v after ForgetCompletion", got)
	}
	// Saved at once: a second handle (or a restart after a kill) agrees.
	if got := reopened(t, dir, info); len(got) != 0 {
		t.Fatalf("after reopening, complete = %v", got)
	}
}

func TestMarkIncompleteIsSaved(t *testing.T) {
	dir := t.TempDir()
	info := resumeInfo()
	downloaded(t, dir, FileConfig{}, info, 0, 1, 2, 3)
	ts, err := NewFile(dir).OpenTorrent(info, hashOf("tor"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.MarkComplete(2, false); err != nil { // a failed re-check
		t.Fatal(err)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if got := reopened(t, dir, info); !slices.Equal(got, []int{0, 1, 3}) {
		t.Fatalf("complete = %v, want [0 1 3]", got)
	}
}

func TestResumeEncodeDecode(t *testing.T) {
	for _, n := range []int{0, 1, 8, 13} {
		bf := NewBitfield(n)
		for i := 0; i < n; i += 2 {
			bf.Set(i, true)
		}
		files := []fileStamp{{size: 5, mtime: 123}, missingStamp, {}}
		b := appendResume(nil, hashOf("t"), n, bf.Bytes(), files)
		if len(b) != resumeSize(n, len(files)) {
			t.Fatalf("%d pieces: encoded %d bytes, resumeSize says %d", n, len(b), resumeSize(n, len(files)))
		}
		d, err := decodeResume(b)
		if err != nil {
			t.Fatalf("%d pieces: %v", n, err)
		}
		if d.infoHash != hashOf("t") || d.numPieces != n || !bytes.Equal(d.bitfield, bf.Bytes()) || !slices.Equal(d.files, files) {
			t.Fatalf("%d pieces: decoded %+v", n, d)
		}
	}
}
