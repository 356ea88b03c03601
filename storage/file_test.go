package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
)

func TestFileLayoutOnDisk(t *testing.T) {
	dir := t.TempDir()
	info := crossInfo()
	data := content(41)
	ts := open(t, NewFile(dir), info)
	mustWrite(t, ts, data, 0)
	mustComplete(t, ts, 0, 1)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		want []byte
	}{
		{"tor/a.bin", data[0:10]},
		{"tor/empty.txt", []byte{}}, // created when its piece completed
		{"tor/b.bin", data[16:36]},
		{"tor/sub/c.bin", data[36:41]},
	} {
		if got := readFile(t, filepath.Join(dir, f.path)); !bytes.Equal(got, f.want) {
			t.Errorf("%s = %x, want %x", f.path, got, f.want)
		}
	}
	if exists(t, filepath.Join(dir, "tor", ".pad")) {
		t.Error("the padding file was written to disk")
	}
	fi, err := os.Stat(filepath.Join(dir, "tor", "sub"))
	if err != nil || !fi.IsDir() {
		t.Fatalf("sub folder: %v", err)
	}
	if runtime.GOOS != "windows" {
		if m := fi.Mode().Perm(); m&^0o755 != 0 {
			t.Errorf("folder mode %v, want at most 0755", m)
		}
		fi, _ = os.Stat(filepath.Join(dir, "tor", "a.bin"))
		if m := fi.Mode().Perm(); m&^0o644 != 0 {
			t.Errorf("file mode %v, want at most 0644", m)
		}
	}
}

func TestSingleFileOnDisk(t *testing.T) {
	dir := t.TempDir()
	info := singleInfo("movie.mkv", 16, 40)
	data := content(40)
	ts := open(t, NewFile(dir), info)
	mustWrite(t, ts, data, 0)
	if err := ts.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "movie.mkv")); !bytes.Equal(got, data) {
		t.Fatalf("movie.mkv = %x", got)
	}
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"movie.mkv"}) {
		t.Fatalf("download folder holds %v, want only movie.mkv (no sidecar before a piece completes)", got)
	}
}

func TestLazyCreation(t *testing.T) {
	info := multiInfo("tor", 16,
		fileSpec{path: "x/one", length: 16},
		fileSpec{path: "x/two", length: 16},
		fileSpec{path: "y/three", length: 16},
		fileSpec{path: "y/empty", length: 0},
		fileSpec{path: "z/four", length: 16},
	)
	data := content(64)
	cases := []struct {
		name   string
		pieces []int    // written and marked complete
		want   []string // what the download folder holds afterwards
	}{
		{"nothing", nil, nil},
		{"second file only", []int{1}, []string{"tor", "tor/x", "tor/x/two"}},
		{"third file and the empty file after it", []int{2, 3}, []string{"tor", "tor/y", "tor/y/empty", "tor/y/three", "tor/z", "tor/z/four"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ts := open(t, NewFile(dir), info)
			if _, err := ts.Completion(); err != nil {
				t.Fatal(err)
			}
			for _, p := range c.pieces {
				mustWrite(t, ts, data[p*16:p*16+16], int64(p*16))
			}
			// Reading files that were never written creates nothing.
			mustRead(t, ts, 64, 0)
			mustComplete(t, ts, c.pieces...)
			if err := ts.Close(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range dirEntries(t, dir) {
				if !strings.HasPrefix(p, resumeDirName) {
					got = append(got, p)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("download folder holds %v, want %v", got, c.want)
			}
		})
	}
}

func TestUnsafePathsRefused(t *testing.T) {
	cases := []struct {
		name string
		info *metainfo.Info
	}{
		{"dot-dot component", multiInfo("tor", 16, fileSpec{path: "../escape", length: 4})},
		{"deep dot-dot", multiInfo("tor", 16, fileSpec{path: "a/../../escape", length: 4})},
		{"dot component", multiInfo("tor", 16, fileSpec{path: "./x", length: 4})},
		{"empty component", multiInfo("tor", 16, fileSpec{path: "a//b", length: 4})},
		{"backslash", multiInfo("tor", 16, fileSpec{path: `..\escape`, length: 4})},
		{"absolute", &metainfo.Info{Name: "tor", PieceLength: 16, Pieces: make([]byte, 20),
			Files: []metainfo.FileInfo{{Length: 4, Path: []string{"/etc", "passwd"}}}}},
		{"NUL", multiInfo("tor", 16, fileSpec{path: "a\x00b", length: 4})},
		{"drive letter", multiInfo("tor", 16, fileSpec{path: "C:evil", length: 4})},
		{"no path", &metainfo.Info{Name: "tor", PieceLength: 16, Pieces: make([]byte, 20),
			Files: []metainfo.FileInfo{{Length: 4}}}},
		{"dot-dot name", multiInfo("..", 16, fileSpec{path: "escape", length: 4})},
		{"single-file dot-dot name", singleInfo("..", 16, 4)},
		{"single-file name with separator", singleInfo("../escape", 16, 4)},
		{"resume folder as name", multiInfo(".swarmcast", 16, fileSpec{path: "x.resume", length: 4})},
		{"resume folder as single file", singleInfo(".SwarmCast", 16, 4)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outer := t.TempDir()
			dir := filepath.Join(outer, "downloads")
			ts, err := NewFile(dir).OpenTorrent(c.info, hashOf("bad"))
			if err == nil {
				ts.Close()
				t.Fatal("OpenTorrent accepted an unsafe path")
			}
			if !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("OpenTorrent = %v, want ErrUnsafePath", err)
			}
			if got := dirEntries(t, outer); len(got) != 0 {
				t.Fatalf("created %v", got)
			}
		})
	}
}

