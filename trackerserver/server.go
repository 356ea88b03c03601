package trackerserver

import (
	"context"
	"crypto/rand"
	"errors"
	"hash/maphash"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults for Config's zero values, and where they come from.
const (
	// DefaultInterval is bittorrent-tracker's announce interval.
	DefaultInterval = 10 * time.Minute
	// DefaultMaxPeersPerTorrent keeps one torrent's peers within a few
	// hundred KiB; bittorrent-tracker keeps 1,000 per torrent, which a flash
	// crowd of viewers outgrows.
	DefaultMaxPeersPerTorrent = 5000
	// DefaultMaxTorrents and DefaultMaxPeers bound the store's heap to
	// about 1.1 GiB: TestStoreMemory measures a torrent with one peer at
	// about 450 bytes (the swarm, its peer list, its place in the shard's
	// map; small swarms have no maps of their own) and each further peer
	// in a big swarm at about 170 (its entry, its index and per-host
	// counts), and fails if they pass 512 and 192 bytes (0.5 GiB + 0.75
	// GiB at both caps).
	DefaultMaxTorrents = 1 << 20
	DefaultMaxPeers    = 4 << 20
	// DefaultMaxPeersPerIP is how many HTTP and UDP entries (ip:port) one IP
	// address may hold in one swarm. A household behind one NAT address
	// rarely runs more than a few clients of one torrent; 16 leaves room for
	// an office or a carrier-grade NAT, while one address holds at most 16 of
	// a swarm's 5,000 places.
	DefaultMaxPeersPerIP = 16
	// DefaultNewTorrentRate and DefaultNewTorrentBurst are each IP address's
	// token bucket for torrents the tracker does not know yet; the Net pair
	// is each /24 (IPv4) or /64 (IPv6) network's. The bursts let a seedbox
	// start a few hundred torrents at once (the rest are refused with "try
	// again later" and come back at their next announce). Since a peer
	// entry lives two intervals (20 minutes), one network holds at most
	// about 2,000 + 8 × 1,200 = 11,600 torrents, 1.1% of DefaultMaxTorrents,
	// where one address alone filled the table in 7.4 s before.
	DefaultNewTorrentRate     = 2
	DefaultNewTorrentBurst    = 500
	DefaultNewTorrentNetRate  = 8
	DefaultNewTorrentNetBurst = 2000
	// DefaultNumWant is bittorrent-tracker's DEFAULT_ANNOUNCE_PEERS.
	DefaultNumWant = 50
	// DefaultMaxNumWant is bittorrent-tracker's MAX_ANNOUNCE_PEERS, which
	// keeps a UDP announce answer under 512 bytes.
	DefaultMaxNumWant = 82
	// DefaultMaxScrapeHashes bounds an HTTP or WebSocket scrape.
	DefaultMaxScrapeHashes = 256

	// DefaultMaxMessageSize is the largest WebSocket message. WebTorrent
	// sends up to 5 offers whose SDP, candidates included, is 0.5–2 KiB each
	// (about 1.2× that once JSON-escaped); 10 offers of 4 KiB fit with room.
	DefaultMaxMessageSize = 64 << 10
	// DefaultMaxOffers is how many offers of one announce are relayed;
	// WebTorrent sends at most 5.
	DefaultMaxOffers = 10
	// DefaultMessageRate and DefaultMessageBurst are a WebSocket's token
	// bucket. A WebTorrent client sends one announce per torrent per interval
	// plus one answer per offer it takes; the burst covers a client that
	// starts a hundred torrents at once.
	DefaultMessageRate  = 10
	DefaultMessageBurst = 200
	// DefaultMaxConns bounds WebSocket connections (each costs one
	// goroutine and about 22 KiB of the process's RSS, measured with
	// bench/tracker/tracker.sh SOCKETS="2000 15000": 2.1 GiB at the cap).
	DefaultMaxConns = 100_000
	// DefaultMaxPeerIDsPerConn: WebTorrent shares one socket per tracker URL
	// between all clients of a page or process, each with its own peer ID.
	DefaultMaxPeerIDsPerConn = 8
	// DefaultMaxTorrentsPerConn bounds the torrents one socket announces.
	DefaultMaxTorrentsPerConn = 1024
	// DefaultHandshakeTimeout closes a WebSocket that has sent no valid
	// request by then.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultPingInterval: a WebSocket silent this long is pinged, and closed
	// if no pong comes within another interval. Browsers answer pings on
	// their own, even in background tabs.
	DefaultPingInterval = 30 * time.Second
	// DefaultWriteTimeout closes a WebSocket whose writes have stalled.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultMaxQueuedBytes bounds what waits to be written to one WebSocket;
	// messages beyond it are dropped.
	DefaultMaxQueuedBytes = 1 << 20

	// readHeaderTimeout bounds a slow HTTP request or WebSocket upgrade.
	readHeaderTimeout = 10 * time.Second
	// httpIdleTimeout closes idle HTTP keep-alive connections.
	httpIdleTimeout = 60 * time.Second
	// maxHeaderBytes: an announce URL is about 300 bytes; a scrape of
	// DefaultMaxScrapeHashes hashes about 16 KiB.
	maxHeaderBytes = 64 << 10
)

// Config configures a Server. The zero value is ready to use: every zero
// field takes its default. A negative HandshakeTimeout, IdleTimeout,
// PingInterval or WriteTimeout turns that timer off.
type Config struct {
	// Interval is the announce interval told to HTTP and UDP clients.
	Interval time.Duration
	// MinInterval is the HTTP "min interval"; zero means Interval/2.
	MinInterval time.Duration
	// WebSocketInterval is the interval told to WebSocket clients; zero
	// means Interval/5 (2 minutes), as bittorrent-tracker does.
	WebSocketInterval time.Duration
	// PeerTimeout drops a peer that has not announced for this long; zero
	// or less means twice the interval its protocol was told.
	PeerTimeout time.Duration

	// MaxPeersPerTorrent, MaxTorrents and MaxPeers bound the store. A peer
	// that arrives when its torrent or the tracker is full still gets peers,
	// but is not handed out to others; a new torrent is refused.
	MaxPeersPerTorrent int
	MaxTorrents        int
	MaxPeers           int
	// MaxPeersPerIP caps the HTTP and UDP entries (one per ip:port) of one
	// IPv4 address or IPv6 /64 in one torrent; more are not handed out. A full torrent
	// evicts an entry that has not announced for long to store a newcomer.
	MaxPeersPerIP int
	// NewTorrentRate (per second) and NewTorrentBurst are each source
	// address's token bucket for announces that create a torrent;
	// NewTorrentNetRate and NewTorrentNetBurst each /24 or /64 network's.
	// An announce that finds either bucket empty is refused with "try again
	// later". A negative NewTorrentRate turns both off.
	NewTorrentRate     float64
	NewTorrentBurst    int
	NewTorrentNetRate  float64
	NewTorrentNetBurst int
	// DefaultNumWant is how many peers an HTTP or UDP announce gets when it
	// does not say; MaxNumWant caps what it may ask for.
	DefaultNumWant int
	MaxNumWant     int
	// MaxScrapeHashes caps the info hashes of one HTTP or WebSocket scrape.
	// UDP scrapes carry at most 74 (BEP 15).
	MaxScrapeHashes int

	// TrustIPParam makes HTTP and UDP announces' "ip" parameter count.
	// Otherwise a peer's address is the one its request came from.
	TrustIPParam bool
	// TrustProxy takes an HTTP client's address from the first address of
	// X-Forwarded-For, for a tracker behind a reverse proxy.
	TrustProxy bool

	// MaxMessageSize is the largest WebSocket message; a larger one closes
	// the socket.
	MaxMessageSize int64
	// MaxOffers is how many offers of one WebSocket announce are relayed;
	// the rest are dropped.
	MaxOffers int
	// MessageRate (per second) and MessageBurst are each WebSocket's token
	// bucket; a socket that exceeds it is closed. A negative rate turns
	// the limit off.
	MessageRate  float64
	MessageBurst int
	// MaxConns caps open WebSockets; more upgrades get 503.
	MaxConns int
	// MaxPeerIDsPerConn is how many peer IDs one socket may announce as.
	MaxPeerIDsPerConn int
	// MaxTorrentsPerConn is how many torrents one socket may be in.
	MaxTorrentsPerConn int
	// HandshakeTimeout closes a WebSocket that has sent no valid request
	// in time; it also bounds reading an HTTP request's headers (at most 10 s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a WebSocket that has sent no message for this
	// long; zero means twice WebSocketInterval plus HandshakeTimeout.
	IdleTimeout time.Duration
	// PingInterval: a WebSocket that has sent nothing for this long is
	// pinged, and closed without a pong within another PingInterval.
	PingInterval time.Duration
	// WriteTimeout closes a WebSocket whose write has not finished in time.
	WriteTimeout time.Duration
	// MaxQueuedBytes bounds the messages waiting to be written to one
	// WebSocket; messages beyond it are dropped.
	MaxQueuedBytes int

	// StatsAllow and StatsToken restrict /stats and /metrics, as
	// opentracker serves its statistics to admin addresses only: when
	// either is set, a request is served if its address (the connection's,
	// never X-Forwarded-For) is in one of the StatsAllow prefixes or it
	// carries "Authorization: Bearer StatsToken"; others get 403. Both
	// empty: open to all.
	StatsAllow []netip.Prefix
	StatsToken string

	// Site, when set, answers the GET and HEAD requests for paths the
	// tracker does not serve itself (swarmcast serves its browser client
	// there). WebSocket upgrades never reach it: they are the tracker's on
	// every path.
	Site http.Handler

	// Logger receives debug logs of refused requests; nil means no logging.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.Interval, DefaultInterval)
	if c.Interval < time.Second {
		c.Interval = time.Second
	}
	def(&c.MinInterval, c.Interval/2)
	def(&c.WebSocketInterval, c.Interval/5)
	if c.WebSocketInterval < time.Second {
		c.WebSocketInterval = time.Second
	}
	defInt(&c.MaxPeersPerTorrent, DefaultMaxPeersPerTorrent)
	defInt(&c.MaxTorrents, DefaultMaxTorrents)
	defInt(&c.MaxPeers, DefaultMaxPeers)
	defInt(&c.MaxPeersPerIP, DefaultMaxPeersPerIP)
	if c.NewTorrentRate == 0 {
		c.NewTorrentRate = DefaultNewTorrentRate
	}
	defInt(&c.NewTorrentBurst, DefaultNewTorrentBurst)
	if c.NewTorrentNetRate <= 0 {
		c.NewTorrentNetRate = DefaultNewTorrentNetRate
	}
	defInt(&c.NewTorrentNetBurst, DefaultNewTorrentNetBurst)
	defInt(&c.DefaultNumWant, DefaultNumWant)
	defInt(&c.MaxNumWant, DefaultMaxNumWant)
	defInt(&c.MaxScrapeHashes, DefaultMaxScrapeHashes)
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	defInt(&c.MaxOffers, DefaultMaxOffers)
	if c.MessageRate == 0 {
		c.MessageRate = DefaultMessageRate
	}
	defInt(&c.MessageBurst, DefaultMessageBurst)
	defInt(&c.MaxConns, DefaultMaxConns)
	defInt(&c.MaxPeerIDsPerConn, DefaultMaxPeerIDsPerConn)
	defInt(&c.MaxTorrentsPerConn, DefaultMaxTorrentsPerConn)
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.IdleTimeout, 2*c.WebSocketInterval+max(c.HandshakeTimeout, 0))
	def(&c.PingInterval, DefaultPingInterval)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	defInt(&c.MaxQueuedBytes, DefaultMaxQueuedBytes)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// ErrServerClosed is returned by Serve and ServeUDP after Shutdown or Close.
var ErrServerClosed = errors.New("trackerserver: server closed")

// Server is a BitTorrent tracker: HTTP announce and scrape (BEP 3, 7, 23,
// 48), UDP (BEP 15) and the WebTorrent WebSocket protocol, over one store of
// swarms. Its methods are safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *store
	epoch time.Time
	seed  maphash.Seed // keys offer records
	// inst is this instance's ID in a cluster (0 alone), cluster its
	// membership and routing; both are set by JoinCluster before serving.
	inst    uint64
	cluster *cluster
	udp     udpSecret

	conns connRegistry
	ids   idRegistry
	ctr   counters
	rate  rateMeter

	statsCache statsCache

	registry *prometheus.Registry
	metrics  http.Handler

	// Derived from cfg, in server-clock nanoseconds.
	ttlHTTP, ttlWS int64

	mu           sync.Mutex
	started      bool
	shuttingDown bool
	httpServers  []*http.Server
	packetConns  []net.PacketConn
	done         chan struct{} // closed by Shutdown or Close
	bgWG         sync.WaitGroup
	connWG       sync.WaitGroup // WebSocket handlers and pings
}

