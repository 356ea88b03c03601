package torrent

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/swarmcast/swarmcast/internal/choker"
	"github.com/swarmcast/swarmcast/internal/securerand"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/transport"
)

// Tunables of the engine. Each says where its value comes from.
const (
	// BlockSize is the request size every client uses (BEP 3 notes that
	// larger requests are refused by many).
	BlockSize = 16 << 10
	// DefaultMaxConns is the most peer connections per torrent: enough for a
	// healthy swarm, few enough for a browser's connection budget.
	DefaultMaxConns = 80
	// DefaultMaxHalfOpen bounds dials in flight per torrent, as libtorrent
	// and Transmission do, so one torrent cannot flood the network.
	DefaultMaxHalfOpen = 16
	// ourReqq is the request queue we advertise (BEP 10 "reqq"): deep enough
	// for a 1 GB/s loopback link with a millisecond of latency.
	ourReqq = 2048
	// minRequests and maxRequests bound our pipeline to one peer. The depth
	// between them follows measured throughput × requestLatency, so slow
	// peers do not hoard blocks and fast ones are never idle.
	minRequests = 8
	maxRequests = 1024
	// quickRateBytes and quickRateMinTime: the pipeline is raised from the
	// rate of each 512 KiB received, once that took 25 ms or more
	// (quickRate), not only at the next tick. The floor on the time keeps a
	// burst delivered at once from reading as a huge rate.
	quickRateBytes   = 512 << 10
	quickRateMinTime = 25 * time.Millisecond
	// requestLatency is the time of data the pipeline should hold: a few
	// round trips even on slow links.
	requestLatency = 500 * time.Millisecond
	// defaultPeerReqq is assumed when a peer does not advertise reqq:
	// libtorrent's and WebTorrent's default queue.
	defaultPeerReqq = 250
	// maxServedQueue bounds requests we queue for one peer; BEP 3 peers send
	// at most their pipeline, and more is abuse.
	maxServedQueue = 4096
	// snubTimeout: a peer with requests outstanding that sends no block for
	// this long is snubbed (libtorrent uses 60 s).
	snubTimeout = 60 * time.Second
	// idleTimeout closes a connection that sent nothing at all; BEP 3 keep-
	// alives come every two minutes.
	idleTimeout = 3 * time.Minute
	// keepAliveInterval is how often we send a keep-alive on a quiet link.
	keepAliveInterval = 90 * time.Second
	// chokeInterval is BEP 3's 10 s between rechokes (the optimistic
	// unchoke rotates every 30 s: internal/choker).
	chokeInterval = 10 * time.Second
	// uploadSlots is how many peers are unchoked by rate, besides the
	// optimistic one (BEP 3 suggests four).
	uploadSlots = choker.DefaultSlots
	// tickInterval drives timers of the owner loop: snubs, dials, choking.
	tickInterval = time.Second
	// maxMixedHashFails: a peer that shared in this many failed pieces is
	// banned even when smart-ban could not single it out. Failed pieces are
	// retried from one peer, so an honest peer rarely shares in more than a
	// couple while a liar is being found.
	maxMixedHashFails = 8
	// pexInterval is BEP 11's limit on how often PEX messages are sent.
	pexInterval = 60 * time.Second
	// maxAllowedFast bounds the allowed-fast pieces kept per peer (BEP 6
	// suggests 10; libtorrent sends up to 10 by default).
	maxAllowedFast = 64
	// maxInboundHandshakes bounds inbound connections in their handshake
	// at once, over all torrents: an honest peer finishes in one round
	// trip, so many at once are a flood (libtorrent's half-open limit for
	// outgoing connections is of the same order).
	maxInboundHandshakes = 128
	// handshakeTimeout bounds the BitTorrent handshake of a new connection.
	handshakeTimeout = 20 * time.Second
)

// Config configures a Client. The zero value is a client with memory
// storage, no listener, no trackers and TCP dialing not wired: cmd/swarmcast
// wires transports and trackers, so that the engine imports none of them.
type Config struct {
	// PeerID is our peer id; zero means a random one with the "-SC0001-"
	// prefix (Azureus style, BEP 20).
	PeerID [20]byte
	// Storage is where torrents' data goes; nil means storage.NewMemory().
	Storage storage.Storage
	// Dialers dial peer addresses, by network name (transport.TCP, ...).
	Dialers map[string]transport.Dialer
	// Tracker returns a client for an announce URL; nil disables trackers.
	// Clients are shared: the engine does not close them.
	Tracker func(url string) (tracker.Client, error)
	// WebSeed opens a connection to a torrent's web seed (a BEP 19 URL) that
	// presents the HTTP origin as a peer (package webseed); nil disables web
	// seeds. The engine calls it once the torrent's info is known, and again
	// after the connection ends, with a growing pause.
	WebSeed func(url string, infoHash metainfo.Hash, info *metainfo.Info) (transport.Conn, error)
	// TrackerTiers announces to one tracker at a time, tier by tier, as
	// BEP 12 says. By default every tracker is announced to at once, as
	// WebTorrent and qBittorrent do.
	TrackerTiers bool
	// ListenPort is the port announced to trackers and peers.
	ListenPort uint16
	// MaxConns is the most connections per torrent; 0 means DefaultMaxConns.
	MaxConns int
	// MaxHalfOpen bounds concurrent dials per torrent; 0 means the default.
	MaxHalfOpen int
	// UploadRate and DownloadRate limit bytes per second over all torrents;
	// 0 means unlimited.
	UploadRate, DownloadRate int64
	// HashWorkers is how many pieces are verified at once over all torrents;
	// 0 means one per CPU.
	HashWorkers int
	// NoUpload turns off serving blocks to peers (a leech-only client).
	NoUpload bool
	// Logger receives the engine's log; nil means none.
	Logger *slog.Logger
	// Version is the client name sent in the extension handshake.
	Version string
	// LocalNetworks are the networks whose peers count as local: dialled
	// first, asked first for pieces, and given most upload slots, so that
	// traffic stays on them (an ISP's prefixes, a campus). nil means
	// private, loopback and link-local addresses; peers found by local
	// service discovery are local whatever their address.
	LocalNetworks []netip.Prefix
}

// isLocal reports whether ip is on one of the local networks.
func (c *Config) isLocal(ip netip.Addr) bool {
	ip = ip.Unmap()
	if c.LocalNetworks == nil {
		return ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast()
	}
	for _, n := range c.LocalNetworks {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// maxLocalServing bounds the local peers a remote one's requests are
// weighed against (peer.canRequest): enough for any LAN swarm.
const maxLocalServing = 16

// peerIDPrefix marks swarmcast's peer ids (BEP 20 Azureus style).
const peerIDPrefix = "-SC0001-"

func (c *Config) fill() {
	if c.PeerID == [20]byte{} {
		copy(c.PeerID[:], peerIDPrefix)
		securerand.Read(c.PeerID[len(peerIDPrefix):])
	}
	if c.Storage == nil {
		c.Storage = storage.NewMemory()
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxHalfOpen <= 0 {
		c.MaxHalfOpen = DefaultMaxHalfOpen
	}
	if c.Logger == nil {
		c.Logger = slog.New(discardHandler{})
	}
	if c.Version == "" {
		c.Version = "swarmcast 0.1"
	}
}
