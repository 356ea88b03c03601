// Package dht runs a node of the BitTorrent DHT (BEP 5) for a client: one
// node on the UDP side of the client's listen port, which looks up peers
// for each public torrent (get_peers), announces the client's TCP port for
// them (announce_peer), keeps the routing table across restarts, and bounds
// what other nodes can make it spend. The protocol itself is
// github.com/anacrolix/dht/v2; this package wires it to the engine's view
// of torrents and adds the bounds.
package dht

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	adht "github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	alog "github.com/anacrolix/log"
	"golang.org/x/time/rate"

	"github.com/swarmcast/swarmcast/metainfo"
)

// Defaults of Config.
const (
	// DefaultInterval is how often a torrent is looked up and announced
	// again once the DHT found peers for it: libtorrent's
	// dht_announce_interval (15 minutes).
	DefaultInterval = 15 * time.Minute
	// DefaultPoll is how often the list of torrents is read for new ones,
	// which are looked up at once: a new torrent waits at most this long
	// for its first lookup, and listing a client's torrents costs
	// microseconds.
	DefaultPoll = 250 * time.Millisecond
	// DefaultQueryTimeout is how long a query waits for its answer: the
	// library's default, "the highest reasonable UDP latency an end-user
	// might have".
	DefaultQueryTimeout = 2 * time.Second
	// DefaultSaveInterval is how often the routing table is saved besides
	// on Close, so that a crash or kill -9 loses at most this much of
	// what it learnt: BEP 5 counts a node good for 15 minutes.
	DefaultSaveInterval = 15 * time.Minute
)

// Rates and bounds of our own work.
const (
	// sendRate and sendBurst bound the datagrams we send, queries and
	// replies together (replies past it are dropped, queries wait).
	// libtorrent's dht_upload_rate_limit is 8,000 bytes a second; a
	// get_peers query or a short reply is about 100 bytes.
	sendRate  = 80
	sendBurst = 80
	// maxConcurrentLookups bounds the torrents looked up at once; the rest
	// wait their turn. Each lookup queries 3 nodes at a time (the
	// traversal's alpha), so this keeps us near sendRate.
	maxConcurrentLookups = 4
	// lookupTimeout bounds one get_peers walk with its announces. A walk
	// over the public DHT ends in a few seconds; one that does not is cut.
	lookupTimeout = 60 * time.Second
	// maxPeersPerLookup bounds the peers one lookup hands to the engine:
	// the engine keeps at most 512 DHT-found addresses per torrent
	// (torrent.sourceLimits), so more would only push out others.
	maxPeersPerLookup = 512
	// retryFirst and the doubling after it: a new torrent is looked up
	// again soon, then less often, up to Interval, whatever its first
	// lookups found (a magnet whose seed has not announced yet, peers
	// that have left, a DHT still bootstrapping).
	retryFirst = 2 * time.Second
	// bootstrapTimeout bounds the first pings of the bootstrap nodes.
	bootstrapTimeout = 10 * time.Second
	// pingAgain is how long a node that queried us and was pinged is not
	// pinged again: BEP 5's 15 minutes, after which a node that neither
	// answered nor queried us is no longer good.
	pingAgain = 15 * time.Minute
	// maxPinged bounds the addresses remembered for pingAgain, and
	// pingQueue the pings waiting; past either, newcomers wait for their
	// next query. maxPingsInFlight bounds the pings at once.
	maxPinged        = 4096
	pingQueue        = 64
	maxPingsInFlight = 8
)

// DefaultBootstrap are the public routers a node starts from when neither
// Config.Bootstrap nor a saved routing table gives it nodes: the list the
// library keeps (libtorrent, uTorrent, Transmission, ...).
var DefaultBootstrap = adht.DefaultGlobalBootstrapHostPorts

// ErrClosed is returned by a closed Node's methods.
var ErrClosed = errors.New("dht: node closed")

// Torrent is a torrent to look up: the DHT is asked for its peers, and when
// Announce is set our port is announced for it. A private torrent (BEP 27)
// must never be listed.
type Torrent struct {
	InfoHash metainfo.Hash
	Announce bool
}

