package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"

	"github.com/swarmcast/swarmcast/lsd"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/mse"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/tracker/httptracker"
	"github.com/swarmcast/swarmcast/tracker/udptracker"
	"github.com/swarmcast/swarmcast/tracker/wstracker"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/tcp"
	"github.com/swarmcast/swarmcast/transport/webrtc"
	"github.com/swarmcast/swarmcast/webseed"
)

// defaultListen is BitTorrent's customary port; when it is taken, any free
// port is used instead.
const defaultListen = ":6881"

// clientFlags are the flags shared by every command that runs a client.
type clientFlags struct {
	listen    string
	listenSet bool // --listen was given: used as written, never replaced
	peers     stringList
	trackers  stringList
	tiers     bool
	maxConns  int
	upLimit   string
	downLimit string
	quiet     bool
	json      bool
	verbose   bool
	noWebRTC  bool
	noWebSeed bool
	noLSD     bool
	stun      stringList
	loopback  bool
	dht       dhtFlags

	encryption string // --encryption: prefer, require or off
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	f.listen = defaultListen
	fs.Func("listen", "TCP `ADDR` to accept peers on (default "+defaultListen+", or any free port when that is taken; \":0\" for any free port)", func(s string) error {
		f.listen, f.listenSet = s, true
		return nil
	})
	fs.Var(&f.peers, "peer", "connect to this peer `HOST:PORT` directly (repeatable)")
	fs.Var(&f.trackers, "tracker", "announce to this tracker `URL` too (repeatable)")
	fs.BoolVar(&f.tiers, "tracker-tiers", false, "announce to one tracker at a time, tier by tier, as BEP 12 says (by default every tracker at once, as WebTorrent and qBittorrent do)")
	fs.IntVar(&f.maxConns, "max-conns", torrent.DefaultMaxConns, "most peer connections per torrent")
	fs.StringVar(&f.upLimit, "up-limit", "", "upload limit `RATE` in bytes per second (\"8MB\", \"512KiB\"); none by default")
	fs.StringVar(&f.downLimit, "down-limit", "", "download limit `RATE` in bytes per second; none by default")
	fs.BoolVar(&f.quiet, "quiet", false, "print no progress")
	fs.BoolVar(&f.json, "json", false, "print progress as JSON lines")
	fs.BoolVar(&f.verbose, "v", false, "log the engine's decisions to stderr")
	fs.BoolFunc("webrtc", "connect to browsers over WebRTC through ws:// and wss:// trackers (the default)", func(s string) error {
		v, err := strconv.ParseBool(s)
		f.noWebRTC = err == nil && !v
		return nil
	})
	fs.BoolVar(&f.noWebRTC, "no-webrtc", false, "no WebRTC peers: ignore ws:// and wss:// trackers")
	fs.BoolVar(&f.noLSD, "no-lsd", false, "no local service discovery (BEP 14 multicast on the local network; off anyway when --listen is a loopback address)")
	fs.BoolVar(&f.noWebSeed, "no-webseeds", false, "never fetch from the torrent's web seeds (BEP 19 HTTP origins)")
	fs.Var(&f.stun, "stun", "STUN server `URL` for WebRTC behind NAT, like stun:stun.example:3478 (repeatable; none needed on one host)")
	fs.BoolVar(&f.loopback, "webrtc-loopback", false, "WebRTC over 127.0.0.1 only (for a machine without a network)")
	f.dht.register(fs)
	fs.StringVar(&f.encryption, "encryption", "prefer", "message stream encryption (MSE/PE) `POLICY`: prefer (dial encrypted, fall back to plain; accept both), require (RC4 only, both ways), off (plain only)")
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
	enc, err := mse.ParsePolicy(cmp.Or(f.encryption, "prefer"))
	if err != nil {
		return nil, fmt.Errorf("%w: --encryption: %v", errUsage, err)
	}
	var c *torrent.Client
	lc := tcp.ListenConfig{Encryption: enc, InfoHash: func(skeyHash [20]byte) ([20]byte, bool) {
		// One SHA-1 per torrent per encrypted connection: cheap next
		// to the handshake's two modular exponentiations.
		for _, t := range c.Torrents() {
			if ih := t.InfoHash(); mse.SKeyHash(ih) == skeyHash {
				return ih, true
			}
		}
		return [20]byte{}, false
	}}
	l, err := f.openListener(lc, stderr)
	if err != nil {
		return nil, err
	}
	_, portStr, _ := net.SplitHostPort(l.Addr())
	port, _ := strconv.Atoi(portStr)
	var logger *slog.Logger
	if f.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rtc := webrtc.Config{ICEServers: f.stun, Loopback: f.loopback || !hasNetwork(), Logger: logger}
	onConn := func(ih metainfo.Hash, _ [20]byte, conn transport.Conn) {
		t, ok := c.Torrent(ih)
		if !ok {
			conn.Close()
			return
		}
		go t.AddConn(conn)
	}
	trackers := newTrackerCache(logger, !f.noWebRTC, rtc, onConn)
	var webSeed func(string, metainfo.Hash, *metainfo.Info) (transport.Conn, error)
	if !f.noWebSeed {
		webSeed = func(u string, ih metainfo.Hash, info *metainfo.Info) (transport.Conn, error) {
			return webseed.New(u, ih, info, webseed.Options{UserAgent: "swarmcast/" + version})
		}
	}
	c = torrent.NewClient(torrent.Config{
		Storage:      storage.NewFile(dir),
		Dialers:      map[string]transport.Dialer{transport.TCP: tcp.NewDialer(enc)},
		Tracker:      trackers.get,
		TrackerTiers: f.tiers,
		WebSeed:      webSeed,
		ListenPort:   uint16(port),
		MaxConns:     f.maxConns,
		UploadRate:   up,
		DownloadRate: down,
		Logger:       logger,
		Version:      "swarmcast " + version,
	})
	go c.Serve(l)
	disc := f.startLSD(c, l.Addr(), logger)
	dhtNode := f.dht.start(c, l.Addr(), logger)
	return &session{client: c, listen: l.Addr(), close: func() error {
		if disc != nil {
			disc.Close()
		}
		if dhtNode != nil {
			dhtNode.Close()
		}
		err := c.Close()
		trackers.close()
		return err
	}}, nil
}

