package swarmcast

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/mse"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
	"github.com/swarmcast/swarmcast/transport/webrtc"
	"github.com/swarmcast/swarmcast/webseed"
)

// DefaultListenAddr is where a client accepts peers when Config.ListenAddr
// is empty: BitTorrent's customary port on every address. When another
// program holds it, the client takes any free port instead.
const DefaultListenAddr = ":6881"

// DefaultVersion is what a client calls itself when Config.Version is
// empty.
const DefaultVersion = "swarmcast 0.1.0-dev"

// Errors of NewClient.
var (
	// ErrPortTaken is wrapped by NewClient's error when Config.ListenAddr
	// names a port another program (or another client) listens on.
	ErrPortTaken = errors.New("swarmcast: port taken")
	// ErrBadConfig is wrapped by NewClient's error for a Config it cannot
	// use (a negative rate, say).
	ErrBadConfig = errors.New("swarmcast: bad config")
)

// Config configures a Client. The zero value is a working client: data in
// the current folder, TCP on port 6881 (or any free port when that is
// taken), trackers of every kind, WebRTC peers through ws:// and wss://
// trackers, web seeds, local service discovery and the DHT; no rate limit.
type Config struct {
	// DataDir is the folder torrents' data goes to; "" means the current
	// folder. Each torrent's files go where its paths say, under DataDir,
	// with a resume sidecar in DataDir/.swarmcast.
	DataDir string
	// Storage, if not nil, holds torrents' data instead of a folder
	// (storage.NewMemory(), or a backend of the program's own); DataDir is
	// then ignored.
	Storage storage.Storage

	// ListenAddr is the TCP address to accept peers on, like ":6881",
	// "127.0.0.1:0" (any free port on loopback) or "[::]:51413". It is used
	// as written: a taken port is an error wrapping ErrPortTaken. "" means
	// DefaultListenAddr, or any free port when that one is taken (Addr
	// says which, DefaultPortErr why).
	ListenAddr string

	// Trackers are announce URLs (http, https, udp, ws, wss) used for every
	// torrent besides the torrent's own.
	Trackers []string
	// TrackerTiers announces to one tracker at a time, tier by tier, as
	// BEP 12 says. By default every tracker is announced to at once, as
	// WebTorrent and qBittorrent do.
	TrackerTiers bool

	// NoDHT turns off the DHT (BEP 5). It is also off when ListenAddr is a
	// loopback address and DHTBootstrap is empty: nobody it could find
	// would reach the client.
	NoDHT bool
	// DHTBootstrap are "host:port" addresses of DHT nodes to join through;
	// empty means the routing table saved by an earlier run (in the user's
	// cache folder, swarmcast/dht-nodes) and the public routers.
	DHTBootstrap []string

	// NoLSD turns off local service discovery (BEP 14 multicast on the
	// local network). It is also off when ListenAddr is a loopback address
	// and on a host without multicast.
	NoLSD bool

	// NoWebRTC ignores ws:// and wss:// trackers, and with them every
	// WebRTC peer (browsers among them).
	NoWebRTC bool
	// ICEServers are STUN server URLs ("stun:stun.example:3478") for
	// WebRTC behind NAT; none are needed on one host or one network.
	ICEServers []string
	// WebRTCLoopback offers WebRTC peers 127.0.0.1 only: for tests, and
	// taken anyway on a host with no network but loopback.
	WebRTCLoopback bool

	// NoWebSeeds never fetches from a torrent's web seeds (BEP 19 HTTP
	// origins).
	NoWebSeeds bool

	// Encryption is the message stream encryption (MSE/PE) policy of TCP
	// connections: "prefer" (the default when empty: dial encrypted, fall
	// back to plain; accept both), "require" (RC4 only, both ways) or
	// "off" (plain only).
	Encryption string

	// UploadRate and DownloadRate limit bytes per second over all
	// torrents; 0 means no limit.
	UploadRate, DownloadRate int64
	// MaxConns is the most peer connections per torrent; 0 means
	// torrent.DefaultMaxConns.
	MaxConns int
	// LocalNetworks are the networks whose peers count as local: dialled
	// first, asked first for pieces and given most upload slots, so that
	// traffic stays on them (a site's or an ISP's prefixes). nil means
	// private, loopback and link-local addresses; an empty non-nil list
	// means none (only peers found by local service discovery are local).
	LocalNetworks []netip.Prefix

	// Logger receives the client's log, the engine's decisions at debug
	// level; nil means none.
	Logger *slog.Logger
	// Version is what the client calls itself, like "swarmcast 1.2.0": in
	// the extension handshake peers see, and with a slash for the space as
	// the User-Agent of tracker and web seed requests. "" means
	// DefaultVersion.
	Version string
}

