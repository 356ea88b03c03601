package storage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// acquire returns df's open file, opening it first if needed, and pins it
// so that eviction leaves it open until release. For a read of a file that
// does not exist yet it returns nil and no error; for a write it creates the
// file and its folders. Opens are rare (once per file, or after eviction),
// so they happen under t.mu; the I/O itself never does.
func (t *fileTorrent) acquire(df *diskFile, write bool) (*os.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil, ErrClosed
	}
	t.tick++
	df.lastUse = t.tick
	if df.f == nil {
		if err := t.openLocked(df, write); err != nil || df.f == nil {
			return nil, err
		}
	} else if write && df.readOnly {
		return nil, fileError("writing", df.rel, fs.ErrPermission)
	}
	df.refs++
	return df.f, nil
}

// release unpins a file pinned by acquire.
func (t *fileTorrent) release(df *diskFile) {
	t.mu.Lock()
	df.refs--
	t.mu.Unlock()
}

// openLocked opens df read-write (read-only when only reading a file we
// may not write, as when seeding someone else's files), creating it for a
// write. t.mu is held.
func (t *fileTorrent) openLocked(df *diskFile, write bool) error {
	if !df.checked {
		if err := checkNoSymlink(t.root, df.rel); err != nil {
			return err
		}
		df.checked = true
	}
	readOnly := false
	f, err := t.root.OpenFile(df.rel, os.O_RDWR, 0)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		if !write {
			return nil
		}
		if dir := filepath.Dir(df.rel); dir != "." {
			if err := t.root.MkdirAll(dir, dirPerm); err != nil {
				return fileError("creating the folder of", df.rel, err)
			}
		}
		f, err = t.root.OpenFile(df.rel, os.O_RDWR|os.O_CREATE, filePerm)
		if err == nil && !df.unwanted.Load() {
			preallocate(f, df.length)
		}
	case !write && (errors.Is(err, fs.ErrPermission) || isReadOnly(err)):
		f, err = t.root.OpenFile(df.rel, os.O_RDONLY, 0)
		readOnly = true
	}
	if err != nil {
		return fileError("opening", df.rel, err)
	}
	t.evictLocked()
	df.f, df.readOnly = f, readOnly
	t.openFiles = append(t.openFiles, df)
	return nil
}

// evictLocked closes least recently used files until there is room for one
// more. Files with I/O in flight stay open: when all are busy the bound is
// exceeded until they are released. t.mu is held.
func (t *fileTorrent) evictLocked() {
	for len(t.openFiles) >= t.cfg.MaxOpenFiles {
		victim := -1
		for j, df := range t.openFiles {
			if df.refs == 0 && (victim < 0 || df.lastUse < t.openFiles[victim].lastUse) {
				victim = j
			}
		}
		if victim < 0 {
			return
		}
		df := t.openFiles[victim]
		if err := df.f.Close(); err != nil && t.closeErr == nil {
			t.closeErr = fileError("closing", df.rel, err)
		}
		df.f = nil
		last := len(t.openFiles) - 1
		t.openFiles[victim] = t.openFiles[last]
		t.openFiles[last] = nil
		t.openFiles = t.openFiles[:last]
	}
}

// openCount returns the number of open files (for tests).
func (t *fileTorrent) openCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.openFiles)
}

// sizeReaches reports whether f is longer than off.
func sizeReaches(f *os.File, off int64) bool {
	st, err := f.Stat()
	return err == nil && st.Size() > off
}
