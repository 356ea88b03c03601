// Package opfs is the browser engine's storage: torrents in the origin
// private file system (OPFS) through synchronous access handles, which only
// a dedicated worker has (New, js/wasm only), and, where the browser has no
// OPFS, memory bounded by a cap (NewMemory, any platform).
//
// Each torrent is one OPFS file holding its byte stream (all files end to
// end, as storage.TorrentStorage's offsets are), named by its info hash, and
// a small sidecar with its verified pieces, so a later visit resumes. No data
// is cached in memory: a synchronous access handle reads and writes at the
// speed of a local file, and the wasm heap, which never shrinks, stays the
// size of the engine, not of the video.
package opfs

import (
	"errors"
	"fmt"
	"sync"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
)

// DefaultMemoryCap is NewMemory's cap when none is given: a browser tab
// that holds more than this in the wasm heap risks the tab (wasm32 stops at
// 4 GiB, and the heap never shrinks).
const DefaultMemoryCap = 512 << 20

// ErrOverCap is returned by Memory.OpenTorrent for a torrent that does not
// fit under the cap beside the torrents already open.
var ErrOverCap = errors.New("opfs: not enough room in memory (this browser has no OPFS to store torrents in)")

// Memory is storage.NewMemory bounded by a cap on the bytes of the
// torrents open at once: a torrent that would pass the cap is refused, with
// ErrOverCap, rather than growing the heap until the tab dies. Closing a
// torrent frees its room.
type Memory struct {
	mem *storage.MemoryStorage
	cap int64

	mu   sync.Mutex
	used int64
}

var _ storage.Storage = (*Memory)(nil)

// NewMemory returns memory storage bounded by cap bytes; cap <= 0 means
// DefaultMemoryCap.
func NewMemory(cap int64) *Memory {
	if cap <= 0 {
		cap = DefaultMemoryCap
	}
	return &Memory{mem: storage.NewMemory(), cap: cap}
}

// OpenTorrent implements storage.Storage.
func (m *Memory) OpenTorrent(info *metainfo.Info, ih metainfo.Hash) (storage.TorrentStorage, error) {
	if info == nil {
		return nil, fmt.Errorf("%w: nil info", storage.ErrBadInfo)
	}
	size := info.TotalLength()
	m.mu.Lock()
	if m.used+size > m.cap {
		used := m.used
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: %s needs %d bytes, %d of the %d-byte cap are in use", ErrOverCap, info.BestName(), size, used, m.cap)
	}
	m.used += size
	m.mu.Unlock()
	ts, err := m.mem.OpenTorrent(info, ih)
	if err != nil {
		m.release(size)
		return nil, err
	}
	return &memTorrent{TorrentStorage: ts, m: m, size: size}, nil
}

// Used returns the bytes of the torrents open now.
func (m *Memory) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

func (m *Memory) release(n int64) {
	m.mu.Lock()
	m.used -= n
	m.mu.Unlock()
}

// memTorrent gives its room back when closed.
type memTorrent struct {
	storage.TorrentStorage
	m    *Memory
	size int64
	once sync.Once
}

func (t *memTorrent) Close() error {
	err := t.TorrentStorage.Close()
	t.once.Do(func() { t.m.release(t.size) })
	return err
}
