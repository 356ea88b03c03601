package swarmcast

import (
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

// trackerCache shares one tracker client per announce URL among torrents:
// one WebSocket per ws:// tracker, one UDP connection ID per udp:// one.
type trackerCache struct {
	mu      sync.Mutex
	cfg     tracker.Config
	clients map[string]tracker.Client
	closed  bool
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
		cfg:     tracker.Config{Schemes: schemes, UserAgent: userAgent, Logger: logger},
		clients: map[string]tracker.Client{},
	}
}

// get returns the client of an announce URL, opening it the first time.
func (c *trackerCache) get(url string) (tracker.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[url]; ok {
		return cl, nil
	}
	if c.closed {
		return nil, errClosed
	}
	cl, err := tracker.New(url, c.cfg)
	if err != nil {
		return nil, err
	}
	c.clients[url] = cl
	return cl, nil
}

// close closes every tracker client; none is opened after.
func (c *trackerCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, cl := range c.clients {
		cl.Close()
	}
}
