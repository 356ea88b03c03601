package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
)

// The daemon's files under DataDir:
//
//	state.json              the torrents, their ids and settings, cumulative statistics
//	torrents/<infohash>.torrent  each torrent's metainfo (a magnet's once its info arrived)
//
// Which pieces are verified is not here: the client's storage keeps that in
// its resume sidecars, next to the data.
const (
	stateFileName = "state.json"
	torrentsName  = "torrents"
	// stateVersion is the format of state.json; a newer one is refused
	// rather than misread.
	stateVersion = 1
	// maxStateSize bounds state.json when read: ~300 bytes a torrent
	// (more with many files) leaves room for tens of thousands of torrents.
	maxStateSize = 256 << 20
)

// savedState is state.json.
type savedState struct {
	Version  int        `json:"version"`
	NextID   int        `json:"nextId"`
	Stats    cumulative `json:"stats"`
	Torrents []record   `json:"torrents"`
}

// cumulative is what session-stats calls cumulative-stats.
type cumulative struct {
	UploadedBytes   int64 `json:"uploadedBytes"`
	DownloadedBytes int64 `json:"downloadedBytes"`
	FilesAdded      int64 `json:"filesAdded"`
	SessionCount    int64 `json:"sessionCount"`
	SecondsActive   int64 `json:"secondsActive"`
}

// record is one torrent in state.json.
type record struct {
	ID       int    `json:"id"`
	InfoHash string `json:"infoHash"`
	Name     string `json:"name,omitempty"`
	Magnet   string `json:"magnet,omitempty"`
	Paused   bool   `json:"paused,omitempty"`
	Added    int64  `json:"added"`
	Done     int64  `json:"done,omitempty"`
	// Priorities has one value per file (torrent.Priority: 0 not wanted);
	// empty means every file at its default.
	Priorities []torrent.Priority `json:"priorities,omitempty"`
	// Dir is its download folder relative to the daemon's, when torrent-add
	// named one.
	Dir string `json:"dir,omitempty"`
	// Limits are its own rate limits (torrent-set); nil: the defaults.
	Limits *torrentLimits `json:"limits,omitempty"`
}

// stateStore reads and writes the daemon's files.
type stateStore struct {
	dir string
}

func openState(dir string) (*stateStore, error) {
	if err := os.MkdirAll(filepath.Join(dir, torrentsName), 0o700); err != nil {
		return nil, fmt.Errorf("daemon: data folder: %w", err)
	}
	return &stateStore{dir: dir}, nil
}

// load reads state.json; a missing file is an empty state.
func (s *stateStore) load() (savedState, error) {
	var st savedState
	b, err := readBounded(filepath.Join(s.dir, stateFileName), maxStateSize)
	if errors.Is(err, fs.ErrNotExist) {
		return savedState{Version: stateVersion, NextID: 1}, nil
	}
	if err != nil {
		return st, fmt.Errorf("daemon: reading state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("daemon: %s is damaged (%v); move it away to start with no torrents", filepath.Join(s.dir, stateFileName), err)
	}
	if st.Version > stateVersion {
		return st, fmt.Errorf("daemon: %s was written by a newer swarmcast (format %d, this one reads %d)", filepath.Join(s.dir, stateFileName), st.Version, stateVersion)
	}
	return st, nil
}

// write replaces state.json atomically.
func (s *stateStore) write(st savedState) error {
	b, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(s.dir, stateFileName), b)
}

func (s *stateStore) torrentPath(h metainfo.Hash) string {
	return filepath.Join(s.dir, torrentsName, h.String()+".torrent")
}

func (s *stateStore) saveTorrent(h metainfo.Hash, b []byte) error {
	return writeAtomic(s.torrentPath(h), b)
}

func (s *stateStore) loadTorrent(h metainfo.Hash) ([]byte, error) {
	return readBounded(s.torrentPath(h), metainfo.MaxTorrentSize)
}

