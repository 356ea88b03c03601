package storage

import (
	"fmt"
	"io"

	"github.com/swarmcast/swarmcast/metainfo"
)

// Storage is a backend that stores torrents: NewFile and NewMemory.
type Storage interface {
	// OpenTorrent opens the storage of the torrent described by info, whose
	// info hash is infoHash. The caller closes it when done.
	OpenTorrent(info *metainfo.Info, infoHash metainfo.Hash) (TorrentStorage, error)
}

// TorrentStorage stores one torrent. Offsets are in the torrent's byte
// stream: all its files end to end, padding files included. It is safe for
// concurrent use.
type TorrentStorage interface {
	// ReadAt reads len(p) bytes at off, as io.ReaderAt does: bytes never
	// written and bytes of padding files read as zeros, and a read past the
	// end of the torrent returns io.EOF.
	ReadAt(p []byte, off int64) (n int, err error)
	// WriteAt writes p at off, as io.WriterAt does. Bytes that fall in
	// padding files are dropped. Writing past the end of the torrent fails
	// with ErrOutOfRange, and writing to a piece marked complete fails with
	// ErrPieceComplete before anything is written.
	WriteAt(p []byte, off int64) (n int, err error)
	// Completion returns the pieces marked complete, those of an earlier run
	// included. The caller owns the result.
	Completion() (Bitfield, error)
	// MarkComplete records that piece has been verified (done) or must be
	// verified again (!done). The piece's bytes must have been written.
	MarkComplete(piece int, done bool) error
	// ForgetCompletion marks every piece incomplete and saves that at once,
	// so that a recheck starts from nothing even if the process dies.
	ForgetCompletion() error
	// Flush makes the recorded completion durable (see the package doc for
	// how durable).
	Flush() error
	// Close flushes and releases the torrent's files. Later calls of other
	// methods fail with ErrClosed; Close itself may be called again.
	Close() error
}

// Refresher is implemented by storage whose data can change behind the
// engine's back (files on disk). Refresh looks again at what is stored and
// marks incomplete every piece whose data is gone or was changed by someone
// else since it was verified (a deleted, truncated or rewritten file), so
// that a torrent restarted after a disk fault downloads those pieces again
// instead of serving what is not there. It reports how many pieces it
// marked incomplete.
type Refresher interface {
	Refresh() (int, error)
}

// EmptyFileCreator is implemented by storage that keeps files: an empty
// file has no bytes to write and no piece of its own, so the engine asks for
// it to be created once it is wanted (a torrent of only empty files, or an
// empty file beside unselected ones).
type EmptyFileCreator interface {
	// CreateEmptyFile creates file i of the torrent, which must be empty;
	// it does nothing for a file that exists.
	CreateEmptyFile(i int) error
}

// FileWanter is implemented by storage that can use knowing which files
// the user wants: the file backend preallocates a wanted file when it is
// created, and leaves an unwanted one (written only where a piece it shares
// with a wanted file reaches into it) sparse. Every file is wanted until
// said otherwise. It must not block: the engine calls it from its loop.
type FileWanter interface {
	SetFileWanted(i int, wanted bool)
}

// VectorWriter is implemented by storage that can write several buffers,
// contiguous in the torrent, with one call: a run of blocks becomes one
// system call instead of one per block.
type VectorWriter interface {
	// WriteVAt writes bufs end to end at off, with WriteAt's rules for the
	// whole run. On error some of the bytes may have been written.
	WriteVAt(bufs [][]byte, off int64) error
}

// Remover is implemented by storage that can delete a torrent's data.
type Remover interface {
	// RemoveTorrent deletes the data of the torrent described by info (its
	// files, its resume state and the folders that held only them). The
	// torrent's storage must be closed.
	RemoveTorrent(info *metainfo.Info, infoHash metainfo.Hash) error
}

// Piece is one piece of a torrent seen through its TorrentStorage: offsets
// are relative to the piece's first byte and I/O stops at its end. It is a
// small value; copy it freely.
type Piece struct {
	t     TorrentStorage
	index int
	off   int64
	size  int64
}

// PieceOf returns piece i of the torrent that t stores. It costs
// info.PieceSize, which is O(number of files): on a hot path keep the Piece
// or use t's offsets directly.
func PieceOf(t TorrentStorage, info *metainfo.Info, i int) (Piece, error) {
	if i < 0 || i >= info.NumPieces() {
		return Piece{}, fmt.Errorf("%w: piece %d of %d", ErrOutOfRange, i, info.NumPieces())
	}
	return Piece{t: t, index: i, off: int64(i) * info.PieceLength, size: info.PieceSize(i)}, nil
}

// Index returns the piece's index in the torrent.
func (p Piece) Index() int { return p.index }

// Size returns the piece's length in bytes.
func (p Piece) Size() int64 { return p.size }

// Offset returns the offset of the piece's first byte in the torrent.
func (p Piece) Offset() int64 { return p.off }

// ReadAt reads from the piece at off; a read past its end returns io.EOF.
func (p Piece) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d in piece %d", ErrOutOfRange, off, p.index)
	}
	if off >= p.size {
		return 0, io.EOF
	}
	if rest := p.size - off; int64(len(b)) > rest {
		n, err := p.t.ReadAt(b[:rest], p.off+off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return p.t.ReadAt(b, p.off+off)
}

// WriteAt writes to the piece at off; a write past its end fails with
// ErrOutOfRange before anything is written.
func (p Piece) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off > p.size || int64(len(b)) > p.size-off {
		return 0, fmt.Errorf("%w: %d bytes at %d in piece %d of %d bytes", ErrOutOfRange, len(b), off, p.index, p.size)
	}
	return p.t.WriteAt(b, p.off+off)
}

// MarkComplete records the piece as verified or not; see
// TorrentStorage.MarkComplete.
func (p Piece) MarkComplete(done bool) error { return p.t.MarkComplete(p.index, done) }

// DataPresence is implemented by backends that can tell cheaply whether any
// byte of a range was ever stored. The engine uses it to skip hash-checking
// pieces whose data is simply not there (a fresh download).
type DataPresence interface {
	// HasData reports whether some byte in [off, off+n) may have been
	// written. False means certainly none.
	HasData(off, n int64) bool
}
