// Package torrent is swarmcast's BitTorrent engine: a Client holds
// torrents, each run by one owner goroutine that alone mutates its state;
// peers, readers, trackers and timers send it events. The engine imports no
// transport: connections arrive as transport.Conn through Config and
// Client.HandleConn.
package torrent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmcast/swarmcast/internal/hostport"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/peerwire"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/transport"
)

// Errors of the engine.
var (
	ErrClosed         = errors.New("torrent: client closed")
	ErrDuplicate      = errors.New("torrent: torrent already added")
	ErrUnknownTorrent = errors.New("torrent: peer asked for a torrent we do not have")
)

// Client runs torrents. Its methods are safe for concurrent use.
type Client struct {
	cfg      Config
	blocks   *peerwire.BlockPool
	hashJobs chan hashJob                // pieces for the hash workers (disk.go)
	nHash    int                         // how many hash workers
	upLimit  atomic.Pointer[rateLimiter] // Config.UploadRate, or SetRateLimits; nil: none
	dnLimit  atomic.Pointer[rateLimiter]
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex // guards torrents only: the map, never a torrent's state
	torrents map[metainfo.Hash]*Torrent
	closed   bool
	// handshaking holds inbound connections in their handshake, with when
	// they came (guarded by mu).
	handshaking map[transport.Conn]time.Time
	// listenPort is the port we tell trackers and peers: Config.ListenPort,
	// or else the port of the first listener given to Serve.
	listenPort atomic.Uint32
}

// NewClient returns a client configured by cfg.
func NewClient(cfg Config) *Client {
	cfg.fill()
	ctx, cancel := context.WithCancel(context.Background())
	n := cfg.HashWorkers
	if n <= 0 {
		n = runtime.NumCPU()
	}
	c := &Client{
		cfg:      cfg,
		blocks:   peerwire.NewBlockPool(BlockSize),
		hashJobs: make(chan hashJob),
		nHash:    n,
		ctx:      ctx,
		cancel:   cancel,
		torrents: map[metainfo.Hash]*Torrent{},

		handshaking: map[transport.Conn]time.Time{},
	}
	c.SetRateLimits(cfg.DownloadRate, cfg.UploadRate)
	c.listenPort.Store(uint32(cfg.ListenPort))
	c.wg.Add(n)
	for range n {
		go c.hashWorker()
	}
	return c
}

// PeerID returns our peer id.
func (c *Client) PeerID() [20]byte { return c.cfg.PeerID }

// AddOptions say how a torrent is added. The zero value downloads every file.
type AddOptions struct {
	// Select, if not nil, lists the indices of the files to download (BEP 53);
	// the others get priority None.
	Select []int
	// Verify hash-checks data already on disk before anything else, for
	// pieces that resume data does not vouch for.
	Verify bool
	// AssumeComplete marks every piece verified without reading it: for
	// seeding data whose torrent was just created from it.
	AssumeComplete bool
	// Trackers are announce URLs besides the torrent's own.
	Trackers []string
	// Peers are addresses to connect to, as "network://host:port" or plain
	// "host:port" (TCP).
	Peers []string
	// NoTrackers ignores the torrent's own trackers.
	NoTrackers bool
	// Storage, if not nil, holds this torrent's data instead of
	// Config.Storage (a download folder of its own).
	Storage storage.Storage
	// Stopped adds the torrent as Stop would leave it: no announce, no
	// connection, until Start (a client's "add paused"). Stopping it after
	// adding would tell its trackers "started" and then "stopped".
	Stopped bool
}

// AddTorrent adds a torrent from its metainfo.
func (c *Client) AddTorrent(mi *metainfo.MetaInfo, opt AddOptions) (*Torrent, error) {
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, err
	}
	var trackers [][]string
	if !opt.NoTrackers {
		trackers = mi.Tiers()
	}
	spec := torrentSpec{
		infoHash:  mi.HashInfoBytes(),
		infoBytes: mi.InfoBytes,
		info:      info,
		name:      info.BestName(),
		trackers:  trackers,
		webSeeds:  mi.WebSeeds(),
	}
	return c.add(spec, opt)
}

// AddMagnet adds a torrent from a magnet link; its metadata comes from peers
// (BEP 9). The link's so= selection and x.pe peers are used.
func (c *Client) AddMagnet(uri string, opt AddOptions) (*Torrent, error) {
	m, err := metainfo.ParseMagnet(uri)
	if err != nil {
		return nil, err
	}
	if m.InfoHash.IsZero() {
		return nil, fmt.Errorf("torrent: magnet link has only a v2 hash, which swarmcast cannot use yet")
	}
	spec := torrentSpec{infoHash: m.InfoHash, name: m.DisplayName, webSeeds: m.WebSeeds}
	if !opt.NoTrackers {
		for _, tr := range m.Trackers {
			spec.trackers = append(spec.trackers, []string{tr})
		}
	}
	if opt.Select == nil && len(m.Select) > 0 {
		opt.Select = metainfo.Indices(m.Select)
	}
	opt.Peers = append(opt.Peers, m.Peers...)
	return c.add(spec, opt)
}