func TestSymlinkRefused(t *testing.T) {
	info := multiInfo("tor", 16, fileSpec{path: "sub/a.bin", length: 16}, fileSpec{path: "b.bin", length: 16})
	cases := []struct {
		name string
		link string // below dir, pointing to a folder or file outside
		file bool   // the link points to a file
		off  int64  // a write here goes through the link
	}{
		{"torrent folder", "tor", false, 0},
		{"sub folder", "tor/sub", false, 0},
		{"file", "tor/b.bin", true, 16},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			target := outside
			if c.file {
				target = filepath.Join(outside, "victim")
				if err := os.WriteFile(target, []byte("precious data!!!"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			link := filepath.Join(dir, filepath.FromSlash(c.link))
			if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, link); err != nil {
				t.Skipf("cannot create symlinks here: %v", err)
			}
			ts := open(t, NewFile(dir), info)
			if _, err := ts.WriteAt(content(16), c.off); !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("WriteAt through a link = %v, want ErrUnsafePath", err)
			}
			if _, err := ts.ReadAt(make([]byte, 16), c.off); !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("ReadAt through a link = %v, want ErrUnsafePath", err)
			}
			if c.file {
				if got := readFile(t, target); string(got) != "precious data!!!" {
					t.Fatalf("the link's target was changed: %q", got)
				}
			} else if got := dirEntries(t, outside); len(got) != 0 {
				t.Fatalf("wrote outside the download folder: %v", got)
			}
		})
	}
}

func TestManyFiles(t *testing.T) {
	const nFiles = 3*DefaultMaxOpenFiles + 5
	var specs []fileSpec
	for i := range nFiles {
		specs = append(specs, fileSpec{path: fmt.Sprintf("f%03d", i), length: 100})
	}
	info := multiInfo("many", 256, specs...)
	data := content(info.TotalLength())
	for _, max := range []int{0, 1, 7} {
		t.Run(fmt.Sprintf("max open %d", max), func(t *testing.T) {
			dir := t.TempDir()
			ts := open(t, NewFileConfig(dir, FileConfig{MaxOpenFiles: max}), info)
			bound := max
			if bound == 0 {
				bound = DefaultMaxOpenFiles
			}
			ft := ts.(*fileTorrent)
			for _, c := range chunks(int64(len(data)), 150) {
				mustWrite(t, ts, data[c[0]:c[0]+c[1]], c[0])
				if n := ft.openCount(); n > bound {
					t.Fatalf("%d files open, bound %d", n, bound)
				}
			}
			if got := mustRead(t, ts, len(data), 0); !bytes.Equal(got, data) {
				t.Fatal("reads back wrong")
			}
			if n := ft.openCount(); n > bound {
				t.Fatalf("%d files open, bound %d", n, bound)
			}
			if err := ts.Close(); err != nil {
				t.Fatal(err)
			}
			for i := range nFiles {
				if got := readFile(t, filepath.Join(dir, "many", fmt.Sprintf("f%03d", i))); !bytes.Equal(got, data[i*100:i*100+100]) {
					t.Fatalf("file %d is wrong", i)
				}
			}
		})
	}
}

// TestReadOnlyFile seeds from a file it may not write: reads work, a write
// fails with an error that names the file, and the file is unchanged.
func TestReadOnlyFile(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs Unix permissions that apply to the test's user (not root)")
	}
	dir := t.TempDir()
	data := content(32)
	path := filepath.Join(dir, "ro.bin")
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
	ts := open(t, NewFile(dir), singleInfo("ro.bin", 16, 32))
	if got := mustRead(t, ts, 32, 0); !bytes.Equal(got, data) {
		t.Fatal("reads back wrong")
	}
	_, err := ts.WriteAt([]byte("x"), 20)
	if err == nil || !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "ro.bin") {
		t.Fatalf("WriteAt = %v, want a permission error naming ro.bin", err)
	}
	if got := readFile(t, path); !bytes.Equal(got, data) {
		t.Fatal("the file changed")
	}
}

func TestFileErrorHints(t *testing.T) {
	cases := []struct {
		err  error
		hint string
	}{
		{errNoSpace, "free disk space"},
		{os.ErrPermission, "writable"},
		{errors.New("other"), "storage: writing a/b: other"},
	}
	for _, c := range cases {
		if got := fileError("writing", "a/b", c.err); !errors.Is(got, c.err) || !strings.Contains(got.Error(), c.hint) || !strings.Contains(got.Error(), "a/b") {
			t.Errorf("fileError(%v) = %v, want it to wrap the error, name a/b and say %q", c.err, got, c.hint)
		}
	}
}

func TestHasData(t *testing.T) {
	const k = 16 << 10
	info := multiInfo("t", k, fileSpec{"a", 4 * k, ""}, fileSpec{"b", 4 * k, ""})
	ts := open(t, NewFile(t.TempDir()), info)
	hd := ts.(DataPresence)
	if hd.HasData(0, 8*k) {
		t.Fatal("a fresh torrent has data")
	}
	mustWrite(t, ts, []byte("xy"), 5*k) // file b, one piece in
	for _, c := range []struct {
		off, n int64
		want   bool
	}{{0, 4 * k, false}, {4 * k, k + 5, true}, {5 * k, k, true}, {0, 8 * k, true}, {6 * k, 2 * k, false}, {8 * k, k, false}} {
		if got := hd.HasData(c.off, c.n); got != c.want {
			t.Errorf("HasData(%d, %d) = %v, want %v", c.off, c.n, got, c.want)
		}
	}
}
