// Package daemon is swarmcast's long-running service: many torrents in one
// client, their state kept under a data folder and restored at start, and
// controlled over HTTP by Transmission's RPC (/transmission/rpc, as
// transmission-remote, Flood, Sonarr and phone apps speak it), by a JSON API
// of our own in WebTorrent's words (/api/, with a live event stream), and by
// an embedded web UI at /. Streaming (/webtorrent/<infohash>/<path>) and
// Prometheus metrics (/metrics) share the same server and the same guard:
// basic auth compared in constant time, Transmission's session-id handshake
// against cross-site requests, and a Host check against DNS rebinding.
//
// The package takes a running *torrent.Client from its program (which wires
// transports, trackers and storage) and never builds one itself.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
)

// Errors of the daemon. Each says what the caller can do about it.
var (
	ErrNoTorrent   = errors.New("daemon: no such torrent")
	ErrDuplicate   = errors.New("daemon: torrent already added")
	ErrDownloadDir = errors.New("daemon: download-dir refused")
	ErrClosed      = errors.New("daemon: closed")
	ErrTooMany     = errors.New("daemon: too many torrents")
)

// Config configures a Daemon. The zero value of each field is its default.
type Config struct {
	// Client runs the torrents. The daemon adds and removes torrents on it
	// but does not close it: the program that built it does, after
	// Daemon.Close.
	Client *torrent.Client
	// DataDir is where the daemon's own state lives (state.json and the
	// .torrent of every torrent). Required.
	DataDir string
	// DownloadDir is the folder the client's storage keeps torrents in, as
	// reported to RPC clients (download-dir). A torrent-add naming another
	// folder is refused.
	DownloadDir string
	// Auth is "user:password" for HTTP basic auth; empty means none.
	Auth string
	// AllowedHosts are host names (besides IP addresses and localhost)
	// accepted in the Host header when Auth is empty.
	AllowedHosts []string
	// AddOptions are applied to every torrent added (peers and trackers
	// from the command line).
	AddOptions torrent.AddOptions
	// PeerPort is the port we accept peers on, reported by session-get.
	PeerPort int
	// FetchTorrent fetches a .torrent by URL for torrent-add's filename; nil
	// means an HTTP GET bounded in size and time.
	FetchTorrent func(ctx context.Context, url string) ([]byte, error)
	// Session is what session-get reports of the client's settings.
	Session SessionInfo
	// MaxTorrents bounds the torrents held; 0 means DefaultMaxTorrents.
	MaxTorrents int
	// Logger receives the daemon's log; nil means none.
	Logger *slog.Logger
	// Version is the program's version, reported by session-get.
	Version string
}

// SessionInfo is the client's settings as RPC clients see them.
type SessionInfo struct {
	DHT, LSD                 bool
	MaxConns                 int
	UploadRate, DownloadRate int64 // bytes per second; 0 unlimited
}

// DefaultMaxTorrents bounds how many torrents an RPC client can make the
// daemon hold: each costs an owner goroutine, its storage and a line of
// state. The load test runs 500 in ~100 MiB; 10,000 leaves room for a large
// seedbox without letting a script grow the process without end.
const DefaultMaxTorrents = 10000

func (d *Daemon) maxTorrents() int {
	if d.cfg.MaxTorrents > 0 {
		return d.cfg.MaxTorrents
	}
	return DefaultMaxTorrents
}

// entry is one torrent as the daemon knows it.
type entry struct {
	id      int
	hash    metainfo.Hash
	t       *torrent.Torrent
	magnet  string // the magnet link it was added by, if any
	added   time.Time
	done    time.Time // when it completed, zero until then
	started time.Time // when it last started
	paused  bool
	// torrentFile is the .torrent kept under DataDir: set at add for a
	// .torrent, once the info arrives for a magnet.
	torrentFile bool
	// prio is each file's priority as last set through the daemon; nil
	// until one is set (every file at its default).
	prio []torrent.Priority
	// tiers and webSeeds are the torrent's trackers (BEP 12 tiers, the
	// command line's added as tiers of their own) and web seeds, as
	// torrent-get reports them.
	tiers    [][]string
	webSeeds []string
	// dir is the torrent's download folder when torrent-add named one
	// (inside DownloadDir); empty: DownloadDir itself.
	dir string
	// limits are its own rate limits as torrent-set left them (guarded by
	// the daemon's mu).
	limits torrentLimits

	statsMu sync.Mutex
	stats   torrent.Stats
	statsAt time.Time
}

