package trackerserver

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ByProtocol is a count per protocol.
type ByProtocol struct {
	HTTP      int64 `json:"http"`
	UDP       int64 `json:"udp"`
	WebSocket int64 `json:"ws"`
}

// Rates is a rate per protocol, per second, with their total.
type Rates struct {
	HTTP      float64 `json:"http"`
	UDP       float64 `json:"udp"`
	WebSocket float64 `json:"ws"`
	Total     float64 `json:"total"`
}

// WebSocketStats counts the WebSocket side of the tracker.
type WebSocketStats struct {
	// Connections is the number of open sockets.
	Connections int64 `json:"connections"`
	// Accepted and Rejected count upgrades, Rejected those refused because
	// MaxConns sockets were open.
	Accepted uint64 `json:"accepted"`
	Rejected uint64 `json:"rejected"`
	// Messages counts messages received; BadMessages those refused as
	// malformed.
	Messages    uint64 `json:"messages"`
	BadMessages uint64 `json:"badMessages"`
	// OffersRelayed, AnswersRelayed and AnswersRefused count signalling.
	OffersRelayed  uint64 `json:"offersRelayed"`
	AnswersRelayed uint64 `json:"answersRelayed"`
	AnswersRefused uint64 `json:"answersRefused"`
	// Dropped counts messages not sent because their socket was closed or
	// too far behind.
	Dropped uint64 `json:"dropped"`
	// RateLimited and TimedOut count sockets closed for sending too fast
	// and for a timeout (handshake, idle, ping, write).
	RateLimited uint64 `json:"rateLimited"`
	TimedOut    uint64 `json:"timedOut"`
}

// Stats is a snapshot of the tracker, as /stats serves it.
type Stats struct {
	// Torrents is the number of swarms; ActiveTorrents those with peers.
	Torrents       int64 `json:"torrents"`
	ActiveTorrents int64 `json:"activeTorrents"`
	// Peers, Seeders and Leechers count peer entries: a peer in two
	// torrents counts twice.
	Peers    int64 `json:"peers"`
	Seeders  int64 `json:"seeders"`
	Leechers int64 `json:"leechers"`
	// PeersByProtocol and SeedersByProtocol split them by protocol.
	PeersByProtocol   ByProtocol `json:"peersByProtocol"`
	SeedersByProtocol ByProtocol `json:"seedersByProtocol"`
	// Announces and Scrapes count requests since the server started.
	Announces ByProtocol `json:"announces"`
	Scrapes   ByProtocol `json:"scrapes"`
	// AnnouncesPerSecond is the rate over about the last ten seconds.
	AnnouncesPerSecond Rates `json:"announcesPerSecond"`
	// WebSocket counts sockets and signalling.
	WebSocket WebSocketStats `json:"webSocket"`
	// UDPPackets counts UDP requests; UDPBad those refused.
	UDPPackets uint64 `json:"udpPackets"`
	UDPBad     uint64 `json:"udpBad"`
	// UDPDropped counts the UDP packets (among UDPBad) dropped unanswered:
	// junk, or an error answer that would have been bigger than the request.
	UDPDropped uint64 `json:"udpDropped"`
	// HTTPFailures counts HTTP requests answered with a failure reason.
	HTTPFailures uint64 `json:"httpFailures"`
	// PeersEvicted counts entries evicted from full torrents for newcomers;
	// PeersPerIPRefused newcomers not stored because their IP address had
	// MaxPeersPerIP entries in the torrent.
	PeersEvicted      uint64 `json:"peersEvicted"`
	PeersPerIPRefused uint64 `json:"peersPerIPRefused"`
	// EmptyTorrentsDropped counts torrents without peers dropped early to
	// make room for a new one; NewTorrentsLimited new torrents refused by
	// the per-source token buckets.
	EmptyTorrentsDropped uint64 `json:"emptyTorrentsDropped"`
	NewTorrentsLimited   uint64 `json:"newTorrentsLimited"`
	// Cluster is this instance's figures of its cluster; absent for a
	// tracker that is not one (see ClusterStats).
	Cluster *ClusterStats `json:"cluster,omitempty"`
}

func byProto(v [numProtos]int64) ByProtocol {
	return ByProtocol{HTTP: v[protoHTTP], UDP: v[protoUDP], WebSocket: v[protoWS]}
}

