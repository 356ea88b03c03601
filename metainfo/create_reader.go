package metainfo

import (
	"errors"
	"fmt"
	"io"

	"github.com/swarmcast/swarmcast/internal/sha1"
)

// ErrNoName is returned by CreateFromReader when no name is given.
var ErrNoName = errors.New("metainfo: a torrent made from a reader needs a name")

// CreateFromReader builds a single-file torrent named name from the length
// bytes that r yields, hashing them in order as they are read. It is for data
// that is no file on disk, like a browser's Blob (client.seed in the browser
// build); opt.Name, if set, takes the place of name, and opt.Workers is
// ignored. A reader that ends early is an error: the torrent would describe
// bytes that are not there.
func CreateFromReader(r io.Reader, name string, length int64, opt CreateOptions) (*MetaInfo, *Info, error) {
	if opt.Name != "" {
		name = opt.Name
	}
	if name == "" {
		return nil, nil, ErrNoName
	}
	if length < 0 {
		return nil, nil, fmt.Errorf("metainfo: negative length %d", length)
	}
	info := &Info{Name: name, Length: length, PieceLength: opt.PieceLength, Private: opt.Private, Source: opt.Source}
	if info.PieceLength == 0 {
		info.PieceLength = AutoPieceLength(length)
	}
	if info.PieceLength < 0 || info.PieceLength > MaxPieceLength {
		return nil, nil, fmt.Errorf("metainfo: piece length %d is outside 1..%d", info.PieceLength, MaxPieceLength)
	}
	n := (length + info.PieceLength - 1) / info.PieceLength
	info.Pieces = make([]byte, 0, n*HashSize)
	buf := make([]byte, min(info.PieceLength, max(length, 1)))
	var done int64
	for done < length {
		size := min(info.PieceLength, length-done)
		if k, err := io.ReadFull(r, buf[:size]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, nil, fmt.Errorf("metainfo: the reader ended after %d of %d bytes", done+int64(k), length)
			}
			return nil, nil, fmt.Errorf("metainfo: reading at %d: %w", done, err)
		}
		sum := sha1.Sum(buf[:size])
		info.Pieces = append(info.Pieces, sum[:]...)
		done += size
		if opt.Progress != nil {
			opt.Progress(done, length)
		}
	}
	return finishCreate(info, opt)
}

// CreateFromReaderAt is CreateFromReader over the first length bytes of r.
func CreateFromReaderAt(r io.ReaderAt, name string, length int64, opt CreateOptions) (*MetaInfo, *Info, error) {
	return CreateFromReader(io.NewSectionReader(r, 0, length), name, length, opt)
}