// Config configures a Node. Conn is required; the rest may be zero.
type Config struct {
	// Conn is the node's UDP socket; the node closes it.
	Conn net.PacketConn
	// Bootstrap lists nodes ("host:port") to start from. They are pinged
	// at start even when a saved table was loaded.
	Bootstrap []string
	// NodesFile is where the routing table is saved on Close (and every
	// SaveInterval) and loaded from at Start; empty means nowhere.
	NodesFile string
	// SaveInterval: zero means DefaultSaveInterval.
	SaveInterval time.Duration
	// Port is the TCP port announced for torrents with Announce set.
	Port uint16
	// Torrents returns the torrents to look up; it is called every Poll.
	// Nil means none: the node only answers others (a bootstrap node).
	Torrents func() []Torrent
	// OnPeers receives the peers found for a torrent, a batch at a time.
	// It must not block for long.
	OnPeers func(ih metainfo.Hash, peers []netip.AddrPort)
	// Interval, Poll and QueryTimeout: zero means the Default values.
	Interval, Poll, QueryTimeout time.Duration
	// Logger receives debug logs; nil means none.
	Logger *slog.Logger
}

// Node is a running DHT node.
type Node struct {
	cfg    Config
	server *adht.Server
	conn   *filterConn
	store  *peerStore
	drops  dropCounters
	boot   []adht.Addr // resolved Bootstrap

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	// toPing holds nodes that queried us, to be pinged (see queried).
	toPing   chan net.Addr
	pingedMu sync.Mutex
	pinged   map[string]time.Time

	lookups, lookupsDone, lookupsWithPeers, peersFound atomic.Int64
	// refilling is closed when the running refill walk ends; nil when none
	// runs (refillThinTable).
	refillMu  sync.Mutex
	refilling chan struct{}
	// resolved closes once n.boot is set, bootPinged once the bootstrap nodes
	// answered or timed out, bootstrapped once the walk to our id ended.
	resolved, bootPinged, bootstrapped chan struct{}
}

