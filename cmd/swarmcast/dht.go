package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/swarmcast/swarmcast/dht"
)

// dhtFlags are the DHT's flags, shared by every command that runs a client;
// the client's DHT node itself is started by swarmcast.NewClient.
type dhtFlags struct {
	off       bool
	bootstrap stringList
}

func (f *dhtFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.off, "no-dht", false, "no DHT (BEP 5); off anyway when --listen is a loopback address and no --dht-bootstrap is given")
	fs.Var(&f.bootstrap, "dht-bootstrap", "join the DHT through the node at `HOST:PORT` (repeatable; by default the saved routing table and the public routers)")
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
	network := dht.UDPNetwork(host)
	conn, err := net.ListenPacket(network, net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	var logger *slog.Logger
	if *verbose {
		logger = verboseLogger(stderr)
	}
	ip, _ := netip.ParseAddr(host)
	n, err := dht.Start(dht.Config{
		Conn:      conn,
		Bootstrap: boot,
		NodesFile: dht.DefaultNodesFile("dht-node", network, ip.IsLoopback()),
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