// Client is a BitTorrent client with every transport and discovery wired:
// it accepts TCP peers on its listen address and dials them, trades with
// WebRTC peers found through WebSocket trackers, announces to HTTP, UDP and
// WebSocket trackers, fetches from web seeds, and finds peers by the DHT
// and local service discovery. The engine's methods (AddMagnet,
// AddTorrent, Torrent, Torrents, ...) come from the embedded
// *torrent.Client; its methods are safe for concurrent use.
type Client struct {
	*torrent.Client

	cfg      Config
	addr     string
	portErr  error
	seeds    *seedStorage
	trackers *trackerCache
	lsd      interface{ Close() error }
	dht      dhtNodes
	utp      *utpRefuser   // when no DHT node holds the UDP side of the port
	served   chan struct{} // closed when Serve has returned

	closeOnce sync.Once
	closeErr  error
}

// NewClient starts a client configured by cfg: it listens, and starts the
// DHT and local service discovery. Close stops all of it.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	enc, _ := cfg.encryption() // checked
	c := &Client{cfg: cfg}
	// An encrypted connection names its torrent by a hash of the info hash:
	// one SHA-1 per torrent per connection, cheap next to the handshake's
	// two modular exponentiations.
	lc := tcp.ListenConfig{Encryption: enc, InfoHash: func(skeyHash [20]byte) ([20]byte, bool) {
		if c.Client == nil {
			return [20]byte{}, false
		}
		for _, t := range c.Client.Torrents() {
			if ih := t.InfoHash(); mse.SKeyHash(ih) == skeyHash {
				return ih, true
			}
		}
		return [20]byte{}, false
	}}
	l, portErr, err := listen(lc, cfg.ListenAddr)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if portErr != nil {
		logger.Warn("default port taken; listening on another", "port", portOf(DefaultListenAddr), "err", portErr, "addr", l.Addr())
	}
	version := cfg.Version
	if version == "" {
		version = DefaultVersion
	}
	userAgent := strings.Replace(version, " ", "/", 1)
	var base storage.Storage = cfg.Storage
	if base == nil {
		dir := cfg.DataDir
		if dir == "" {
			dir = "."
		}
		base = storage.NewFile(dir)
	}
	c.addr, c.portErr, c.seeds, c.served = l.Addr(), portErr, newSeedStorage(base), make(chan struct{})
	rtc := webrtc.Config{ICEServers: cfg.ICEServers, Loopback: cfg.WebRTCLoopback || !hasNetwork(), Logger: cfg.Logger}
	c.trackers = newTrackerCache(cfg.Logger, userAgent, !cfg.NoWebRTC, rtc, c.webRTCConn)
	var webSeed func(string, metainfo.Hash, *metainfo.Info) (transport.Conn, error)
	if !cfg.NoWebSeeds {
		webSeed = func(u string, ih metainfo.Hash, info *metainfo.Info) (transport.Conn, error) {
			return webseed.New(u, ih, info, webseed.Options{UserAgent: userAgent})
		}
	}
	c.Client = torrent.NewClient(torrent.Config{
		Storage:       c.seeds,
		Dialers:       map[string]transport.Dialer{transport.TCP: tcp.NewDialer(enc)},
		Tracker:       c.trackers.get,
		TrackerTiers:  cfg.TrackerTiers,
		WebSeed:       webSeed,
		ListenPort:    uint16(portNumber(c.addr)),
		MaxConns:      cfg.MaxConns,
		LocalNetworks: cfg.LocalNetworks,
		UploadRate:    cfg.UploadRate,
		DownloadRate:  cfg.DownloadRate,
		Logger:        cfg.Logger,
		Version:       version,
	})
	go func() {
		defer close(c.served)
		c.Client.Serve(l)
	}()
	if s := startLSD(c.Client, c.addr, cfg.NoLSD, logger); s != nil {
		c.lsd = s
	}
	// The DHT's host is the one configured, not the listener's: ":6881"
	// listens on "[::]:6881", but the DHT keeps the two families apart, so
	// no host means a node on each (BEP 32), not one udp6 node.
	host, _, _ := net.SplitHostPort(cfg.ListenAddr)
	c.dht = startDHT(c.Client, host, portNumber(c.addr), cfg.NoDHT, cfg.DHTBootstrap, logger)
	if len(c.dht) == 0 {
		c.utp = startUTPRefuser(host, portNumber(c.addr), logger)
	}
	return c, nil
}

