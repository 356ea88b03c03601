package storage

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/swarmcast/swarmcast/metainfo"
)

// memChunkSize is the unit in which the memory backend allocates: a chunk is
// allocated on its first write, so a torrent streamed in part costs only
// what was fetched. 256 KiB is a common piece length and 16 blocks of 16 KiB.
const memChunkSize = 256 << 10

// MemoryStorage keeps torrents in memory: for tests, the browser build and
// streaming without a disk. Completion lasts as long as the data. The data of
// a torrent is shared by every TorrentStorage opened for its info hash and
// freed when the last of them is closed, so a test can fill a torrent
// through one handle and let a client open it again.
type MemoryStorage struct {
	mu       sync.Mutex
	torrents map[metainfo.Hash]*memData
}

var _ Storage = (*MemoryStorage)(nil)

// NewMemory returns an empty memory backend.
func NewMemory() *MemoryStorage {
	return &MemoryStorage{torrents: make(map[metainfo.Hash]*memData)}
}

// memData is the content of one torrent in memory.
type memData struct {
	l    *layout
	comp completion
	refs int // open handles; guarded by MemoryStorage.mu

	mu     sync.RWMutex // guards the contents of chunks
	chunks [][]byte     // nil until written
}

// OpenTorrent implements Storage.
func (s *MemoryStorage) OpenTorrent(info *metainfo.Info, infoHash metainfo.Hash) (TorrentStorage, error) {
	if info == nil {
		return nil, fmt.Errorf("%w: nil info", ErrBadInfo)
	}
	l, err := newLayout(info)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.torrents[infoHash]
	if d == nil {
		d = &memData{
			l:      l,
			comp:   newCompletion(l.numPieces),
			chunks: make([][]byte, (l.total+memChunkSize-1)/memChunkSize),
		}
		s.torrents[infoHash] = d
	} else if d.l.total != l.total || d.l.pieceLength != l.pieceLength || len(d.l.spans) != len(l.spans) {
		return nil, fmt.Errorf("%w: torrent %v is already open with another layout", ErrBadInfo, infoHash)
	}
	d.refs++
	return &memTorrent{s: s, infoHash: infoHash, d: d}, nil
}

// memTorrent is a handle on a torrent's memData.
type memTorrent struct {
	s        *MemoryStorage
	infoHash metainfo.Hash
	d        *memData
	closed   atomic.Bool
}

var _ TorrentStorage = (*memTorrent)(nil)

// ReadAt implements TorrentStorage.
func (t *memTorrent) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", ErrOutOfRange, off)
	}
	if t.closed.Load() {
		return 0, ErrClosed
	}
	d := t.d
	if off >= d.l.total {
		return 0, io.EOF
	}
	want := len(p)
	if rest := d.l.total - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	n := 0
	for i := d.l.fileAt(off); n < len(p); i++ {
		s := d.l.spans[i]
		m := int(min(int64(len(p)-n), s.off+s.length-off))
		if s.padding {
			clear(p[n : n+m])
		} else {
			d.copyOut(p[n:n+m], off)
		}
		n += m
		off += int64(m)
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// copyOut copies the torrent's bytes at off into p; d.mu is read-locked.
func (d *memData) copyOut(p []byte, off int64) {
	for len(p) > 0 {
		c, within := off/memChunkSize, int(off%memChunkSize)
		var k int
		if chunk := d.chunks[c]; chunk == nil {
			k = min(len(p), memChunkSize-within)
			clear(p[:k])
		} else {
			k = copy(p, chunk[within:])
		}
		p = p[k:]
		off += int64(k)
	}
}

// WriteAt implements TorrentStorage.
func (t *memTorrent) WriteAt(p []byte, off int64) (int, error) {
	d := t.d
	if err := d.l.checkWrite(len(p), off); err != nil {
		return 0, err
	}
	if t.closed.Load() {
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := checkNotComplete(&d.comp, d.l, off, len(p)); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for i := d.l.fileAt(off); n < len(p); i++ {
		s := d.l.spans[i]
		m := int(min(int64(len(p)-n), s.off+s.length-off))
		if !s.padding {
			d.copyIn(p[n:n+m], off)
		}
		n += m
		off += int64(m)
	}
	return n, nil
}

// copyIn copies p into the torrent at off, allocating chunks as needed;
// d.mu is locked.
func (d *memData) copyIn(p []byte, off int64) {
	for len(p) > 0 {
		c, within := off/memChunkSize, int(off%memChunkSize)
		if d.chunks[c] == nil {
			// The last chunk is only as long as the torrent.
			d.chunks[c] = make([]byte, min(memChunkSize, d.l.total-c*memChunkSize))
		}
		k := copy(d.chunks[c][within:], p)
		p = p[k:]
		off += int64(k)
	}
}

// Completion implements TorrentStorage.
func (t *memTorrent) Completion() (Bitfield, error) {
	if t.closed.Load() {
		return Bitfield{}, ErrClosed
	}
	return t.d.comp.bitfield(), nil
}

// MarkComplete implements TorrentStorage.
func (t *memTorrent) MarkComplete(piece int, done bool) error {
	if err := t.d.l.checkPiece(piece); err != nil {
		return err
	}
	if t.closed.Load() {
		return ErrClosed
	}
	t.d.comp.set(piece, done)
	return nil
}

// ForgetCompletion implements TorrentStorage.
func (t *memTorrent) ForgetCompletion() error {
	if t.closed.Load() {
		return ErrClosed
	}
	t.d.comp.clearAll()
	return nil
}

// Flush implements TorrentStorage; memory has nothing to flush.
func (t *memTorrent) Flush() error {
	if t.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Close implements TorrentStorage. The torrent's data is freed when its last
// handle is closed.
func (t *memTorrent) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.d.refs--
	if t.d.refs == 0 {
		delete(t.s.torrents, t.infoHash)
	}
	return nil
}