// Start starts a node on cfg.Conn: it loads the saved table, pings the
// bootstrap nodes, and starts looking up cfg.Torrents.
func Start(cfg Config) (*Node, error) {
	if cfg.Conn == nil {
		return nil, errors.New("dht: Config.Conn is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.SaveInterval <= 0 {
		cfg.SaveInterval = DefaultSaveInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, store: newPeerStore(time.Now), resolved: make(chan struct{}), bootPinged: make(chan struct{}), bootstrapped: make(chan struct{}),
		toPing: make(chan net.Addr, pingQueue), pinged: map[string]time.Time{}}
	n.conn = newFilterConn(cfg.Conn, &n.drops)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	qt := cfg.QueryTimeout
	s, err := adht.NewServer(&adht.ServerConfig{
		Conn: n.conn,
		// BEP 42 ties node ids to public IP addresses; on a private
		// network or loopback no id is "secure", and libtorrent does not
		// enforce it either (dht_enforce_node_id is off by default).
		NoSecurity:       true,
		StartingNodes:    n.startingNodes,
		PeerStore:        n.store,
		QueryResendDelay: func() time.Duration { return qt },
		SendLimiter:      rate.NewLimiter(sendRate, sendBurst),
		OnQuery: func(q *krpc.Msg, from net.Addr) bool {
			n.queried(from)
			// BEP 44 items are not kept: storing them is memory any node
			// could fill. No answer is what libtorrent's nodes without
			// the extension give too.
			return q.Q != "put" && q.Q != "get"
		},
		Logger: libLogger(cfg.Logger),
	})
	if err != nil {
		cfg.Conn.Close()
		return nil, fmt.Errorf("dht: %w", err)
	}
	n.server = s
	if cfg.NodesFile != "" {
		if nodes, err := LoadNodes(cfg.NodesFile); err != nil {
			cfg.Logger.Debug("dht: no saved routing table", "err", err)
		} else {
			added := 0
			for _, ni := range nodes {
				if s.AddNode(ni) == nil {
					added++
				}
			}
			cfg.Logger.Debug("dht: routing table loaded", "file", cfg.NodesFile, "nodes", added)
		}
	}
	n.wg.Add(3)
	go n.bootstrap()
	go n.lookupLoop()
	go n.pingLoop()
	return n, nil
}

// Addr returns the node's UDP address.
func (n *Node) Addr() net.Addr { return n.server.Addr() }

// ID returns the node's id.
func (n *Node) ID() [20]byte { return n.server.ID() }

// Bootstrapped returns a channel closed once the node has tried its
// bootstrap nodes and walked the DHT toward its own id.
func (n *Node) Bootstrapped() <-chan struct{} { return n.bootstrapped }

// Close saves the routing table (when NodesFile is set) and stops the node.
func (n *Node) Close() error {
	if n.closed.Swap(true) {
		return nil
	}
	var err error
	if n.cfg.NodesFile != "" {
		if nodes := n.server.Nodes(); len(nodes) > 0 {
			err = SaveNodes(n.cfg.NodesFile, nodes)
		}
	}
	n.cancel()
	n.server.Close()
	n.conn.Close()
	n.wg.Wait()
	return err
}

// Stats is a snapshot of a node's state.
type Stats struct {
	Nodes, GoodNodes int // in the routing table
	// Lookups counts get_peers walks started, LookupsDone those ended,
	// LookupsWithPeers those that found any; PeersFound the peers handed
	// on.
	Lookups, LookupsDone, LookupsWithPeers, PeersFound int64
	// StoredTorrents and StoredPeers count announces other nodes made to
	// us.
	StoredTorrents, StoredPeers int
	// Dropped datagrams: larger than MaxPacket, not KRPC, or queries past
	// the rate limits.
	DroppedOversize, DroppedMalformed, DroppedRate int64
	// UTPRefused counts uTP connection requests answered with a RESET
	// (libtorrent clients try uTP on our port before TCP).
	UTPRefused int64
	// QueriesSent counts the queries we sent.
	QueriesSent int64
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	ss := n.server.Stats()
	st := Stats{
		Nodes: ss.Nodes, GoodNodes: ss.GoodNodes,
		Lookups: n.lookups.Load(), LookupsDone: n.lookupsDone.Load(), LookupsWithPeers: n.lookupsWithPeers.Load(), PeersFound: n.peersFound.Load(),
		DroppedOversize: n.drops.oversize.Load(), DroppedMalformed: n.drops.malformed.Load(), DroppedRate: n.drops.rate.Load(),
		UTPRefused: n.drops.utpRefused.Load(), QueriesSent: ss.OutboundQueriesAttempted,
	}
	st.StoredTorrents, st.StoredPeers = n.store.counts()
	return st
}

// bootstrap resolves and pings the bootstrap nodes, then walks toward our
// own id to fill the table (a find_node traversal, as BEP 5 describes).
func (n *Node) bootstrap() {
	defer n.wg.Done()
	defer close(n.bootstrapped)
	defer func() {
		select {
		case <-n.bootPinged:
		default:
			close(n.bootPinged)
		}
	}()
	ctx, cancel := context.WithTimeout(n.ctx, bootstrapTimeout)
	defer cancel()
	var boot []adht.Addr
	for _, hp := range n.cfg.Bootstrap {
		addrs, err := resolve(ctx, hp)
		if err != nil {
			n.cfg.Logger.Debug("dht: bootstrap node not resolved", "node", hp, "err", err)
		}
		boot = append(boot, addrs...)
	}
	n.boot = boot
	close(n.resolved)
	var wg sync.WaitGroup
	for _, a := range boot {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := n.server.Query(ctx, a, "ping", adht.QueryInput{})
			if res.Err == nil && res.Reply.R != nil {
				// An answer adds the node to the table (the library does
				// so for any response).
				return
			}
			n.cfg.Logger.Debug("dht: bootstrap node did not answer", "node", a, "err", res.Err)
		}()
	}
	wg.Wait()
	close(n.bootPinged)
	if n.ctx.Err() != nil {
		return
	}
	if n.server.NumNodes() == 0 && len(boot) == 0 {
		// Nothing to walk from (a first bootstrap node): the library's
		// walk would wait forever for nodes (it leaks its goroutine).
		return
	}
	stats, err := n.server.BootstrapContext(ctx)
	n.cfg.Logger.Debug("dht: bootstrapped", "nodes", n.server.NumNodes(), "responses", stats.NumResponses, "err", err)
}

