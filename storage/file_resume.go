package storage

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// resumeName returns the sidecar's path below the download folder.
func (t *fileTorrent) resumeName() string {
	return filepath.Join(resumeDirName, t.infoHash.String()+resumeSuffix)
}

// loadResume stamps every file as it is now and trusts the sidecar's
// bitfield except for pieces that touch a file whose stamp changed. It runs
// in OpenTorrent, before t is shared.
func (t *fileTorrent) loadResume() {
	// The stamps taken now are also what the next save records for the files
	// this run does not write.
	t.stamps = make([]fileStamp, len(t.files))
	for i := range t.files {
		t.stamps[i] = t.stat(i)
	}
	d := t.readResume()
	if d == nil {
		return
	}
	t.sidecarExists = true
	t.comp.loadWire(d.bitfield)
	for i := range t.files {
		if t.files[i].padding || d.files[i] == t.stamps[i] {
			continue
		}
		first, end := t.l.filePieces(i)
		for p := first; p < end; p++ {
			if t.comp.set(p, false) {
				t.compDirty.Store(true)
			}
		}
	}
}

// readResume reads and checks the sidecar; it returns nil when there is
// none or it is unusable (damaged, or for another torrent).
func (t *fileTorrent) readResume() *resumeData {
	f, err := t.root.Open(t.resumeName())
	if err != nil {
		return nil
	}
	defer f.Close()
	// Read one byte more than expected, so that a longer file fails to
	// decode instead of being read without bound.
	b := make([]byte, resumeSize(t.l.numPieces, len(t.files))+1)
	n, _ := io.ReadFull(f, b)
	d, err := decodeResume(b[:n])
	if err != nil || d.infoHash != t.infoHash || d.numPieces != t.l.numPieces || len(d.files) != len(t.files) {
		return nil
	}
	return d
}

// stat returns file i's stamp as it is on disk now.
func (t *fileTorrent) stat(i int) fileStamp {
	df := &t.files[i]
	if df.padding {
		return fileStamp{}
	}
	fi, err := t.root.Lstat(df.rel)
	if err != nil || !fi.Mode().IsRegular() {
		return missingStamp
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// saveLocked writes the sidecar if the completion or a file changed since
// the last save. t.saveMu is held.
//
// The order matters: the bitfield is taken first, so every piece it holds
// was written before the files are synced (with Sync) and stamped; a write
// after a file's stamp marks it written again and it is stamped at the next
// save. A stale stamp can only drop pieces at the next open, never keep a
// piece whose bytes changed.
func (t *fileTorrent) saveLocked() error {
	if t.closed.Load() {
		return ErrClosed
	}
	compDirty := t.compDirty.Swap(false)
	dataDirty := t.dataDirty.Swap(false)
	if !compDirty && !dataDirty {
		return nil
	}
	t.lastSave = time.Now()
	t.bits = t.comp.appendWire(t.bits[:0])
	var errs []error
	for i := range t.files {
		df := &t.files[i]
		if !df.written.Swap(false) {
			continue
		}
		if t.cfg.Sync {
			if err := t.syncFile(df); err != nil {
				df.written.Store(true)
				errs = append(errs, err)
				continue
			}
		}
		t.stamps[i] = t.stat(i)
	}
	if len(errs) > 0 {
		// The data is not known to be on disk: keep the old sidecar.
		t.compDirty.Store(true)
		t.dataDirty.Store(true)
		return errors.Join(errs...)
	}
	if !t.sidecarExists && allZero(t.bits) {
		return nil // nothing verified yet: no sidecar needed
	}
	t.buf = appendResume(t.buf[:0], t.infoHash, t.l.numPieces, t.bits, t.stamps)
	if err := t.writeSidecar(t.buf); err != nil {
		t.compDirty.Store(true)
		return err
	}
	return nil
}

// writeSidecar replaces the sidecar atomically: a reader (or the next
// OpenTorrent after a crash) sees the old file or the new one, never half.
func (t *fileTorrent) writeSidecar(b []byte) error {
	name := t.resumeName()
	tmp := name + ".tmp"
	if err := t.root.MkdirAll(resumeDirName, dirPerm); err != nil {
		return fileError("creating", resumeDirName, err)
	}
	f, err := t.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return fileError("creating", tmp, err)
	}
	_, err = f.Write(b)
	if err == nil && t.cfg.Sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = t.root.Rename(tmp, name)
	}
	if err != nil {
		_ = t.root.Remove(tmp)
		return fileError("writing", name, err)
	}
	if t.cfg.Sync {
		// Make the rename durable. Best effort: not every system can sync a
		// folder (Windows cannot open one for it), and the sidecar is only a
		// cache of work done.
		if d, err := t.root.Open(resumeDirName); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
	}
	t.sidecarExists = true
	return nil
}

// syncFile fsyncs a file, reopening it if it was evicted (fsync applies to
// the file, whichever descriptor it comes through).
func (t *fileTorrent) syncFile(df *diskFile) error {
	f, err := t.acquire(df, false)
	if err != nil || f == nil {
		return err
	}
	err = f.Sync()
	t.release(df)
	if err != nil {
		return fileError("syncing", df.rel, err)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

var _ Refresher = (*fileTorrent)(nil)

// Refresh implements Refresher. A missing file loses all its pieces; a file
// shorter than the torrent says loses the pieces past its end; a file that
// someone else changed (its stamp moved while this run did not write it)
// loses all its pieces. Cached descriptors of those files are closed, so the
// next I/O opens what is there now.
func (t *fileTorrent) Refresh() (int, error) {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	if t.closed.Load() {
		return 0, ErrClosed
	}
	lost := 0
	for i := range t.files {
		df := &t.files[i]
		s := t.l.spans[i]
		if df.padding || s.length == 0 {
			continue
		}
		now := t.stat(i)
		first, end := t.l.filePieces(i)
		from := first
		switch {
		case now == missingStamp:
		case now.size < s.length:
			from, _ = t.l.pieces(s.off+now.size, 1)
		case now != t.stamps[i] && !df.written.Load():
		default:
			continue
		}
		for p := from; p < end; p++ {
			if t.comp.set(p, false) {
				lost++
				t.compDirty.Store(true)
			}
		}
		t.stamps[i] = now
		t.dropCached(df)
	}
	if lost > 0 {
		return lost, t.saveLocked()
	}
	return 0, nil
}

// dropCached closes df's cached descriptor, unless I/O is in flight on it.
func (t *fileTorrent) dropCached(df *diskFile) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if df.f == nil || df.refs > 0 {
		return
	}
	df.f.Close()
	df.f = nil
	for k, o := range t.openFiles {
		if o == df {
			t.openFiles = append(t.openFiles[:k], t.openFiles[k+1:]...)
			break
		}
	}
}
