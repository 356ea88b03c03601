package swarmcast

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/httptracker"
	"github.com/swarmcast/swarmcast/tracker/udptracker"
	"github.com/swarmcast/swarmcast/tracker/wstracker"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/webrtc"
)

// maxOpenTrackers bounds the tracker clients open at once over all
// torrents. A torrent or magnet link may name any number of trackers, and
// each open client can hold a socket (a WebSocket, a UDP connection ID) and
// goroutines; real torrents name a few dozen at most (the long public
// lists run to about 100), so 256 leaves room for many torrents sharing
// most of theirs.
const maxOpenTrackers = 256

// errTooManyTrackers is what a tracker gets when maxOpenTrackers are open
// and every one of them has a call in flight: the torrent tries it again
// at its next announce.
var errTooManyTrackers = errors.New("swarmcast: too many trackers in use at once")

// trackerCache shares one tracker client per announce URL among torrents
// (one WebSocket per ws:// tracker, one connection ID per udp:// one), and
// keeps at most max of them open: to open another, the least recently used
// client with no call in flight is closed. The torrents that used it keep
// their handle (a sharedTracker), which opens a fresh client at their next
// announce.
type trackerCache struct {
	cfg tracker.Config
	max int

	closing sync.WaitGroup // clients being closed

	mu     sync.Mutex
	byURL  map[string]*sharedTracker // the handles given out, open ones only
	open   list.List                 // of *sharedTracker with a client, most recently used first
	closed bool
}

func newTrackerCache(logger *slog.Logger, userAgent string, withWebRTC bool, rtc webrtc.Config, onConn func(metainfo.Hash, [20]byte, transport.Conn)) *trackerCache {
	schemes := tracker.Schemes{
		"http":  httptracker.Opener(httptracker.Config{}),
		"https": httptracker.Opener(httptracker.Config{}),
		"udp":   udptracker.Opener(udptracker.Config{}),
	}
	if withWebRTC {
		ws := wstracker.Opener(wstracker.Config{WebRTC: rtc, OnConn: onConn, Logger: logger})
		schemes["ws"], schemes["wss"] = ws, ws
	}
	return &trackerCache{
		cfg:   tracker.Config{Schemes: schemes, UserAgent: userAgent, Logger: logger},
		max:   maxOpenTrackers,
		byURL: map[string]*sharedTracker{},
	}
}

// get returns the shared client of an announce URL, opening it if needed;
// it fails for a URL no client can be made for (an unknown scheme).
func (c *trackerCache) get(url string) (tracker.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.byURL[url]; ok {
		return s, nil
	}
	s := &sharedTracker{c: c, url: url}
	if err := c.openLocked(s); err != nil {
		return nil, err
	}
	return s, nil
}

// openLocked opens s's client, closing the least recently used idle one
// when max are open. c.mu is held.
func (c *trackerCache) openLocked(s *sharedTracker) error {
	if c.closed {
		return errClosed
	}
	if c.open.Len() >= c.max {
		var victim *sharedTracker
		for e := c.open.Back(); e != nil; e = e.Prev() {
			if v := e.Value.(*sharedTracker); v.busy == 0 {
				victim = v
				break
			}
		}
		if victim == nil {
			return fmt.Errorf("%w (%d): %s not used for now", errTooManyTrackers, c.max, s.url)
		}
		c.dropLocked(victim)
	}
	cl, err := tracker.New(s.url, c.cfg)
	if err != nil {
		return err
	}
	s.cl = cl
	s.elem = c.open.PushFront(s)
	if _, ok := c.byURL[s.url]; !ok {
		c.byURL[s.url] = s
	}
	return nil
}

// dropLocked closes s's client (in the background: a WebSocket's goodbye
// must not hold the lock). c.mu is held.
func (c *trackerCache) dropLocked(s *sharedTracker) {
	c.open.Remove(s.elem)
	s.elem = nil
	if c.byURL[s.url] == s {
		delete(c.byURL, s.url)
	}
	cl := s.cl
	s.cl = nil
	c.closing.Add(1)
	go func() {
		defer c.closing.Done()
		cl.Close()
	}()
}

// close closes every tracker client and waits for them; none is opened
// after.
func (c *trackerCache) close() {
	c.mu.Lock()
	c.closed = true
	for c.open.Len() > 0 {
		c.dropLocked(c.open.Front().Value.(*sharedTracker))
	}
	c.mu.Unlock()
	c.closing.Wait()
}

// sharedTracker is the handle torrents hold for a tracker URL. Its client
// may be closed while idle to make room for others, and is opened again
// when the handle is next used.
type sharedTracker struct {
	c   *trackerCache
	url string
	// guarded by c.mu:
	cl   tracker.Client // nil while closed
	elem *list.Element  // in c.open while cl is not nil
	busy int            // calls in flight
}

var _ tracker.Client = (*sharedTracker)(nil)

// acquire returns the open client for one call, opening it if it was
// closed; release must follow.
func (s *sharedTracker) acquire() (tracker.Client, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.cl == nil {
		if err := c.openLocked(s); err != nil {
			return nil, err
		}
	}
	s.busy++
	c.open.MoveToFront(s.elem)
	return s.cl, nil
}

func (s *sharedTracker) release() {
	s.c.mu.Lock()
	s.busy--
	s.c.mu.Unlock()
}

// Announce implements tracker.Client.
func (s *sharedTracker) Announce(ctx context.Context, req tracker.AnnounceRequest) (tracker.AnnounceResponse, error) {
	cl, err := s.acquire()
	if err != nil {
		return tracker.AnnounceResponse{}, err
	}
	defer s.release()
	return cl.Announce(ctx, req)
}

// Scrape implements tracker.Client.
func (s *sharedTracker) Scrape(ctx context.Context, hashes []metainfo.Hash) (map[metainfo.Hash]tracker.ScrapeResult, error) {
	cl, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer s.release()
	return cl.Scrape(ctx, hashes)
}

// Close does nothing: the client is shared, and the cache closes it.
func (s *sharedTracker) Close() error { return nil }