func byProtoU(v [numProtos]uint64) ByProtocol {
	return ByProtocol{HTTP: int64(v[protoHTTP]), UDP: int64(v[protoUDP]), WebSocket: int64(v[protoWS])}
}

// Stats returns a snapshot of the tracker's counts. It takes each of the
// store's 256 shard locks in turn, briefly: its cost does not grow with the
// number of torrents.
func (s *Server) Stats() Stats {
	sum := s.store.sumStats()
	st := Stats{
		Torrents:          sum.swarms,
		ActiveTorrents:    sum.active,
		PeersByProtocol:   byProto(sum.peers),
		SeedersByProtocol: byProto(sum.seeders),
		Announces:         byProtoU(sum.announces),
		Scrapes:           byProtoU(sum.scrapes),
		WebSocket: WebSocketStats{
			Connections:    s.conns.count.Load(),
			Accepted:       s.ctr.wsAccepted.Load(),
			Rejected:       s.ctr.wsRejected.Load(),
			Messages:       s.ctr.wsMessages.Load(),
			BadMessages:    s.ctr.wsBadMessages.Load(),
			OffersRelayed:  s.ctr.offersRelayed.Load(),
			AnswersRelayed: s.ctr.answersRelayed.Load(),
			AnswersRefused: s.ctr.answersRefused.Load(),
			Dropped:        s.ctr.dropped.Load(),
			RateLimited:    s.ctr.rateLimited.Load(),
			TimedOut:       s.ctr.timedOut.Load(),
		},
		UDPPackets:   s.ctr.udpPackets.Load(),
		UDPBad:       s.ctr.udpBad.Load(),
		UDPDropped:   s.ctr.udpDropped.Load(),
		HTTPFailures: s.ctr.httpBad.Load(),

		PeersEvicted:         sum.evicted,
		PeersPerIPRefused:    sum.perIPFull,
		EmptyTorrentsDropped: sum.emptyDropped,
		NewTorrentsLimited:   sum.sourceLimited,
	}
	for p := range numProtos {
		st.Peers += sum.peers[p]
		st.Seeders += sum.seeders[p]
	}
	st.Leechers = st.Peers - st.Seeders
	st.AnnouncesPerSecond = s.rate.rates(s.now(), sum.announces)
	st.Cluster = s.clusterStats(sum.swarms)
	return st
}

// statsCacheTTL is how long /stats and /metrics serve one snapshot: a
// monitor polls every 10–60 s, and many clients polling at once then cost
// one snapshot a second between them.
const statsCacheTTL = time.Second

// statsCache is the last snapshot served by /stats and /metrics.
type statsCache struct {
	mu  sync.Mutex
	at  int64 // server clock; 0 before the first
	st  Stats
	has bool
}

// cachedStats returns a snapshot at most statsCacheTTL old.
func (s *Server) cachedStats() Stats {
	c := &s.statsCache
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.now()
	if !c.has || now-c.at >= int64(statsCacheTTL) {
		c.st, c.at, c.has = s.Stats(), now, true
	}
	return c.st
}

