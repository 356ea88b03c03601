//go:build js

package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
)

// routedStorage opens seeded Blobs from the Blob itself and everything else
// from the fallback (OPFS or memory).
type routedStorage struct {
	fallback storage.Storage

	mu    sync.Mutex
	seeds map[metainfo.Hash]storage.TorrentStorage
}

func (s *routedStorage) OpenTorrent(info *metainfo.Info, ih metainfo.Hash) (storage.TorrentStorage, error) {
	s.mu.Lock()
	ts := s.seeds[ih]
	s.mu.Unlock()
	if ts != nil {
		return ts, nil
	}
	return s.fallback.OpenTorrent(info, ih)
}

func (s *routedStorage) addSeed(ih metainfo.Hash, ts storage.TorrentStorage) {
	s.mu.Lock()
	s.seeds[ih] = ts
	s.mu.Unlock()
}

func (s *routedStorage) removeSeed(ih metainfo.Hash) {
	s.mu.Lock()
	delete(s.seeds, ih)
	s.mu.Unlock()
}

// RemoveTorrent removes a downloaded torrent's data from the fallback.
func (s *routedStorage) RemoveTorrent(info *metainfo.Info, ih metainfo.Hash) error {
	s.mu.Lock()
	_, seeded := s.seeds[ih]
	s.mu.Unlock()
	if seeded {
		return nil // the page's Blob is not ours to delete
	}
	if r, ok := s.fallback.(storage.Remover); ok {
		return r.RemoveTorrent(info, ih)
	}
	return nil
}

// readerStorage is a seeded torrent read straight from its source (a Blob),
// every piece complete: seeding a file costs no copy of it.
type readerStorage struct {
	r      io.ReaderAt
	length int64
	pieces int
}

func newReaderStorage(r io.ReaderAt, info *metainfo.Info) *readerStorage {
	return &readerStorage{r: r, length: info.TotalLength(), pieces: info.NumPieces()}
}

func (s *readerStorage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: offset %d", storage.ErrOutOfRange, off)
	}
	if off >= s.length {
		return 0, io.EOF
	}
	want := len(p)
	if rest := s.length - off; int64(want) > rest {
		p = p[:rest]
	}
	n, err := s.r.ReadAt(p, off)
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

func (s *readerStorage) WriteAt(p []byte, off int64) (int, error) {
	return 0, storage.ErrPieceComplete
}

func (s *readerStorage) Completion() (storage.Bitfield, error) {
	b := storage.NewBitfield(s.pieces)
	for i := range s.pieces {
		b.Set(i, true)
	}
	return b, nil
}

func (s *readerStorage) MarkComplete(int, bool) error { return nil }

func (s *readerStorage) ForgetCompletion() error {
	return fmt.Errorf("swarmcast: a seeded Blob cannot be rechecked")
}

func (s *readerStorage) Flush() error { return nil }
func (s *readerStorage) Close() error { return nil }