// snapshot returns the torrent's statistics as upkeep last took them (at
// most upkeepInterval old, as Transmission's own are), or takes them now
// after a change (forget) or when there are none yet. Requests never wait
// on every torrent's owner goroutine in turn: torrent.Stats asks the owner
// and walks its pieces, and with 500 torrents polled 200 times a second
// that queued requests for seconds.
func (e *entry) snapshot() torrent.Stats {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	if e.statsAt.IsZero() {
		e.stats, e.statsAt = e.t.Stats(), time.Now()
	}
	return e.stats
}

// refresh takes the torrent's statistics now.
func (e *entry) refresh() {
	s := e.t.Stats()
	e.statsMu.Lock()
	e.stats, e.statsAt = s, time.Now()
	e.statsMu.Unlock()
}

// forget drops the cached statistics, after a change the caller wants to see.
func (e *entry) forget() {
	e.statsMu.Lock()
	e.statsAt = time.Time{}
	e.statsMu.Unlock()
}

// Daemon holds the torrents of a client and their saved state.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	store   *stateStore
	session string // X-Transmission-Session-Id
	metrics *metrics
	events  *broker

	mu      sync.Mutex
	byID    map[int]*entry
	byHash  map[metainfo.Hash]*entry
	order   []*entry // byID's entries in id order; nil when it must be rebuilt
	nextID  int
	closed  bool
	stats   cumulative // of the sessions before this one
	started time.Time
	// this session's counts that live torrents no longer hold
	removedUp, removedDown, addedNow int64
	// speed is the session's speed limits (session-get/set), in kB/s.
	speed torrentLimits

	saveMu sync.Mutex

	// gen counts changes to what torrent-get answers: each round of
	// snapshots, each torrent added, removed or changed. Answers to the
	// same request within one generation are the same bytes (getCache).
	gen      atomic.Uint64
	getCache getCache

	// changed wakes upkeep to publish an event at once after a change
	// made through the daemon, so the UI shows it without waiting a tick.
	changed chan struct{}

	wg   sync.WaitGroup
	done chan struct{}
}

// forget drops a torrent's snapshot after a change, and the cached answers.
func (d *Daemon) forget(e *entry) {
	e.forget()
	d.gen.Add(1)
}

// kick asks for an event now; a request already pending covers this one.
func (d *Daemon) kick() {
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// New opens the daemon's state under cfg.DataDir and adds every torrent
// saved there back to the client: a .torrent (or a magnet's info) kept from
// before is used as it is, so nothing is fetched again, and the storage's
// resume data spares a recheck of data that did not change. Torrents that
// were paused stay paused.
func New(cfg Config) (*Daemon, error) {
	if cfg.Client == nil {
		return nil, errors.New("daemon: Config.Client is nil")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("daemon: Config.DataDir is empty")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	store, err := openState(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		cfg:     cfg,
		log:     log,
		store:   store,
		session: newSessionID(),
		byID:    map[int]*entry{},
		byHash:  map[metainfo.Hash]*entry{},
		nextID:  1,
		started: time.Now(),
		speed:   sessionLimits(cfg.Session),
		done:    make(chan struct{}),
		changed: make(chan struct{}, 1),
	}
	d.metrics = newMetrics(d)
	d.events = newBroker()
	st, err := store.load()
	if err != nil {
		return nil, err
	}
	d.stats = st.Stats
	d.stats.SessionCount++
	if st.NextID > d.nextID {
		d.nextID = st.NextID
	}
	for _, rec := range st.Torrents {
		if err := d.restore(rec); err != nil {
			log.Warn("torrent not restored", "infoHash", rec.InfoHash, "name", rec.Name, "err", err)
		}
	}
	if err := d.save(); err != nil {
		return nil, err
	}
	d.wg.Add(1)
	go d.upkeep()
	return d, nil
}

// EndStreams ends every open event stream (/api/events), so that an HTTP
// server's Shutdown, which waits for connections to go idle, need not wait
// for them: register it with http.Server.RegisterOnShutdown.
func (d *Daemon) EndStreams() { d.events.close() }

// Close saves the state and stops the daemon's goroutines. It does not close
// the client; the program does that afterwards, which stops every torrent
// with its trackers told ("stopped").
func (d *Daemon) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	close(d.done)
	d.events.close()
	d.wg.Wait()
	for _, e := range d.entries() {
		e.forget()
		e.snapshot() // the byte counts saved as cumulative statistics
	}
	return d.save()
}

// upkeepInterval paces the daemon's housekeeping: noticing completions and
// magnets whose info arrived, and saving state when either happened. A
// second is as fine as RPC clients look.
const upkeepInterval = time.Second

// upkeep notes completions and saved infos, and publishes the live event
// stream, until Close.
func (d *Daemon) upkeep() {
	defer d.wg.Done()
	tick := time.NewTicker(upkeepInterval)
	defer tick.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-d.changed:
			// A change made through the daemon: its torrent's snapshot
			// was dropped, the others are recent.
			if d.events.listeners() > 0 {
				d.events.publish(d.apiEvent())
			}
			continue
		case <-tick.C:
		}
		changed := false
		for _, e := range d.entries() {
			e.refresh()
			if !e.torrentFile && e.t.Info() != nil {
				if err := d.store.saveTorrent(e.hash, torrentFileOf(e)); err != nil {
					d.log.Warn("saving the info of a magnet", "infoHash", e.hash, "err", err)
				} else {
					d.mu.Lock()
					e.torrentFile = true
					d.mu.Unlock()
					changed = true
				}
			}
			if e.done.IsZero() && e.t.Info() != nil && e.t.Complete() {
				d.mu.Lock()
				e.done = time.Now()
				d.mu.Unlock()
				changed = true
				d.log.Info("torrent complete", "infoHash", e.hash, "name", e.t.Name())
			}
		}
		d.gen.Add(1)
		if changed {
			if err := d.save(); err != nil {
				d.log.Warn("saving state", "err", err)
			}
		}
		if d.events.listeners() > 0 {
			d.events.publish(d.apiEvent())
		}
	}
}