// New returns a Server configured by cfg. It listens on nothing: pass it
// listeners with Serve and ServeUDP, or mount it as an http.Handler. Call
// Shutdown or Close when done.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger,
		epoch: time.Now(),
		seed:  maphash.MakeSeed(),
		done:  make(chan struct{}),
	}
	s.store = newStore(&s.cfg)
	s.rate.n, s.rate.next = 1, 1 // a zero sample at time zero
	s.conns.init()
	s.ids.init()
	if _, err := rand.Read(s.udp.key[:]); err != nil {
		panic("trackerserver: no randomness for UDP connection IDs: " + err.Error())
	}
	s.ttlHTTP = int64(2 * cfg.Interval)
	s.ttlWS = int64(2 * cfg.WebSocketInterval)
	if cfg.PeerTimeout > 0 {
		s.ttlHTTP, s.ttlWS = int64(cfg.PeerTimeout), int64(cfg.PeerTimeout)
	}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(s.Collector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	return s
}

// now is the server clock: monotonic nanoseconds since New.
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }

// start runs the housekeeping goroutine once. It reports false after
// Shutdown, when nothing may start any more.
func (s *Server) start() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shuttingDown {
		return false
	}
	if !s.started {
		s.started = true
		s.bgWG.Add(1)
		go s.housekeep()
	}
	return true
}

