package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/httptracker"
	"github.com/swarmcast/swarmcast/tracker/udptracker"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
)

// defaultListen is BitTorrent's customary port; when it is taken, any free
// port is used instead.
const defaultListen = ":6881"

// clientFlags are the flags shared by every command that runs a client.
type clientFlags struct {
	listen    string
	peers     stringList
	trackers  stringList
	maxConns  int
	upLimit   string
	downLimit string
	quiet     bool
	json      bool
	verbose   bool
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", defaultListen, "TCP `ADDR` to accept peers on (\":0\" for any free port)")
	fs.Var(&f.peers, "peer", "connect to this peer `HOST:PORT` directly (repeatable)")
	fs.Var(&f.trackers, "tracker", "announce to this tracker `URL` too (repeatable)")
	fs.IntVar(&f.maxConns, "max-conns", torrent.DefaultMaxConns, "most peer connections per torrent")
	fs.StringVar(&f.upLimit, "up-limit", "", "upload limit `RATE` in bytes per second (\"8MB\", \"512KiB\"); none by default")
	fs.StringVar(&f.downLimit, "down-limit", "", "download limit `RATE` in bytes per second; none by default")
	fs.BoolVar(&f.quiet, "quiet", false, "print no progress")
	fs.BoolVar(&f.json, "json", false, "print progress as JSON lines")
	fs.BoolVar(&f.verbose, "v", false, "log the engine's decisions to stderr")
}

// session is a running client with its listener.
type session struct {
	client *torrent.Client
	listen string // the address we accept peers on
	close  func() error
}

// start builds a client that keeps data under dir.
func (f *clientFlags) start(dir string, stderr io.Writer) (*session, error) {
	up, err := parseRate(f.upLimit)
	if err != nil {
		return nil, fmt.Errorf("%w: --up-limit: %v", errUsage, err)
	}
	down, err := parseRate(f.downLimit)
	if err != nil {
		return nil, fmt.Errorf("%w: --down-limit: %v", errUsage, err)
	}
	l, err := tcp.Listen(f.listen)
	if err != nil && f.listen == defaultListen {
		l, err = tcp.Listen(":0")
	}
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", f.listen, err)
	}
	_, portStr, _ := net.SplitHostPort(l.Addr())
	port, _ := strconv.Atoi(portStr)
	var logger *slog.Logger
	if f.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	trackers := newTrackerCache(logger)
	c := torrent.NewClient(torrent.Config{
		Storage:      storage.NewFile(dir),
		Dialers:      map[string]transport.Dialer{transport.TCP: tcp.Dialer{}},
		Tracker:      trackers.get,
		ListenPort:   uint16(port),
		MaxConns:     f.maxConns,
		UploadRate:   up,
		DownloadRate: down,
		Logger:       logger,
		Version:      "swarmcast " + version,
	})
	go c.Serve(l)
	return &session{client: c, listen: l.Addr(), close: func() error {
		err := c.Close()
		trackers.close()
		return err
	}}, nil
}

func parseRate(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return parseSize(s)
}

// trackerCache shares one tracker client per announce URL among torrents.
type trackerCache struct {
	mu      sync.Mutex
	cfg     tracker.Config
	clients map[string]tracker.Client
}

func newTrackerCache(logger *slog.Logger) *trackerCache {
	return &trackerCache{
		cfg: tracker.Config{
			Schemes: tracker.Schemes{
				"http":  httptracker.Opener(httptracker.Config{}),
				"https": httptracker.Opener(httptracker.Config{}),
				"udp":   udptracker.Opener(udptracker.Config{}),
			},
			UserAgent: "swarmcast/" + version,
			Logger:    logger,
		},
		clients: map[string]tracker.Client{},
	}
}

func (c *trackerCache) get(url string) (tracker.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.clients[url]; ok {
		return cl, nil
	}
	cl, err := tracker.New(url, c.cfg)
	if err != nil {
		return nil, err
	}
	c.clients[url] = cl
	return cl, nil
}

func (c *trackerCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clients {
		cl.Close()
	}
}
