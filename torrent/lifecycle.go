package torrent

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/swarmcast/swarmcast/internal/picker"
	"github.com/swarmcast/swarmcast/storage"
)

// ErrStopped is the error of a torrent stopped by Stop.
var ErrStopped = errors.New("torrent: stopped")

// Stop pauses the torrent: its connections close, trackers hear "stopped",
// no peer is dialled or accepted, and readers waiting for data get
// ErrStopped. Verified data and resume state stay; Start resumes.
func (t *Torrent) Stop() error {
	if !t.do(func() { t.fail(ErrStopped) }) {
		return ErrClosed
	}
	return nil
}

// Start resumes a torrent stopped by Stop or by an error (a full disk, a
// file deleted under it). It looks at the stored data again: pieces whose
// data is gone are downloaded again, nothing verified that is still there is
// lost. Starting a running torrent does nothing.
func (t *Torrent) Start() error {
	var err error
	if !t.do(func() { err = t.restart() }) {
		return ErrClosed
	}
	return err
}

// restart clears the error state. Owner goroutine.
func (t *Torrent) restart() error {
	if t.err == nil {
		return nil
	}
	if t.store != nil {
		if err := t.refreshStorage(); err != nil {
			return err
		}
	}
	t.err = nil
	t.errPtr.Store(nil)
	t.paused.Store(false)
	t.clearNotice("error")
	if t.info != nil {
		// Pieces whose verification the error cut short are verified
		// again, and so are pieces storage no longer vouches for whose
		// data is there (a file put back): nothing verified is lost.
		for i, st := range t.partial {
			if st.Hashing {
				t.hashPiece(i, false)
			}
		}
		t.verifyAll()
		t.updatePiecePriorities()
	}
	t.wakeAnnouncers()
	t.dialMore()
	t.broadcast()
	return nil
}

// refreshStorage asks storage which verified pieces are still there and
// forgets the others.
func (t *Torrent) refreshStorage() error {
	r, ok := t.store.(storage.Refresher)
	if !ok {
		return nil
	}
	lost, err := r.Refresh()
	if err != nil {
		return fmt.Errorf("torrent %s: %w", t.Name(), err)
	}
	if lost == 0 {
		return nil
	}
	done, err := t.store.Completion()
	if err != nil {
		return fmt.Errorf("torrent %s: %w", t.Name(), err)
	}
	for i := 0; i < t.info.NumPieces(); i++ {
		if t.have.Get(i) && !done.Has(i) {
			t.unmarkHave(i)
		}
	}
	t.c.cfg.Logger.Info("pieces lost from storage; downloading them again", "torrent", t.Name(), "pieces", lost)
	return nil
}

// unmarkHave forgets a piece we had (its data is gone).
func (t *Torrent) unmarkHave(i int) {
	if t.have.Get(i) && t.basePrio[i] != picker.None {
		t.left += t.info.PieceSize(i)
	}
	t.have.Clear(i)
	t.picker.SetHave(i, false)
	t.haveAtomic[i/32].And(^uint32(1 << (i % 32)))
}

// Recheck verifies every piece again from storage, as after a crash or when
// files were changed outside the engine. Pieces that verify stay; the rest
// are downloaded again. It returns once the check has started; Stats reports
// Checking until it ends.
func (t *Torrent) Recheck() error {
	var err error
	if !t.do(func() {
		if t.info == nil {
			err = errors.New("torrent: cannot recheck before the info is known")
			return
		}
		// Recorded by the disk worker, in order: marks queued before are
		// forgotten, and those not yet queued are dropped here; a piece
		// verified again is recorded after.
		t.marks = t.marks[:0]
		t.submitDisk(diskJob{kind: diskForget})
		for i := 0; i < t.info.NumPieces(); i++ {
			if t.have.Get(i) {
				t.unmarkHave(i)
			}
		}
		for _, st := range append([]*pieceState(nil), t.active...) {
			t.endPiece(st.Index)
		}
		for p := range t.peers {
			t.releaseRequests(p)
		}
		t.verifyAll()
		t.updateLeft()
		t.broadcast()
	}) {
		return ErrClosed
	}
	return err
}

// isTransient reports whether an error passes by itself, so the operation
// is worth trying again (an accept, a disk read or write) rather than
// stopping: out of descriptors or buffers, a connection aborted before it
// was accepted, an interrupted or would-block call.
func isTransient(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.EAGAIN) ||
		errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// diskError handles an I/O error of ours (never a peer's fault): a passing
// one is logged and the operation is left to be retried; any other stops
// the torrent in an error state that Start leaves.
func (t *Torrent) diskError(what string, err error) {
	if isTransient(err) {
		t.c.cfg.Logger.Warn("disk busy; will retry", "torrent", t.Name(), "op", what, "err", err)
		return
	}
	t.fail(fmt.Errorf("torrent: %s: %w", what, err))
}

// Remove closes the torrent and takes it out of its client; with
// deleteData, its downloaded files and resume state are deleted too (when
// the storage can: storage.Remover).
func (t *Torrent) Remove(deleteData bool) error {
	err := t.Close()
	if !deleteData {
		return err
	}
	info := t.Info()
	r, ok := t.storage().(storage.Remover)
	if info == nil || !ok {
		return err
	}
	return errors.Join(err, r.RemoveTorrent(info, t.infoHash))
}