// openListener listens on --listen as the user wrote it; only the unset
// default falls back to any free port (and says which).
func (f *clientFlags) openListener(lc tcp.ListenConfig, stderr io.Writer) (transport.Listener, error) {
	l, err := lc.Listen(f.listen)
	if err == nil {
		return l, nil
	}
	if !f.listenSet {
		if l, err2 := lc.Listen(":0"); err2 == nil {
			if !f.quiet {
				fmt.Fprintf(stderr, "port %s is taken (%v); listening on %s instead\n", portOf(f.listen), errors.Unwrap(err), l.Addr())
			}
			return l, nil
		}
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listening on %s: port %s is taken by another program (or another swarmcast); stop it, or choose another port with --listen :PORT (--listen :0 takes any free port)",
			f.listen, portOf(f.listen))
	}
	return nil, fmt.Errorf("listening on %s: %w", f.listen, err)
}

// portOf returns the port of a listen address.
func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return addr
}

// startLSD starts BEP 14 local service discovery for the client's public
// torrents, unless turned off or pointless: a client listening on loopback
// cannot be reached by the peers it would find. A host without multicast
// (no network) runs without it.
func (f *clientFlags) startLSD(c *torrent.Client, listen string, logger *slog.Logger) *lsd.Service {
	host, portStr, _ := net.SplitHostPort(listen)
	port, _ := strconv.Atoi(portStr)
	if ip, err := netip.ParseAddr(host); f.noLSD || port == 0 || (err == nil && ip.IsLoopback()) {
		return nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s, err := lsd.Start(lsd.Config{
		Port: uint16(port),
		Torrents: func() []metainfo.Hash {
			var out []metainfo.Hash
			for _, t := range c.Torrents() {
				// Private torrents use their trackers only (BEP 27). A
				// magnet link's torrent is announced until its info
				// arrives and says otherwise, as libtorrent does: the
				// info hash is all an announce reveals.
				if info := t.Info(); info == nil || !info.Private {
					out = append(out, t.InfoHash())
				}
			}
			return out
		},
		OnPeer: func(ih metainfo.Hash, addr netip.AddrPort) {
			if t, ok := c.Torrent(ih); ok {
				if info := t.Info(); info == nil || !info.Private {
					t.AddPeersFrom(torrent.SourceLSD, addr.String())
				}
			}
		},
		Logger: logger,
	})
	if err != nil {
		logger.Debug("local service discovery off", "err", err)
		return nil
	}
	return s
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

func newTrackerCache(logger *slog.Logger, withWebRTC bool, rtc webrtc.Config, onConn func(metainfo.Hash, [20]byte, transport.Conn)) *trackerCache {
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
		cfg:     tracker.Config{Schemes: schemes, UserAgent: "swarmcast/" + version, Logger: logger},
		clients: map[string]tracker.Client{},
	}
}

// hasNetwork reports whether any interface other than loopback is up with an
// address: without one, WebRTC can only use loopback candidates.
func hasNetwork() bool {
	ifaces, err := net.Interfaces()
	if err != nil {
		return true
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if addrs, err := ifc.Addrs(); err == nil && len(addrs) > 0 {
			return true
		}
	}
	return false
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