// ServeHTTP serves announce at /announce, scrape at /scrape, statistics at
// /stats (JSON) and Prometheus metrics at /metrics, and accepts WebSocket
// upgrades on any path, as bittorrent-tracker does.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isWebSocketUpgrade(r) {
		s.serveWebSocket(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	switch r.URL.Path {
	case "/announce":
		s.serveAnnounce(w, r)
	case "/scrape":
		s.serveScrape(w, r)
	case "/stats", "/stats.json":
		s.serveStats(w, r)
	case "/metrics":
		s.serveMetrics(w, r)
	default:
		if s.cfg.Site != nil {
			s.cfg.Site.ServeHTTP(w, r)
			return
		}
		http.Error(w, "404 Not Found", http.StatusNotFound)
	}
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// Serve accepts HTTP connections on l and serves them until Shutdown or
// Close, when it returns ErrServerClosed. It closes l.
func (s *Server) Serve(l net.Listener) error {
	rht := readHeaderTimeout
	if t := s.cfg.HandshakeTimeout; t > 0 {
		rht = min(rht, t)
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: rht,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          log.New(slogWriter{s.log}, "", 0),
	}
	s.mu.Lock()
	if s.shuttingDown {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.httpServers = append(s.httpServers, hs)
	s.mu.Unlock()
	if !s.start() {
		l.Close()
		return ErrServerClosed
	}
	err := hs.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// slogWriter sends net/http's error log (TLS handshakes, bad requests) to
// the debug log.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("trackerserver: http: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// Shutdown stops the server gracefully: it closes the listeners and UDP
// sockets, waits for HTTP requests in flight, sends every WebSocket a close
// frame (1001, going away) and waits for the sockets to close. When ctx ends
// first, it closes what is left at once and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.shuttingDown
	s.shuttingDown = true
	servers := s.httpServers
	pcs := s.packetConns
	s.mu.Unlock()
	if first {
		close(s.done)
	}
	var errs []error
	for _, pc := range pcs {
		pc.Close()
	}
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			hs.Close()
		}
	}
	s.conns.each(func(c *wsConn) { c.goodbye() })
	waited := make(chan struct{})
	go func() {
		s.connWG.Wait()
		s.bgWG.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		s.conns.each(func(c *wsConn) { c.kill() })
		<-waited
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

// Close stops the server at once: listeners, UDP sockets and WebSockets are
// closed without goodbyes. It waits for the server's goroutines.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// housekeep expires peers and swarms, pings quiet WebSockets, closes stuck
// or idle ones, and samples the announce rate.
func (s *Server) housekeep() {
	defer s.bgWG.Done()
	tick := s.tickInterval()
	t := time.NewTicker(tick)
	defer t.Stop()
	expireEvery := min(s.ttlHTTP, s.ttlWS) / 4
	nextExpire := s.now() + expireEvery
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		now := s.now()
		s.rate.sample(now, s.store)
		if now >= nextExpire {
			s.store.expire(now, s.ttlHTTP)
			nextExpire = now + expireEvery
		}
		s.sweepConns(now)
	}
}

// tickInterval is a quarter of the shortest timer, between 5 ms and 1 s.
func (s *Server) tickInterval() time.Duration {
	d := time.Second
	for _, t := range []time.Duration{s.cfg.HandshakeTimeout, s.cfg.IdleTimeout, s.cfg.PingInterval,
		s.cfg.WriteTimeout, time.Duration(s.ttlHTTP), time.Duration(s.ttlWS)} {
		if t > 0 {
			d = min(d, t/4)
		}
	}
	return max(d, 5*time.Millisecond)
}

// counters are totals kept outside the store's shards.
type counters struct {
	wsMessages     atomic.Uint64
	wsBadMessages  atomic.Uint64
	offersRelayed  atomic.Uint64
	answersRelayed atomic.Uint64
	answersRefused atomic.Uint64
	dropped        atomic.Uint64 // messages not queued: the receiver was too far behind
	rateLimited    atomic.Uint64 // sockets closed for sending too fast
	timedOut       atomic.Uint64 // sockets closed by a timeout
	wsAccepted     atomic.Uint64
	wsRejected     atomic.Uint64 // upgrades refused: too many sockets
	udpPackets     atomic.Uint64
	udpBad         atomic.Uint64
	udpDropped     atomic.Uint64 // among udpBad: not answered
	httpBad        atomic.Uint64
}