func (c *Client) add(spec torrentSpec, opt AddOptions) (*Torrent, error) {
	for _, tr := range opt.Trackers {
		spec.trackers = append(spec.trackers, []string{tr})
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if _, ok := c.torrents[spec.infoHash]; ok {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrDuplicate, spec.infoHash)
	}
	t := newTorrent(c, spec, opt)
	c.torrents[spec.infoHash] = t
	c.mu.Unlock()
	if err := t.start(); err != nil {
		c.mu.Lock()
		delete(c.torrents, spec.infoHash)
		c.mu.Unlock()
		return nil, err
	}
	return t, nil
}

// Torrent returns the torrent with the given info hash.
func (c *Client) Torrent(h metainfo.Hash) (*Torrent, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.torrents[h]
	return t, ok
}

// Torrents returns every torrent of the client.
func (c *Client) Torrents() []*Torrent {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		out = append(out, t)
	}
	return out
}

func (c *Client) remove(t *Torrent) {
	c.mu.Lock()
	if c.torrents[t.infoHash] == t {
		delete(c.torrents, t.infoHash)
	}
	c.mu.Unlock()
}

// Serve accepts connections from l and hands each to HandleConn, until l is
// closed or the client is. It closes l when the client closes, and returns
// ErrClosed at once (closing l) when the client is already closed.
func (c *Client) Serve(l transport.Listener) error {
	// Serve usually runs on its own goroutine: the Add happens under the
	// lock so that it cannot race with Close's Wait.
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	if _, port, err := hostport.Split(l.Addr()); err == nil {
		if n, err := strconv.Atoi(port); err == nil {
			c.listenPort.CompareAndSwap(0, uint32(n))
		}
	}
	stop := context.AfterFunc(c.ctx, func() { l.Close() })
	defer stop()
	var pause time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if c.ctx.Err() != nil {
				return nil
			}
			// Out of file descriptors (or another passing failure):
			// wait and accept again, as net/http does; the torrents
			// keep going with the connections they have.
			if isTransient(err) {
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				c.cfg.Logger.Warn("accept failed; retrying", "err", err, "in", pause)
				select {
				case <-time.After(pause):
					continue
				case <-c.ctx.Done():
					return nil
				}
			}
			return err
		}
		pause = 0
		c.accept(conn)
	}
}

// accept starts the handshake of an inbound connection. When too many are
// in their handshake already, the oldest of them is closed to make room: a
// flood of connections that send nothing then costs a bounded number of
// goroutines and descriptors, and an honest peer that comes during it still
// gets its turn.
func (c *Client) accept(conn transport.Conn) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		conn.Close()
		return
	}
	if len(c.handshaking) >= maxInboundHandshakes {
		var oldest transport.Conn
		var at time.Time
		for hc, t := range c.handshaking {
			if oldest == nil || t.Before(at) {
				oldest, at = hc, t
			}
		}
		delete(c.handshaking, oldest)
		oldest.Close()
		c.cfg.Logger.Debug("inbound handshake dropped: too many at once", "addr", oldest.RemoteAddr())
	}
	c.handshaking[conn] = time.Now()
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.HandleConn(conn)
		c.mu.Lock()
		delete(c.handshaking, conn)
		c.mu.Unlock()
	}()
}

// HandleConn runs the BitTorrent handshake of an inbound connection and, if
// it names one of our torrents, adds the peer to it. It takes ownership of
// conn and returns once the handshake is done or has failed.
func (c *Client) HandleConn(conn transport.Conn) {
	if err := c.handleConn(conn); err != nil {
		c.cfg.Logger.Debug("inbound connection refused", "addr", conn.RemoteAddr(), "err", err)
		conn.Close()
	}
}

func (c *Client) handleConn(conn transport.Conn) error {
	done := closeOnTimeout(conn, handshakeTimeout)
	hs, err := peerwire.ReadHandshakeHeader(conn)
	if err != nil {
		done(false)
		return err
	}
	t, ok := c.Torrent(metainfo.Hash(hs.InfoHash))
	if !ok {
		done(false)
		return ErrUnknownTorrent
	}
	if err := peerwire.WriteHandshake(conn, t.ourHandshake()); err != nil {
		done(false)
		return err
	}
	id, err := peerwire.ReadPeerID(conn)
	if !done(err == nil) {
		return errors.Join(err, errors.New("torrent: handshake timed out"))
	}
	hs.PeerID = id
	return t.addConn(conn, hs)
}

// closeOnTimeout closes conn if the returned function is not called within
// d, since transport.Conn has no deadlines. The function reports whether it
// came in time (ok false also closes).
func closeOnTimeout(conn io.Closer, d time.Duration) func(ok bool) bool {
	timer := time.AfterFunc(d, func() { conn.Close() })
	return func(ok bool) bool {
		stopped := timer.Stop()
		return ok && stopped
	}
}

// Close stops every torrent, closes every connection and waits for the
// client's goroutines. Torrents close in parallel, so that one whose
// trackers are slow to hear "stopped" does not hold up the others.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	for conn := range c.handshaking {
		conn.Close()
	}
	c.mu.Unlock()
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = t.Close()
		}()
	}
	wg.Wait()
	c.cancel()
	c.wg.Wait()
	return errors.Join(errs...)
}