// check refuses what no client can run with.
func (cfg *Config) check() error {
	switch {
	case cfg.UploadRate < 0:
		return fmt.Errorf("%w: UploadRate %d is negative (0 means no limit)", ErrBadConfig, cfg.UploadRate)
	case cfg.DownloadRate < 0:
		return fmt.Errorf("%w: DownloadRate %d is negative (0 means no limit)", ErrBadConfig, cfg.DownloadRate)
	case cfg.MaxConns < 0:
		return fmt.Errorf("%w: MaxConns %d is negative (0 means the default, %d)", ErrBadConfig, cfg.MaxConns, torrent.DefaultMaxConns)
	}
	if _, err := cfg.encryption(); err != nil {
		return fmt.Errorf("%w: Encryption: %v", ErrBadConfig, err)
	}
	return nil
}

// encryption returns the MSE policy Encryption names.
func (cfg *Config) encryption() (mse.Policy, error) {
	return mse.ParsePolicy(cmp.Or(cfg.Encryption, "prefer"))
}

// webRTCConn hands a data channel opened through a WebSocket tracker to its
// torrent.
func (c *Client) webRTCConn(ih metainfo.Hash, _ [20]byte, conn transport.Conn) {
	t, ok := c.Client.Torrent(ih)
	if !ok {
		conn.Close()
		return
	}
	go t.AddConn(conn)
}

// Addr returns the TCP address the client accepts peers on, like
// "[::]:6881" or "127.0.0.1:40213".
func (c *Client) Addr() string { return c.addr }

// DefaultPortErr returns why the client does not listen on
// DefaultListenAddr when Config.ListenAddr was empty and the default port
// was taken (Addr says where it listens instead), and nil otherwise.
func (c *Client) DefaultPortErr() error { return c.portErr }

// AddTorrent adds a torrent from its metainfo, announcing to Config.Trackers
// besides the torrent's own trackers and opt.Trackers.
func (c *Client) AddTorrent(mi *metainfo.MetaInfo, opt torrent.AddOptions) (*torrent.Torrent, error) {
	return c.Client.AddTorrent(mi, c.withTrackers(opt))
}

// AddMagnet adds a torrent from a magnet link, announcing to
// Config.Trackers besides the link's own trackers and opt.Trackers; its
// metadata comes from peers.
func (c *Client) AddMagnet(uri string, opt torrent.AddOptions) (*torrent.Torrent, error) {
	return c.Client.AddMagnet(uri, c.withTrackers(opt))
}

func (c *Client) withTrackers(opt torrent.AddOptions) torrent.AddOptions {
	if len(c.cfg.Trackers) > 0 {
		opt.Trackers = append(append([]string(nil), opt.Trackers...), c.cfg.Trackers...)
	}
	return opt
}

// Close stops every torrent, the listener, the DHT, local service
// discovery and the tracker clients, and waits for their goroutines. DHT
// nodes save their routing tables. Close may be called more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		if c.lsd != nil {
			errs = append(errs, c.lsd.Close())
		}
		errs = append(errs, c.dht.Close(), c.utp.Close())
		errs = append(errs, c.Client.Close())
		<-c.served
		c.trackers.close()
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// portOf returns the port of a listen address, as written.
func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return addr
}

// portNumber returns the port of a listen address, or 0.
func portNumber(addr string) int {
	n, _ := strconv.Atoi(portOf(addr))
	return n
}