// entries returns the torrents in id order. The slice is shared and must
// not be changed; it is rebuilt after a torrent is added or removed.
func (d *Daemon) entries() []*entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.order == nil {
		out := make([]*entry, 0, len(d.byID))
		for _, e := range d.byID {
			out = append(out, e)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
		d.order = out
	}
	return d.order
}

// lookup finds a torrent by id.
func (d *Daemon) lookup(id int) (*entry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.byID[id]
	return e, ok
}

// lookupHash finds a torrent by info hash.
func (d *Daemon) lookupHash(h metainfo.Hash) (*entry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.byHash[h]
	return e, ok
}

// addRequest is one torrent to add: exactly one of Metainfo (a .torrent's
// bytes) and Magnet.
type addRequest struct {
	Metainfo []byte
	Magnet   string
	// Paused adds the torrent stopped.
	Paused bool
	// DownloadDir must be empty, the daemon's download folder or a folder
	// inside it.
	DownloadDir string
	// Wanted and Unwanted select files by index; Wanted nil means all.
	Wanted, Unwanted []int
	// High and Low list files by index with those priorities.
	High, Low []int
}

// add adds a torrent. A torrent already there is returned with ErrDuplicate.
func (d *Daemon) add(req addRequest) (*entry, error) {
	dir, err := d.checkDownloadDir(req.DownloadDir)
	if err != nil {
		return nil, err
	}
	var (
		mi  *metainfo.MetaInfo
		mag metainfo.Magnet
	)
	switch {
	case req.Metainfo != nil && req.Magnet != "":
		return nil, errors.New("daemon: give a .torrent or a magnet link, not both")
	case req.Metainfo != nil:
		if mi, err = metainfo.Parse(req.Metainfo); err != nil {
			return nil, err
		}
		if _, err := mi.UnmarshalInfo(); err != nil {
			return nil, err
		}
		if e, ok := d.lookupHash(mi.HashInfoBytes()); ok {
			return e, ErrDuplicate
		}
	case req.Magnet != "":
		if mag, err = metainfo.ParseMagnet(req.Magnet); err != nil {
			return nil, err
		}
		if mag.InfoHash == (metainfo.Hash{}) {
			return nil, errors.New("daemon: the magnet link has no v1 info hash (urn:btih); v2-only torrents are not supported yet")
		}
		if e, ok := d.lookupHash(mag.InfoHash); ok {
			return e, ErrDuplicate
		}
	default:
		return nil, errors.New("daemon: nothing to add: give a .torrent or a magnet link")
	}
	d.mu.Lock()
	closed, n := d.closed, len(d.byID)
	d.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if n >= d.maxTorrents() {
		return nil, fmt.Errorf("%w: %d torrents, the most this daemon holds (Config.MaxTorrents); remove some first", ErrTooMany, n)
	}

	opt := d.cfg.AddOptions
	opt.Verify = true
	if req.Wanted != nil {
		opt.Select = slices.Clone(req.Wanted)
	}
	opt.Stopped = req.Paused
	if dir != "" {
		opt.Storage = storage.NewFile(filepath.Join(d.cfg.DownloadDir, dir))
	}
	var t *torrent.Torrent
	if mi != nil {
		t, err = d.cfg.Client.AddTorrent(mi, opt)
	} else {
		t, err = d.cfg.Client.AddMagnet(req.Magnet, opt)
	}
	if err != nil {
		if errors.Is(err, torrent.ErrDuplicate) {
			return nil, ErrDuplicate
		}
		return nil, err
	}
	d.mu.Lock()
	e := &entry{id: d.nextID, hash: t.InfoHash(), t: t, magnet: req.Magnet, added: time.Now(), paused: req.Paused, dir: dir, limits: defaultLimits}
	if !req.Paused {
		e.started = e.added
	}
	e.tiers, e.webSeeds = d.announceOf(mi, req.Magnet)
	d.nextID++
	d.byID[e.id] = e
	d.byHash[e.hash] = e
	d.order = nil
	d.gen.Add(1)
	d.addedNow++
	d.mu.Unlock()
	if mi != nil {
		if err := d.store.saveTorrent(e.hash, req.Metainfo); err != nil {
			d.log.Warn("saving the .torrent", "infoHash", e.hash, "err", err)
		} else {
			e.torrentFile = true
		}
	}
	if t.Info() != nil {
		if len(req.Unwanted)+len(req.High)+len(req.Low) > 0 {
			d.applyFileChoice(e, req)
		}
	} else if len(req.Unwanted)+len(req.High)+len(req.Low) > 0 {
		// A magnet's files are known once its info arrives.
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			select {
			case <-t.GotInfo():
				d.applyFileChoice(e, req)
			case <-d.done:
			}
		}()
	}
	d.log.Info("torrent added", "id", e.id, "infoHash", e.hash, "name", t.Name(), "paused", req.Paused)
	d.saveOrLog()
	return e, nil
}