// statsAllowed applies Config.StatsAllow and StatsToken to a request for
// /stats or /metrics.
func (s *Server) statsAllowed(r *http.Request) bool {
	if len(s.cfg.StatsAllow) == 0 && s.cfg.StatsToken == "" {
		return true
	}
	if tok := s.cfg.StatsToken; tok != "" {
		auth := r.Header.Get("Authorization")
		if len(auth) > len("Bearer ") && strings.EqualFold(auth[:len("Bearer ")], "Bearer ") &&
			subtle.ConstantTimeCompare([]byte(auth[len("Bearer "):]), []byte(tok)) == 1 {
			return true
		}
	}
	// The connection's own address: X-Forwarded-For is whatever the client wrote.
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		a := ap.Addr().Unmap()
		for _, p := range s.cfg.StatsAllow {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

func (s *Server) serveStats(w http.ResponseWriter, r *http.Request) {
	if !s.statsAllowed(r) {
		http.Error(w, "403 Forbidden", http.StatusForbidden)
		return
	}
	st := s.cachedStats()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(st)
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if !s.statsAllowed(r) {
		http.Error(w, "403 Forbidden", http.StatusForbidden)
		return
	}
	s.metrics.ServeHTTP(w, r)
}

// rateMeter keeps announce totals sampled about once a second over the last
// rateWindow, to turn totals into rates.
type rateMeter struct {
	mu      sync.Mutex
	samples [rateSamples]rateSample
	next    int
	n       int
}

type rateSample struct {
	at     int64
	counts [numProtos]uint64
}

const (
	rateWindow  = 10 * time.Second
	rateSamples = 12
)

// sample records the totals, at most once a second.
func (m *rateMeter) sample(now int64, st *store) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n > 0 {
		last := m.samples[(m.next+rateSamples-1)%rateSamples]
		if now-last.at < int64(time.Second) {
			return
		}
	}
	var c [numProtos]uint64
	for s := range st.shards {
		sh := &st.shards[s]
		sh.mu.Lock()
		for p := range numProtos {
			c[p] += sh.stats.announces[p]
		}
		sh.mu.Unlock()
	}
	m.samples[m.next] = rateSample{at: now, counts: c}
	m.next = (m.next + 1) % rateSamples
	m.n = min(m.n+1, rateSamples)
}

// rates compares the totals now with the oldest sample in the window.
func (m *rateMeter) rates(now int64, counts [numProtos]uint64) Rates {
	m.mu.Lock()
	defer m.mu.Unlock()
	var old *rateSample
	for i := range m.n {
		sm := &m.samples[(m.next+rateSamples-m.n+i)%rateSamples]
		if now-sm.at <= int64(rateWindow)+int64(time.Second) {
			old = sm
			break
		}
	}
	if old == nil || now <= old.at {
		return Rates{}
	}
	secs := float64(now-old.at) / 1e9
	var r [numProtos]float64
	for p := range numProtos {
		r[p] = float64(counts[p]-old.counts[p]) / secs
	}
	return Rates{HTTP: r[protoHTTP], UDP: r[protoUDP], WebSocket: r[protoWS],
		Total: r[protoHTTP] + r[protoUDP] + r[protoWS]}
}

// Collector returns a Prometheus collector of the tracker's metrics, for
// programs that serve their own registry; /metrics serves them already.
func (s *Server) Collector() prometheus.Collector { return (*collector)(s) }

type collector Server

const metricPrefix = "swarmcast_tracker_"

var (
	descTorrents    = prometheus.NewDesc(metricPrefix+"torrents", "Torrents (swarms) the tracker holds.", nil, nil)
	descActive      = prometheus.NewDesc(metricPrefix+"active_torrents", "Torrents with at least one peer.", nil, nil)
	descPeers       = prometheus.NewDesc(metricPrefix+"peers", "Peer entries, by protocol and state.", []string{"protocol", "state"}, nil)
	descAnnounces   = prometheus.NewDesc(metricPrefix+"announces_total", "Announces received, by protocol.", []string{"protocol"}, nil)
	descScrapes     = prometheus.NewDesc(metricPrefix+"scrapes_total", "Torrents scraped, by protocol.", []string{"protocol"}, nil)
	descConns       = prometheus.NewDesc(metricPrefix+"websocket_connections", "Open WebSocket connections.", nil, nil)
	descWSAccepted  = prometheus.NewDesc(metricPrefix+"websocket_accepted_total", "WebSocket upgrades accepted.", nil, nil)
	descWSRejected  = prometheus.NewDesc(metricPrefix+"websocket_rejected_total", "WebSocket upgrades refused: too many connections.", nil, nil)
	descWSMessages  = prometheus.NewDesc(metricPrefix+"websocket_messages_total", "WebSocket messages received.", nil, nil)
	descWSBad       = prometheus.NewDesc(metricPrefix+"websocket_bad_messages_total", "WebSocket messages refused as malformed.", nil, nil)
	descOffers      = prometheus.NewDesc(metricPrefix+"offers_relayed_total", "WebRTC offers relayed.", nil, nil)
	descAnswers     = prometheus.NewDesc(metricPrefix+"answers_relayed_total", "WebRTC answers relayed.", nil, nil)
	descAnswersBad  = prometheus.NewDesc(metricPrefix+"answers_refused_total", "WebRTC answers refused: unknown peer or offer.", nil, nil)
	descDropped     = prometheus.NewDesc(metricPrefix+"websocket_dropped_total", "WebSocket messages dropped: receiver closed or too far behind.", nil, nil)
	descClosed      = prometheus.NewDesc(metricPrefix+"websocket_closed_total", "WebSockets closed by the tracker, by reason.", []string{"reason"}, nil)
	descUDPPackets  = prometheus.NewDesc(metricPrefix+"udp_packets_total", "UDP packets received.", nil, nil)
	descUDPBad      = prometheus.NewDesc(metricPrefix+"udp_bad_packets_total", "UDP packets refused or dropped.", nil, nil)
	descHTTPFailure = prometheus.NewDesc(metricPrefix+"http_failures_total", "HTTP requests answered with a failure reason.", nil, nil)
	descUDPDropped  = prometheus.NewDesc(metricPrefix+"udp_dropped_total", "UDP packets dropped unanswered: junk, or an answer bigger than the request.", nil, nil)
	descEvicted     = prometheus.NewDesc(metricPrefix+"peers_evicted_total", "Peer entries evicted from full torrents for newcomers.", nil, nil)
	descPerIPFull   = prometheus.NewDesc(metricPrefix+"peers_per_ip_refused_total", "Newcomers not stored: their IP address had the most entries one torrent allows.", nil, nil)
	descEmptyDrop   = prometheus.NewDesc(metricPrefix+"empty_torrents_dropped_total", "Torrents without peers dropped early to make room for a new one.", nil, nil)
	descSrcLimited  = prometheus.NewDesc(metricPrefix+"new_torrents_limited_total", "New torrents refused by the per-source token buckets.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTorrents, descActive, descPeers, descAnnounces, descScrapes, descConns,
		descWSAccepted, descWSRejected, descWSMessages, descWSBad, descOffers, descAnswers, descAnswersBad,
		descDropped, descClosed, descUDPPackets, descUDPBad, descHTTPFailure,
		descUDPDropped, descEvicted, descPerIPFull, descEmptyDrop, descSrcLimited} {
		ch <- d
	}
	describeCluster(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := (*Server)(c).cachedStats()
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descTorrents, st.Torrents)
	gauge(descActive, st.ActiveTorrents)
	protos := []struct {
		name  string
		peers int64
		seeds int64
		ann   int64
		scr   int64
	}{
		{"http", st.PeersByProtocol.HTTP, st.SeedersByProtocol.HTTP, st.Announces.HTTP, st.Scrapes.HTTP},
		{"udp", st.PeersByProtocol.UDP, st.SeedersByProtocol.UDP, st.Announces.UDP, st.Scrapes.UDP},
		{"ws", st.PeersByProtocol.WebSocket, st.SeedersByProtocol.WebSocket, st.Announces.WebSocket, st.Scrapes.WebSocket},
	}
	for _, p := range protos {
		gauge(descPeers, p.seeds, p.name, "seeder")
		gauge(descPeers, p.peers-p.seeds, p.name, "leecher")
		counter(descAnnounces, uint64(p.ann), p.name)
		counter(descScrapes, uint64(p.scr), p.name)
	}
	ws := st.WebSocket
	gauge(descConns, ws.Connections)
	counter(descWSAccepted, ws.Accepted)
	counter(descWSRejected, ws.Rejected)
	counter(descWSMessages, ws.Messages)
	counter(descWSBad, ws.BadMessages)
	counter(descOffers, ws.OffersRelayed)
	counter(descAnswers, ws.AnswersRelayed)
	counter(descAnswersBad, ws.AnswersRefused)
	counter(descDropped, ws.Dropped)
	counter(descClosed, ws.RateLimited, "rate_limit")
	counter(descClosed, ws.TimedOut, "timeout")
	counter(descUDPPackets, st.UDPPackets)
	counter(descUDPBad, st.UDPBad)
	counter(descHTTPFailure, st.HTTPFailures)
	counter(descUDPDropped, st.UDPDropped)
	counter(descEvicted, st.PeersEvicted)
	counter(descPerIPFull, st.PeersPerIPRefused)
	counter(descEmptyDrop, st.EmptyTorrentsDropped)
	counter(descSrcLimited, st.NewTorrentsLimited)
	(*Server)(c).collectCluster(ch, st.Cluster)
}