// queried notes a node that sent us a query. BEP 5 counts a node good only
// once it has answered us, and only good nodes are handed to others in
// find_node and get_peers answers; so a newcomer is pinged, as libtorrent
// does, once per pingAgain, and without blocking the library's read loop.
func (n *Node) queried(from net.Addr) {
	now := time.Now()
	key := from.String()
	n.pingedMu.Lock()
	at, ok := n.pinged[key]
	if ok && now.Sub(at) < pingAgain {
		n.pingedMu.Unlock()
		return
	}
	if len(n.pinged) >= maxPinged {
		for k, at := range n.pinged {
			if now.Sub(at) >= pingAgain {
				delete(n.pinged, k)
			}
		}
		if len(n.pinged) >= maxPinged {
			n.pingedMu.Unlock()
			return
		}
	}
	n.pinged[key] = now
	n.pingedMu.Unlock()
	select {
	case n.toPing <- from:
	default: // a full queue: this one waits for its next query
		n.pingedMu.Lock()
		delete(n.pinged, key)
		n.pingedMu.Unlock()
	}
}

// pingLoop pings the nodes queried queues, a few at a time. It also starts
// the library's table maintainer once the table has a node: the maintainer
// pings questionable nodes and refreshes buckets every minute and walks
// toward our id every 30 minutes, but that walk, started with an empty
// table and no bootstrap node, never ends (its goroutine leaks). Nodes are
// never dropped from the library's table, so once it has one it has one.
func (n *Node) pingLoop() {
	defer n.wg.Done()
	sem := make(chan struct{}, maxPingsInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(n.cfg.Poll)
	defer tick.Stop()
	save := time.NewTicker(n.cfg.SaveInterval)
	defer save.Stop()
	maintained := false
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-save.C:
			if nodes := n.server.Nodes(); n.cfg.NodesFile != "" && len(nodes) > 0 {
				if err := SaveNodes(n.cfg.NodesFile, nodes); err != nil {
					n.cfg.Logger.Debug("dht: routing table not saved", "err", err)
				}
			}
		case <-tick.C:
			if maintained || n.server.NumNodes() == 0 {
				continue
			}
			select {
			case <-n.bootstrapped:
			default:
				continue // the maintainer would bootstrap a second time
			}
			maintained = true
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.server.TableMaintainer()
			}()
		case a := <-n.toPing:
			select {
			case sem <- struct{}{}:
			case <-n.ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				n.server.Query(n.ctx, adht.NewAddr(a), "ping", adht.QueryInput{})
			}()
		}
	}
}

// startingNodes gives the library the bootstrap nodes when its table is
// empty.
func (n *Node) startingNodes() ([]adht.Addr, error) {
	select {
	case <-n.resolved:
	default:
		// Still resolving: n.boot is not ready to read.
		return nil, errors.New("dht: bootstrap nodes not resolved yet")
	}
	if len(n.boot) == 0 {
		return nil, errors.New("dht: no bootstrap nodes")
	}
	return n.boot, nil
}

// resolve turns "host:port" into UDP addresses.
func resolve(ctx context.Context, hostPort string) ([]adht.Addr, error) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil, err
	}
	p, err := net.LookupPort("udp", port)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	var out []adht.Addr
	for _, ip := range ips {
		out = append(out, adht.NewAddr(net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(p)))))
	}
	return out, nil
}

// libLogger adapts slog to the library's logger: everything at debug.
func libLogger(l *slog.Logger) alog.Logger {
	var lg alog.Logger
	lg.SetHandlers(slogHandler{l})
	return lg.WithFilterLevel(alog.Debug)
}

type slogHandler struct{ l *slog.Logger }

func (h slogHandler) Handle(r alog.Record) {
	if h.l.Enabled(context.Background(), slog.LevelDebug) {
		h.l.Debug("dht: " + r.Msg.String())
	}
}
