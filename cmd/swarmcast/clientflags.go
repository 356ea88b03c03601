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

	"github.com/swarmcast/swarmcast"
	"github.com/swarmcast/swarmcast/mse"
	"github.com/swarmcast/swarmcast/torrent"
)

// defaultListen is BitTorrent's customary port; when it is taken, any free
// port is used instead.
const defaultListen = swarmcast.DefaultListenAddr

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

	encryption string     // --encryption: prefer, require or off
	localNets  stringList // --local-network: CIDRs, or "none"
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
	fs.Var(&f.localNets, "local-network", "peers in this `CIDR` count as local: dialled first, asked first for pieces, given most upload slots (repeatable; \"none\": only peers found by local discovery; default: private, loopback and link-local addresses)")
	fs.StringVar(&f.encryption, "encryption", "prefer", "message stream encryption (MSE/PE) `POLICY`: prefer (dial encrypted, fall back to plain; accept both), require (RC4 only, both ways), off (plain only)")
}

// session is a running client with its listener.
type session struct {
	lib    *swarmcast.Client // the client and everything wired to it
	client *torrent.Client   // lib's engine, for what takes one
	listen string            // the address we accept peers on
	close  func() error
}

// start builds a client that keeps data under dir: swarmcast.NewClient
// with the flags' settings, so that the CLI and the library share one
// wiring.
func (f *clientFlags) start(dir string, stderr io.Writer) (*session, error) {
	cfg, err := f.config(dir, stderr)
	if err != nil {
		return nil, err
	}
	c, err := swarmcast.NewClient(cfg)
	if errors.Is(err, swarmcast.ErrPortTaken) {
		return nil, fmt.Errorf("listening on %s: port %s is taken by another program (or another swarmcast); stop it, or choose another port with --listen :PORT (--listen :0 takes any free port)",
			f.listen, portOf(f.listen))
	}
	if err != nil {
		return nil, err
	}
	if perr := c.DefaultPortErr(); perr != nil && !f.quiet {
		fmt.Fprintf(stderr, "port %s is taken (%v); listening on %s instead\n", portOf(defaultListen), perr, c.Addr())
	}
	return &session{lib: c, client: c.Client, listen: c.Addr(), close: c.Close}, nil
}

// verboseLogger is what -v logs with: every level, as text, to w.
func verboseLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// config is the client's configuration as the flags say.
func (f *clientFlags) config(dir string, stderr io.Writer) (swarmcast.Config, error) {
	up, err := parseRate(f.upLimit)
	if err != nil {
		return swarmcast.Config{}, fmt.Errorf("%w: --up-limit: %v", errUsage, err)
	}
	down, err := parseRate(f.downLimit)
	if err != nil {
		return swarmcast.Config{}, fmt.Errorf("%w: --down-limit: %v", errUsage, err)
	}
	if _, err := mse.ParsePolicy(cmp.Or(f.encryption, "prefer")); err != nil {
		return swarmcast.Config{}, fmt.Errorf("%w: --encryption: %v", errUsage, err)
	}
	localNets, err := parseLocalNetworks(f.localNets)
	if err != nil {
		return swarmcast.Config{}, fmt.Errorf("%w: --local-network: %v", errUsage, err)
	}
	var logger *slog.Logger
	if f.verbose {
		logger = verboseLogger(stderr)
	}
	listen := f.listen
	if !f.listenSet && listen == defaultListen {
		listen = "" // the default: falls back to any free port when taken
	}
	return swarmcast.Config{
		DataDir:        dir,
		ListenAddr:     listen,
		TrackerTiers:   f.tiers,
		NoDHT:          f.dht.off,
		DHTBootstrap:   f.dht.bootstrap,
		NoLSD:          f.noLSD,
		NoWebRTC:       f.noWebRTC,
		ICEServers:     f.stun,
		WebRTCLoopback: f.loopback,
		NoWebSeeds:     f.noWebSeed,
		Encryption:     f.encryption,
		UploadRate:     up,
		DownloadRate:   down,
		MaxConns:       f.maxConns,
		LocalNetworks:  localNets,
		Logger:         logger,
		Version:        "swarmcast " + version,
	}, nil
}

// portOf returns the port of a listen address.
func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return addr
}

func parseRate(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return parseSize(s)
}

// parseLocalNetworks turns --local-network values into prefixes: nil when
// none was given (the engine's default), an empty list for "none".
func parseLocalNetworks(vals []string) ([]netip.Prefix, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := []netip.Prefix{}
	for _, v := range vals {
		if v == "none" {
			if len(vals) > 1 {
				return nil, fmt.Errorf("\"none\" cannot be given with networks")
			}
			return out, nil
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network like 10.1.0.0/16 or 2001:db8::/32", v)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
