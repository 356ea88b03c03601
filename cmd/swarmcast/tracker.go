package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/swarmcast/swarmcast/trackerserver"
	"github.com/swarmcast/swarmcast/web"
)

// trackerShutdownTimeout bounds the goodbye to WebSocket peers on exit; a
// socket waits up to 5 s for its peer's close frame.
const trackerShutdownTimeout = 6 * time.Second

// runTracker runs a tracker until SIGINT or SIGTERM.
func runTracker(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveTracker(ctx, args, stdout, stderr)
}

// serveTracker runs a tracker until ctx ends.
func serveTracker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tracker", "[flags]", stderr)
	httpAddr := fs.String("http", ":8000", "serve HTTP announce and scrape, WebSocket (WebTorrent), /stats and /metrics on `ADDR`; empty for none")
	udpAddr := fs.String("udp", "", "also serve UDP announce and scrape (BEP 15) on `ADDR`, e.g. :8000")
	interval := fs.Duration("interval", trackerserver.DefaultInterval, "announce `INTERVAL` for HTTP and UDP clients; WebSocket clients get a fifth of it")
	maxPeers := fs.Int("max-peers-per-torrent", trackerserver.DefaultMaxPeersPerTorrent, "peers kept per torrent (`N`)")
	trustIP := fs.Bool("trust-ip", false, "take a peer's address from the announce's ip parameter")
	trustProxy := fs.Bool("trust-proxy", false, "take an HTTP client's address from X-Forwarded-For (behind a reverse proxy)")
	maxPerIP := fs.Int("max-peers-per-ip", trackerserver.DefaultMaxPeersPerIP, "HTTP and UDP peers (ip:port) one IP address may have in one torrent (`N`)")
	maxConns := fs.Int("max-conns", trackerserver.DefaultMaxConns, "WebSocket connections open at once (`N`); more get 503. Each costs 7-16 KiB, and a file descriptor (see ulimit -n)")
	msgRate := fs.Float64("ws-message-rate", trackerserver.DefaultMessageRate, "messages per second one WebSocket may send, on average (`N`); a socket past it (and past --ws-message-burst) is closed")
	msgBurst := fs.Int("ws-message-burst", trackerserver.DefaultMessageBurst, "messages one WebSocket may send at once above --ws-message-rate (`N`)")
	maxTorrents := fs.Int("max-torrents", trackerserver.DefaultMaxTorrents, "torrents kept (`N`); announces for more are refused")
	maxAllPeers := fs.Int("max-peers", trackerserver.DefaultMaxPeers, "peers kept over all torrents (`N`); announces of more are refused")
	var statsAllow stringList
	fs.Var(&statsAllow, "stats-allow", "serve /stats and /metrics only to this `CIDR` or IP (repeatable); others get 403")
	statsTokenFile := fs.String("stats-token-file", "", "serve /stats and /metrics also to requests with \"Authorization: Bearer TOKEN\", TOKEN being the first line of `FILE`")
	verbose := fs.Bool("v", false, "log refused requests to stderr")
	natsURLs := fs.String("nats", "", "join a tracker cluster over the NATS server(s) at `URL[,URL...]`: instances act as one tracker")
	natsEmbedded := fs.Bool("nats-embedded", false, "join a tracker cluster over a NATS server run inside this process on --nats-listen, or over the one another tracker of this host already runs there")
	natsListen := fs.String("nats-listen", defaultNATSEmbeddedAddr, "with --nats-embedded, serve NATS on `ADDR`")
	natsFlushDelay := fs.Duration("nats-flush-delay", trackerserver.DefaultClusterFlushDelay, "in a cluster, send other instances a batch at most every `DELAY`: what comes meanwhile waits for the next (less CPU under load, more latency; none when quiet)")
	natsNearPicks := fs.Float64("nats-near-picks", trackerserver.DefaultClusterNearPicks, "in a cluster, the `SHARE` of a WebSocket announce's peers (and offers) picked among sockets of the instance it came to, when it has them; the rest go to peers on other instances, which keeps the swarm one. 0 picks at random over the whole swarm, as one tracker does")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 0, "no arguments"); err != nil {
		return err
	}
	if *httpAddr == "" && *udpAddr == "" {
		return fmt.Errorf("%w: nothing to serve: give --http ADDR, --udp ADDR or both", errUsage)
	}
	if *natsURLs != "" && *natsEmbedded {
		return fmt.Errorf("%w: give --nats URL or --nats-embedded, not both", errUsage)
	}
	if *natsFlushDelay <= 0 || *natsFlushDelay > time.Second {
		return fmt.Errorf("%w: --nats-flush-delay %v: give a duration above 0 and at most 1s", errUsage, *natsFlushDelay)
	}
	if !(*natsNearPicks >= 0 && *natsNearPicks < 1) {
		return fmt.Errorf("%w: --nats-near-picks %v: give a share from 0 up to (not including) 1: at 1 an instance's peers would meet only each other", errUsage, *natsNearPicks)
	}
	if *interval < time.Second {
		return fmt.Errorf("%w: --interval %v is too short; use at least 1s", errUsage, *interval)
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"max-conns", *maxConns}, {"max-torrents", *maxTorrents}, {"max-peers", *maxAllPeers}, {"ws-message-burst", *msgBurst}} {
		if f.n < 1 {
			return fmt.Errorf("%w: --%s %d: give at least 1", errUsage, f.name, f.n)
		}
	}
	if !(*msgRate > 0) || *msgRate > 1e6 {
		return fmt.Errorf("%w: --ws-message-rate %v: give a rate above 0 and at most 1000000", errUsage, *msgRate)
	}
	cfg := trackerserver.Config{
		MessageRate:        *msgRate,
		MessageBurst:       *msgBurst,
		Interval:           *interval,
		MaxPeersPerTorrent: *maxPeers,
		MaxPeersPerIP:      *maxPerIP,
		MaxConns:           *maxConns,
		MaxTorrents:        *maxTorrents,
		MaxPeers:           *maxAllPeers,
		TrustIPParam:       *trustIP,
		TrustProxy:         *trustProxy,
		Site:               web.ClientHandler(), // the browser client and /watch.html beside the tracker
	}
	for _, a := range statsAllow {
		p, err := parsePrefixOrAddr(a)
		if err != nil {
			return fmt.Errorf("%w: --stats-allow %q: give an address or a CIDR like 10.0.0.0/8", errUsage, a)
		}
		cfg.StatsAllow = append(cfg.StatsAllow, p)
	}
	if *statsTokenFile != "" {
		b, err := os.ReadFile(*statsTokenFile)
		if err != nil {
			return fmt.Errorf("--stats-token-file: %w", err)
		}
		tok, _, _ := strings.Cut(string(b), "\n")
		if cfg.StatsToken = strings.TrimSpace(tok); cfg.StatsToken == "" {
			return fmt.Errorf("%w: --stats-token-file %s: the first line is empty", errUsage, *statsTokenFile)
		}
	}
	if *verbose {
		cfg.Logger = verboseLogger(stderr)
	}
	s := trackerserver.New(cfg)
	if *natsURLs != "" || *natsEmbedded {
		tc, err := joinTrackerCluster(s, *natsURLs, *natsEmbedded, *natsListen, clusterConfig(*natsFlushDelay, *natsNearPicks), stdout, cfg.Logger)
		if err != nil {
			s.Close()
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), trackerShutdownTimeout)
			defer cancel()
			tc.Close(ctx)
		}()
	}
	serveErr := make(chan error, 2)
	running := 0
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			s.Close()
			return fmt.Errorf("HTTP: %w", err)
		}
		host := displayAddr(ln.Addr())
		fmt.Fprintf(stdout, "http: http://%s/announce\nws:   ws://%s\nstats: http://%s/stats\n", host, host, host)
		running++
		go func() { serveErr <- s.Serve(ln) }()
	}
	if *udpAddr != "" {
		pc, err := net.ListenPacket("udp", *udpAddr)
		if err != nil {
			s.Close()
			drain(serveErr, running)
			return fmt.Errorf("UDP: %w", err)
		}
		fmt.Fprintf(stdout, "udp:  udp://%s\n", displayAddr(pc.LocalAddr()))
		running++
		go func() { serveErr <- s.ServeUDP(pc) }()
	}
	var failed error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		running--
		failed = err
	}
	sctx, cancel := context.WithTimeout(context.Background(), trackerShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil && failed == nil && !errors.Is(err, context.DeadlineExceeded) {
		failed = err
	}
	drain(serveErr, running)
	if failed != nil && !errors.Is(failed, trackerserver.ErrServerClosed) {
		return failed
	}
	fmt.Fprintln(stderr, "tracker stopped")
	return nil
}

// parsePrefixOrAddr parses a CIDR, or an address as the prefix of just it.
func parsePrefixOrAddr(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// drain waits for n Serve calls to return.
func drain(ch <-chan error, n int) {
	for range n {
		<-ch
	}
}

// displayAddr is a listener's address as a URL host; an unspecified IP
// (":8000") shows as localhost, which is how a user on the machine reaches it.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