// announceOf returns the trackers and web seeds of a .torrent or a magnet
// link, with the trackers every torrent gets from the command line.
func (d *Daemon) announceOf(mi *metainfo.MetaInfo, magnet string) (tiers [][]string, webSeeds []string) {
	if mi != nil {
		tiers, webSeeds = mi.Tiers(), mi.WebSeeds()
	} else if m, err := metainfo.ParseMagnet(magnet); err == nil {
		for _, tr := range m.Trackers {
			tiers = append(tiers, []string{tr})
		}
		webSeeds = m.WebSeeds
	}
	if !d.cfg.AddOptions.NoTrackers {
		for _, tr := range d.cfg.AddOptions.Trackers {
			tiers = append(tiers, []string{tr})
		}
	}
	return tiers, webSeeds
}

// applyFileChoice sets what addRequest says of single files.
func (d *Daemon) applyFileChoice(e *entry, req addRequest) {
	files := e.t.Files()
	set := func(idx []int, p torrent.Priority) {
		for _, i := range idx {
			if i >= 0 && i < len(files) {
				files[i].SetPriority(p)
			}
		}
	}
	set(req.High, torrent.PriorityHigh)
	set(req.Unwanted, torrent.PriorityNone)
	d.notePriorities(e)
	d.saveOrLog()
}

// checkDownloadDir checks a torrent-add's download-dir and returns it
// relative to the daemon's download folder ("" for the folder itself). A
// folder inside it (absolute, or relative to it) is taken; one elsewhere,
// or any path with "..", is refused: an RPC client must not make the
// daemon write where it likes.
func (d *Daemon) checkDownloadDir(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	root := filepath.Clean(d.cfg.DownloadDir)
	if containsDotDot(dir) {
		return "", fmt.Errorf("%w: %q leaves the download folder %s", ErrDownloadDir, dir, root)
	}
	clean := filepath.Clean(dir)
	if !filepath.IsAbs(clean) {
		clean = filepath.Join(root, clean)
	}
	rel, err := filepath.Rel(root, clean)
	if err != nil || !filepath.IsLocal(rel) && rel != "." {
		return "", fmt.Errorf("%w: %q is outside the download folder %s (set by --data); folders inside it are taken", ErrDownloadDir, dir, root)
	}
	if rel == "." {
		return "", nil
	}
	return rel, nil
}

