package swarmcast

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
)

// Seed makes a torrent of the file or folder at path and seeds it from
// where it is, whatever Config.DataDir says. opt says how the torrent is
// made (trackers and web seeds to name, piece length); the same content
// with the same options always gives the same torrent. The data was just
// hashed, so the torrent is complete at once. mi.Magnet(t.Info()) is its
// magnet link, and mi.Write writes its .torrent file.
func (c *Client) Seed(path string, opt metainfo.CreateOptions) (t *torrent.Torrent, mi *metainfo.MetaInfo, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	mi, _, err = metainfo.Create(abs, opt)
	if err != nil {
		return nil, nil, fmt.Errorf("swarmcast: seeding %s: %w", path, err)
	}
	ih := mi.HashInfoBytes()
	added := c.seeds.put(ih, filepath.Dir(abs))
	t, err = c.AddTorrent(mi, torrent.AddOptions{AssumeComplete: true})
	if err != nil {
		if added {
			c.seeds.forget(ih)
		}
		return nil, nil, err
	}
	return t, mi, nil
}

// seedStorage is the client's storage: torrents made by Seed are read from
// the folder their data is in, every other one goes to the base storage.
type seedStorage struct {
	base storage.Storage
	mu   sync.Mutex
	dirs map[metainfo.Hash]storage.Storage // one entry per torrent Seed added
}

var (
	_ storage.Storage = (*seedStorage)(nil)
	_ storage.Remover = (*seedStorage)(nil)
)

func newSeedStorage(base storage.Storage) *seedStorage {
	return &seedStorage{base: base, dirs: map[metainfo.Hash]storage.Storage{}}
}

// put reads the torrent ih from the folder dir; it reports whether that is
// new (a torrent seeded twice keeps its first folder).
func (s *seedStorage) put(ih metainfo.Hash, dir string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dirs[ih]; ok {
		return false
	}
	s.dirs[ih] = storage.NewFile(dir)
	return true
}

func (s *seedStorage) forget(ih metainfo.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.dirs, ih)
}

func (s *seedStorage) pick(ih metainfo.Hash) storage.Storage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.dirs[ih]; ok {
		return st
	}
	return s.base
}

// OpenTorrent implements storage.Storage.
func (s *seedStorage) OpenTorrent(info *metainfo.Info, ih metainfo.Hash) (storage.TorrentStorage, error) {
	return s.pick(ih).OpenTorrent(info, ih)
}

// RemoveTorrent implements storage.Remover when the storage that holds the
// torrent does; otherwise it leaves the data where it is.
func (s *seedStorage) RemoveTorrent(info *metainfo.Info, ih metainfo.Hash) error {
	st := s.pick(ih)
	s.forget(ih)
	if r, ok := st.(storage.Remover); ok {
		return r.RemoveTorrent(info, ih)
	}
	return nil
}
