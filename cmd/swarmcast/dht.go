package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/swarmcast/swarmcast/dht"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// dhtFlags are the DHT's flags, shared by every command that runs a client.
type dhtFlags struct {
	off       bool
	bootstrap stringList
}

func (f *dhtFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.off, "no-dht", false, "no DHT (BEP 5); off anyway when --listen is a loopback address and no --dht-bootstrap is given")
	fs.Var(&f.bootstrap, "dht-bootstrap", "join the DHT through the node at `HOST:PORT` (repeatable; by default the saved routing table and the public routers)")
}

// start starts the client's DHT node on the UDP side of its listen address,
// unless turned off or pointless: a client listening on loopback reaches no
// public router, so there the DHT runs only with --dht-bootstrap (which is
// also what keeps tests on loopback from ever sending a packet off the
// host). It looks up every public torrent and announces those whose info is
// known; a private torrent (BEP 27) never touches the DHT. A client
// listening on every address (no host in --listen) runs a second node on
// IPv6 (BEP 32), as the DHT keeps the two families apart.
func (f *dhtFlags) start(c *torrent.Client, listen string, logger *slog.Logger) dhtNodes {
	host, portStr, _ := net.SplitHostPort(listen)
	port, _ := strconv.Atoi(portStr)
	ip, ipErr := netip.ParseAddr(host)
	loopback := ipErr == nil && ip.IsLoopback()
	if f.off || (loopback && len(f.bootstrap) == 0) {
		return nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	networks := []string{udpNetwork(host)}
	if host == "" {
		networks = append(networks, "udp6")
	}
	var nodes dhtNodes
	for _, network := range networks {
		if n := f.startNode(c, network, host, port, loopback, logger); n != nil {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// startNode starts one DHT node on network ("udp4" or "udp6").
func (f *dhtFlags) startNode(c *torrent.Client, network, host string, port int, loopback bool, logger *slog.Logger) *dht.Node {
	conn, err := net.ListenPacket(network, net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil && port != 0 {
		// Any free port: the DHT announces the TCP port explicitly, so the
		// two need not match.
		conn, err = net.ListenPacket(network, net.JoinHostPort(host, "0"))
	}
	if err != nil {
		logger.Debug("DHT off", "network", network, "err", err)
		return nil
	}
	boot := []string(f.bootstrap)
	if len(boot) == 0 {
		boot = dht.DefaultBootstrap
	}
	n, err := dht.Start(dht.Config{
		Conn:      conn,
		Bootstrap: boot,
		NodesFile: dhtNodesFile("dht-nodes", network, loopback),
		Port:      uint16(port),
		Torrents:  func() []dht.Torrent { return dhtTorrents(c) },
		OnPeers: func(ih metainfo.Hash, peers []netip.AddrPort) {
			t, ok := c.Torrent(ih)
			if !ok {
				return
			}
			if info := t.Info(); info != nil && info.Private {
				return
			}
			addrs := make([]string, 0, len(peers))
			for _, p := range peers {
				// Our own announce comes back from the DHT; the engine
				// would find out only by dialling it.
				if p.Port() == uint16(port) && p.Addr().String() == host {
					continue
				}
				addrs = append(addrs, p.String())
			}
			if len(addrs) > 0 {
				t.AddPeersFrom(torrent.SourceDHT, addrs...)
			}
		},
		Logger: logger,
	})
	if err != nil {
		logger.Debug("DHT off", "network", network, "err", err)
		return nil
	}
	logger.Debug("DHT on", "addr", n.Addr(), "bootstrap", boot)
	return n
}

// dhtNodes are a client's DHT nodes, one per address family.
type dhtNodes []*dht.Node

// Close stops every node, saving their routing tables.
func (ns dhtNodes) Close() error {
	var errs []error
	for _, n := range ns {
		errs = append(errs, n.Close())
	}
	return errors.Join(errs...)
}

// dhtTorrents lists the client's torrents for the DHT: all but private ones
// (BEP 27). A magnet link's torrent is looked up before its info says
// whether it is private, as libtorrent does (the info hash is all a lookup
// reveals), and announced only once its info is known and public.
func dhtTorrents(c *torrent.Client) []dht.Torrent {
	var out []dht.Torrent
	for _, t := range c.Torrents() {
		info := t.Info()
		if info != nil && info.Private {
			continue
		}
		out = append(out, dht.Torrent{InfoHash: t.InfoHash(), Announce: info != nil})
	}
	return out
}

// udpNetwork is the UDP network for a listen host: IPv6 for an IPv6
// literal, IPv4 otherwise.
func udpNetwork(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() && !ip.Is4In6() {
		return "udp6"
	}
	return "udp4"
}

// dhtNodesFile is where the routing table is kept between runs: in the
// user's cache folder, one file per address family. A node bound to
// loopback keeps none: it knows only nodes on this host, useless to a later
// run on the network, and it would overwrite a table that is useful.
func dhtNodesFile(name, network string, loopback bool) string {
	if loopback {
		return ""
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	if network == "udp6" {
		name += "6"
	}
	return filepath.Join(dir, "swarmcast", name)
}

// runDHTNode runs a DHT node alone, for others to bootstrap from.
func runDHTNode(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveDHTNode(ctx, args, stdout, stderr)
}

// serveDHTNode runs a DHT node until ctx ends.
func serveDHTNode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dht-node", "[flags]", stderr)
	listen := fs.String("listen", defaultListen, "UDP `ADDR` to answer DHT queries on")
	var boot stringList
	fs.Var(&boot, "dht-bootstrap", "join the DHT through the node at `HOST:PORT` (repeatable; none by default: the node waits for others to join it)")
	verbose := fs.Bool("v", false, "log the node's work to stderr")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: dht-node takes no arguments, got %q", errUsage, pos)
	}
	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("%w: --listen %s: %v", errUsage, *listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("%w: --listen %s: bad port", errUsage, *listen)
	}
	network := udpNetwork(host)
	conn, err := net.ListenPacket(network, net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ip, _ := netip.ParseAddr(host)
	n, err := dht.Start(dht.Config{
		Conn:      conn,
		Bootstrap: boot,
		NodesFile: dhtNodesFile("dht-node", network, ip.IsLoopback()),
		Logger:    logger,
	})
	if err != nil {
		return err
	}
	id := n.ID()
	fmt.Fprintf(stdout, "dht node listening on %s\nnode id: %x\n", n.Addr(), id)
	<-ctx.Done()
	st := n.Stats()
	err = n.Close()
	fmt.Fprintf(stderr, "swarmcast dht-node: %d nodes known, %d torrents with announced peers\n", st.Nodes, st.StoredTorrents)
	return err
}