func (s *stateStore) removeTorrent(h metainfo.Hash) error {
	err := os.Remove(s.torrentPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// readBounded reads a whole file of at most max bytes.
func readBounded(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", path, fi.Size(), max)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(f)
	return buf.Bytes(), err
}

// writeAtomic writes a file through a temporary file and a rename, so a
// crash leaves the old or the new file, never half of one. The data is
// synced before the rename: state outlives the process by design.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// save writes the state of every torrent. Calls are serialized so that an
// older snapshot never overwrites a newer one.
func (d *Daemon) save() error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	st := savedState{Version: stateVersion, NextID: d.nextID, Stats: d.cumulativeLocked()}
	for _, e := range d.byID {
		rec := record{ID: e.id, InfoHash: e.hash.String(), Name: e.t.Name(), Magnet: e.magnet, Paused: e.paused,
			Added: e.added.Unix(), Priorities: e.prio, Dir: e.dir}
		if e.limits != defaultLimits {
			lim := e.limits
			rec.Limits = &lim
		}
		if !e.done.IsZero() {
			rec.Done = e.done.Unix()
		}
		st.Torrents = append(st.Torrents, rec)
	}
	d.mu.Unlock()
	sort.Slice(st.Torrents, func(i, j int) bool { return st.Torrents[i].ID < st.Torrents[j].ID })
	return d.store.write(st)
}

// restore adds a saved torrent back to the client.
func (d *Daemon) restore(rec record) error {
	h, err := metainfo.ParseHash(rec.InfoHash)
	if err != nil {
		return err
	}
	if rec.ID <= 0 {
		return fmt.Errorf("bad id %d", rec.ID)
	}
	if _, dup := d.byID[rec.ID]; dup {
		return fmt.Errorf("id %d used twice", rec.ID)
	}
	opt := d.cfg.AddOptions
	opt.Verify = true
	opt.Stopped = rec.Paused
	if rec.Dir != "" {
		dir, err := d.checkDownloadDir(rec.Dir)
		if err != nil || dir == "" {
			return fmt.Errorf("download folder %q: %v", rec.Dir, err)
		}
		opt.Storage = storage.NewFile(filepath.Join(d.cfg.DownloadDir, dir))
	}
	hasFile := false
	var t *torrent.Torrent
	var mi *metainfo.MetaInfo
	if b, err := d.store.loadTorrent(h); err == nil {
		if mi, err = metainfo.Parse(b); err != nil {
			return fmt.Errorf("%s: %w", d.store.torrentPath(h), err)
		}
		if mi.HashInfoBytes() != h {
			return fmt.Errorf("%s holds another torrent (%s)", d.store.torrentPath(h), mi.HashInfoBytes())
		}
		if t, err = d.cfg.Client.AddTorrent(mi, opt); err != nil {
			return err
		}
		hasFile = true
	} else if rec.Magnet != "" {
		if t, err = d.cfg.Client.AddMagnet(rec.Magnet, opt); err != nil {
			return err
		}
	} else {
		return fmt.Errorf("neither its .torrent (%v) nor a magnet link", err)
	}
	e := &entry{id: rec.ID, hash: h, t: t, magnet: rec.Magnet, added: time.Unix(rec.Added, 0), paused: rec.Paused,
		torrentFile: hasFile, prio: rec.Priorities, dir: rec.Dir, limits: defaultLimits}
	if rec.Limits != nil {
		e.limits = *rec.Limits
		e.limits.apply(t)
	}
	if !rec.Paused {
		e.started = time.Now()
	}
	e.tiers, e.webSeeds = d.announceOf(mi, rec.Magnet)
	if rec.Done != 0 {
		e.done = time.Unix(rec.Done, 0)
	}
	if len(rec.Priorities) > 0 {
		d.applyPriorities(e)
	}
	d.byID[e.id] = e
	d.byHash[h] = e
	if rec.ID >= d.nextID {
		d.nextID = rec.ID + 1
	}
	return nil
}

// applyPriorities gives the torrent's files their saved priorities, at once
// or when a magnet's info arrives.
func (d *Daemon) applyPriorities(e *entry) {
	apply := func() {
		files := e.t.Files()
		if len(files) != len(e.prio) {
			d.log.Warn("saved file priorities do not fit the torrent; ignored", "infoHash", e.hash)
			return
		}
		for i, f := range files {
			if f.Priority() != e.prio[i] {
				f.SetPriority(e.prio[i])
			}
		}
	}
	if e.t.Info() != nil {
		apply()
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-e.t.GotInfo():
			apply()
		case <-d.done:
		}
	}()
}

// notePriorities remembers the files' priorities after a change.
func (d *Daemon) notePriorities(e *entry) {
	files := e.t.Files()
	p := make([]torrent.Priority, len(files))
	for i, f := range files {
		p[i] = f.Priority()
	}
	d.mu.Lock()
	e.prio = p
	d.mu.Unlock()
	d.gen.Add(1)
}

// torrentFileOf builds the .torrent of a magnet whose info arrived: the info
// as received, with the magnet's trackers and web seeds.
func torrentFileOf(e *entry) []byte {
	mi := metainfo.MetaInfo{InfoBytes: e.t.InfoBytes(), CreatedBy: metainfo.CreatedBy}
	if m, err := metainfo.ParseMagnet(e.magnet); err == nil {
		if len(m.Trackers) > 0 {
			mi.Announce = m.Trackers[0]
			for _, tr := range m.Trackers {
				mi.AnnounceList = append(mi.AnnounceList, []string{tr})
			}
		}
		mi.URLList = m.WebSeeds
	}
	var buf bytes.Buffer
	mi.Write(&buf)
	return buf.Bytes()
}

// cumulativeLocked returns the statistics of every session so far. d.mu held.
func (d *Daemon) cumulativeLocked() cumulative {
	c := d.stats
	cur := d.currentLocked()
	c.UploadedBytes += cur.UploadedBytes
	c.DownloadedBytes += cur.DownloadedBytes
	c.SecondsActive += cur.SecondsActive
	c.FilesAdded += cur.FilesAdded
	return c
}

// currentLocked returns this session's statistics. d.mu held.
func (d *Daemon) currentLocked() cumulative {
	c := cumulative{SessionCount: 1, SecondsActive: int64(time.Since(d.started).Seconds()),
		UploadedBytes: d.removedUp, DownloadedBytes: d.removedDown, FilesAdded: d.addedNow}
	for _, e := range d.byID {
		e.statsMu.Lock()
		c.UploadedBytes += e.stats.UploadedTotal
		c.DownloadedBytes += e.stats.DownloadedTotal
		e.statsMu.Unlock()
	}
	return c
}