// containsDotDot reports whether a path has a ".." component, however it
// is spelled.
func containsDotDot(p string) bool {
	for _, part := range splitAny(p) {
		if part == ".." {
			return true
		}
	}
	return false
}

func splitAny(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' || p[i] == '\\' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}

// start resumes a stopped torrent.
func (d *Daemon) start(e *entry) error {
	err := e.t.Start()
	d.mu.Lock()
	if err == nil && e.paused {
		e.paused = false
		e.started = time.Now()
	}
	d.mu.Unlock()
	d.forget(e)
	d.saveOrLog()
	return err
}

// stop pauses a torrent.
func (d *Daemon) stop(e *entry) error {
	err := e.t.Stop()
	d.mu.Lock()
	if err == nil {
		e.paused = true
	}
	d.mu.Unlock()
	d.forget(e)
	d.saveOrLog()
	return err
}

// verify checks every piece of a torrent again.
func (d *Daemon) verify(e *entry) error {
	err := e.t.Recheck()
	d.forget(e)
	return err
}

// remove takes a torrent out; with deleteData its files go too.
func (d *Daemon) remove(e *entry, deleteData bool) error {
	last := e.t.Stats()
	d.mu.Lock()
	delete(d.byID, e.id)
	delete(d.byHash, e.hash)
	d.order = nil
	d.gen.Add(1)
	d.removedUp += last.UploadedTotal
	d.removedDown += last.DownloadedTotal
	d.mu.Unlock()
	err := e.t.Remove(deleteData)
	if rerr := d.store.removeTorrent(e.hash); rerr != nil && err == nil {
		err = rerr
	}
	d.log.Info("torrent removed", "id", e.id, "infoHash", e.hash, "deleteData", deleteData)
	d.saveOrLog()
	return err
}

func (d *Daemon) saveOrLog() {
	d.kick()
	if err := d.save(); err != nil {
		d.log.Warn("saving state", "err", err)
	}
}

// torrentLimits are a torrent's own rate limits in Transmission's terms:
// kB/s (1000 bytes), each applied only when turned on. Transmission's
// defaults: 100 kB/s, off.
type torrentLimits struct {
	Down   int64 `json:"downloadLimit"`
	DownOn bool  `json:"downloadLimited,omitempty"`
	Up     int64 `json:"uploadLimit"`
	UpOn   bool  `json:"uploadLimited,omitempty"`
}

var defaultLimits = torrentLimits{Down: 100, Up: 100}

// with returns l changed by what a torrent-set or session-set said.
func (l torrentLimits) with(s limitsSet) torrentLimits {
	if s.down != nil {
		l.Down = *s.down
	}
	if s.up != nil {
		l.Up = *s.up
	}
	if s.downOn != nil {
		l.DownOn = *s.downOn
	}
	if s.upOn != nil {
		l.UpOn = *s.upOn
	}
	return l
}

// bytes returns the limits in bytes per second, 0 where off.
func (l torrentLimits) bytes() (down, up int64) {
	if l.DownOn {
		down = l.Down * 1000
	}
	if l.UpOn {
		up = l.Up * 1000
	}
	return down, up
}

// applyClient sets the client's limits (session-set's speed limits) to l.
func (l torrentLimits) applyClient(c *torrent.Client) { c.SetRateLimits(l.bytes()) }

// sessionLimits are the session's speed limits at start: the flags' rates,
// Transmission's 100 kB/s (off) where a flag set none.
func sessionLimits(s SessionInfo) torrentLimits {
	l := defaultLimits
	if s.DownloadRate > 0 {
		l.Down, l.DownOn = max(s.DownloadRate/1000, 1), true
	}
	if s.UploadRate > 0 {
		l.Up, l.UpOn = max(s.UploadRate/1000, 1), true
	}
	return l
}

// apply sets t's limits to l.
func (l torrentLimits) apply(t *torrent.Torrent) { t.SetRateLimits(l.bytes()) }
