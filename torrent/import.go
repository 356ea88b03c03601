package torrent

import (
	"errors"
	"fmt"

	"github.com/swarmcast/swarmcast/internal/bitfield"
)

// MaxImport bounds the bytes one Import call takes.
const MaxImport = 16 << 20

// Import offers bytes of the torrent that reached the program by another way
// than the engine: the start of a video that a web page fetched from its
// origin while the engine was loading, say. off is where they start in the
// torrent (its files laid end to end). Each whole piece inside them that the
// torrent neither has nor is fetching is written to storage and then verified
// from there, as a start-up check verifies a piece: meanwhile the picker counts
// it as had (it is not requested), and it becomes ours only if its hash
// matches; if not, it is wanted again and fetched as any other. Bytes of pieces
// only partly inside are ignored. It returns how many pieces were taken to be
// verified; they are not yet verified when it returns.
func (t *Torrent) Import(off int64, data []byte) (int, error) {
	if len(data) > MaxImport {
		return 0, fmt.Errorf("torrent: import of %d bytes at once; at most %d", len(data), MaxImport)
	}
	// Its blocks join the disk's backlog, which is bounded as a peer's are:
	// wait while the disk is behind.
	if !t.waitDisk(t.ctx) {
		return 0, ErrClosed
	}
	var (
		taken int
		err   error
	)
	if !t.do(func() { taken, err = t.importPieces(off, data) }) {
		return 0, ErrClosed
	}
	return taken, err
}

// importPieces is Import on the owner goroutine.
func (t *Torrent) importPieces(off int64, data []byte) (int, error) {
	switch {
	case t.info == nil:
		return 0, errors.New("torrent: cannot import before the info is known")
	case t.err != nil:
		return 0, fmt.Errorf("torrent: cannot import into a stopped torrent: %w", t.err)
	case t.paused.Load():
		return 0, errors.New("torrent: cannot import into a stopped torrent")
	case off < 0 || off+int64(len(data)) > t.info.TotalLength():
		return 0, fmt.Errorf("torrent: import of %d bytes at %d is outside the torrent's %d", len(data), off, t.info.TotalLength())
	case t.checking > t.importChecks:
		// A piece with a start-up check queued is neither had nor under
		// way nor pending, yet its check must not race a write: import
		// nothing until the start-up checks are over.
		return 0, nil
	}
	pl := t.info.PieceLength
	end := off + int64(len(data))
	n := t.info.NumPieces()
	if t.checkPending.Len() != n {
		t.checkPending = bitfield.New(n)
	}
	if t.imported.Len() != n {
		t.imported = bitfield.New(n)
	}
	taken := 0
	for i := int((off + pl - 1) / pl); i < n; i++ {
		start := int64(i) * pl
		size := t.info.PieceSize(i)
		if start+size > end {
			break
		}
		if t.have.Get(i) || t.partial[i] != nil || t.checkPending.Get(i) || t.imported.Get(i) {
			continue
		}
		piece := data[start-off : start-off+size]
		for b := int64(0); b < size; b += BlockSize {
			blk := t.c.blocks.Get(int(min(BlockSize, size-b)))
			copy(blk, piece[b:])
			t.submitDisk(diskJob{kind: diskWrite, piece: i, begin: uint32(b), data: blk})
		}
		// Checked after its writes: the disk worker runs jobs in order.
		t.awaitCheck(i)
		t.imported.Set(i)
		t.importChecks++
		taken++
	}
	if taken > 0 {
		t.scheduleChecks()
	}
	return taken, nil
}
