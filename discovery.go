package swarmcast

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/swarmcast/swarmcast/dht"
	"github.com/swarmcast/swarmcast/internal/utprefuse"
	"github.com/swarmcast/swarmcast/lsd"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// errClosed is what a tracker asked for after Close gets.
var errClosed = errors.New("swarmcast: client closed")

// startLSD starts BEP 14 local service discovery for the client's public
// torrents, unless turned off or pointless: a client listening on loopback
// cannot be reached by the peers it would find. A host without multicast
// (no network) runs without it.
func startLSD(c *torrent.Client, listen string, off bool, logger *slog.Logger) *lsd.Service {
	host, _, _ := net.SplitHostPort(listen)
	port := portNumber(listen)
	if ip, err := netip.ParseAddr(host); off || port == 0 || (err == nil && ip.IsLoopback()) {
		return nil
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
				if !t.Private() {
					out = append(out, t.InfoHash())
				}
			}
			return out
		},
		OnPeer: func(ih metainfo.Hash, addr netip.AddrPort) {
			if t, ok := c.Torrent(ih); ok {
				if !t.Private() {
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

// startDHT starts the client's DHT node on the UDP side of its listen
// address, unless turned off or pointless: a client listening on loopback
// reaches no public router, so there the DHT runs only with bootstrap nodes
// given (which is also what keeps tests on loopback from ever sending a
// packet off the host). It looks up every public torrent and announces
// those whose info is known; a private torrent (BEP 27) never touches the
// DHT. A client listening on every address (no host in its listen address)
// runs a second node on IPv6 (BEP 32), as the DHT keeps the two families
// apart. host is the host of the listen address as configured ("" for
// every address), port the port the listener got.
func startDHT(c *torrent.Client, host string, port int, off bool, bootstrap []string, logger *slog.Logger) dhtNodes {
	ip, ipErr := netip.ParseAddr(host)
	loopback := ipErr == nil && ip.IsLoopback()
	if off || (loopback && len(bootstrap) == 0) {
		return nil
	}
	networks := []string{dht.UDPNetwork(host)}
	if host == "" {
		networks = append(networks, "udp6")
	}
	var nodes dhtNodes
	for _, network := range networks {
		if n := startDHTNode(c, network, host, port, loopback, bootstrap, logger); n != nil {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// startDHTNode starts one DHT node on network ("udp4" or "udp6").
func startDHTNode(c *torrent.Client, network, host string, port int, loopback bool, bootstrap []string, logger *slog.Logger) *dht.Node {
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
	boot := bootstrap
	if len(boot) == 0 {
		boot = dht.DefaultBootstrap
	}
	n, err := dht.Start(dht.Config{
		Conn:      conn,
		Bootstrap: boot,
		NodesFile: dht.DefaultNodesFile("dht-nodes", network, loopback),
		Port:      uint16(port),
		Torrents:  func() []dht.Torrent { return dhtTorrents(c) },
		OnPeers: func(ih metainfo.Hash, peers []netip.AddrPort) {
			t, ok := c.Torrent(ih)
			if !ok {
				return
			}
			if t.Private() {
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
		// Private, not Info: a torrent added from its metainfo is listed
		// before its info is set (the storage opens first), and in that
		// window it looked like a magnet link's and was looked up.
		if t.Private() {
			continue
		}
		out = append(out, dht.Torrent{InfoHash: t.InfoHash(), Announce: t.Info() != nil})
	}
	return out
}

// utpRefuser answers uTP connection requests on the UDP side of the listen
// port when no DHT node holds it (the DHT's socket answers them
// otherwise): libtorrent clients try uTP there first, and a RESET sends
// them to TCP at once (internal/utprefuse).
type utpRefuser struct {
	pc   net.PacketConn
	done chan struct{}
}

// startUTPRefuser opens host:port on UDP. A port taken on UDP is no error:
// those clients then wait out their uTP timeout, as before.
func startUTPRefuser(host string, port int, logger *slog.Logger) *utpRefuser {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		logger.Debug("uTP requests not refused", "err", err)
		return nil
	}
	r := &utpRefuser{pc: pc, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		utprefuse.Serve(pc)
	}()
	return r
}

// Close closes the socket and waits for its reader.
func (r *utpRefuser) Close() error {
	if r == nil {
		return nil
	}
	err := r.pc.Close()
	<-r.done
	return err
}
