package storage

import (
	"fmt"
	"math"

	"github.com/swarmcast/swarmcast/metainfo"
)

// span is one file's place in the torrent's byte stream.
type span struct {
	off, length int64
	padding     bool
}

// layout maps the torrent's byte stream to its files and pieces. It is
// computed once per OpenTorrent and read-only afterwards.
type layout struct {
	spans       []span // one per file of info.FileList, in order
	total       int64
	pieceLength int64
	numPieces   int
}

// newLayout checks the sizes the package relies on, without trusting that
// info went through Validate (a hand-built Info may not have).
func newLayout(info *metainfo.Info) (*layout, error) {
	if info.PieceLength <= 0 {
		return nil, fmt.Errorf("%w: piece length %d", ErrBadInfo, info.PieceLength)
	}
	files := info.FileList()
	l := &layout{spans: make([]span, len(files)), pieceLength: info.PieceLength, numPieces: info.NumPieces()}
	for i, f := range files {
		if f.Length < 0 || l.total > math.MaxInt64-f.Length {
			return nil, fmt.Errorf("%w: file %d has length %d", ErrBadInfo, i, f.Length)
		}
		l.spans[i] = span{off: l.total, length: f.Length, padding: f.IsPadding()}
		l.total += f.Length
	}
	if want := (l.total + l.pieceLength - 1) / l.pieceLength; want != int64(l.numPieces) {
		return nil, fmt.Errorf("%w: %d pieces for %d bytes in pieces of %d (want %d)",
			ErrBadInfo, l.numPieces, l.total, l.pieceLength, want)
	}
	return l, nil
}

// fileAt returns the index of the file holding byte off (0 <= off < total):
// the first file that ends after off, so empty files are skipped.
func (l *layout) fileAt(off int64) int {
	lo, hi := 0, len(l.spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s := l.spans[m]; s.off+s.length > off {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// checkWrite refuses a write of n bytes at off that does not fit in the
// torrent.
func (l *layout) checkWrite(n int, off int64) error {
	if off < 0 || off > l.total || int64(n) > l.total-off {
		return fmt.Errorf("%w: %d bytes at offset %d of a %d-byte torrent", ErrOutOfRange, n, off, l.total)
	}
	return nil
}

// checkPiece refuses a piece index outside the torrent.
func (l *layout) checkPiece(i int) error {
	if i < 0 || i >= l.numPieces {
		return fmt.Errorf("%w: piece %d of %d", ErrOutOfRange, i, l.numPieces)
	}
	return nil
}

// pieces returns the first and last piece holding bytes of [off, off+n), n > 0.
func (l *layout) pieces(off, n int64) (first, last int) {
	return int(off / l.pieceLength), int((off + n - 1) / l.pieceLength)
}

// filePieces returns the pieces [first, end) that hold bytes of file i; an
// empty file holds none.
func (l *layout) filePieces(i int) (first, end int) {
	s := l.spans[i]
	if s.length == 0 {
		return 0, 0
	}
	return int(s.off / l.pieceLength), int((s.off + s.length + l.pieceLength - 1) / l.pieceLength)
}

// emptyFilePiece returns the piece whose completion creates empty file i: the
// piece at its offset, or the last piece for an empty file at the very end.
// It returns -1 for a torrent without pieces.
func (l *layout) emptyFilePiece(i int) int {
	return min(int(l.spans[i].off/l.pieceLength), l.numPieces-1)
}
