package trackerserver

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// ClusterStats are one instance's figures of its cluster, in Stats.Cluster.
type ClusterStats struct {
	// Instance is this instance's ID (hex); Instances the live instances,
	// this one included, as this instance sees them.
	Instance  string `json:"instance"`
	Instances int    `json:"instances"`
	// SwarmsOwned is the swarms this instance's store holds (Stats.Torrents
	// counts the same): swarms whose owner it is, and for a short while after
	// a membership change, swarms it owned before.
	SwarmsOwned int64 `json:"swarmsOwned"`
	// Forwarded counts announces and scrapes sent to other owners,
	// ForwardFailed those that got no answer (timeout, NATS down: the client
	// got a failure reason), Served requests served for other instances.
	Forwarded     uint64 `json:"forwarded"`
	ForwardFailed uint64 `json:"forwardFailed"`
	Served        uint64 `json:"served"`
	// RoutedOut and RoutedIn count offers and answers sent to sockets on
	// other instances and delivered from them; RouteDropped those dropped
	// (the instance or socket gone, or the socket too far behind).
	RoutedOut    uint64 `json:"routedOut"`
	RoutedIn     uint64 `json:"routedIn"`
	RouteDropped uint64 `json:"routeDropped"`
	// NearRelayed counts offers of announces in swarms other instances own
	// that this instance relayed to its own sockets from its near sets,
	// without waiting for the owner; NearPeers is the entries of those sets.
	NearRelayed uint64 `json:"nearRelayed"`
	NearPeers   int    `json:"nearPeers"`
	// Dropped counts NATS slow-consumer errors: messages NATS dropped because
	// a subscription of this instance was past its pending limits.
	Dropped uint64 `json:"dropped"`
	// BadMessages counts malformed cluster messages.
	BadMessages uint64 `json:"badMessages"`
	// Joined and Left count instances seen to come and go; PeersOfLeft the
	// WebRTC peers dropped because their socket's instance left.
	Joined      uint64 `json:"joined"`
	Left        uint64 `json:"left"`
	PeersOfLeft uint64 `json:"peersOfLeft"`
	// Disconnects and Reconnects count this instance's NATS connection's.
	Disconnects uint64 `json:"disconnects"`
	Reconnects  uint64 `json:"reconnects"`
	// ForwardLatencyP50 and ForwardLatencyP99 are forwarding round trips, in
	// seconds: the upper bounds of the histogram buckets (√2 apart) holding
	// the median and the 99th percentile since the start.
	ForwardLatencyP50 float64 `json:"forwardLatencyP50"`
	ForwardLatencyP99 float64 `json:"forwardLatencyP99"`
}

func (s *Server) clusterStats(swarms int64) *ClusterStats {
	cl := s.cluster
	if cl == nil {
		return nil
	}
	c := &cl.ctr
	return &ClusterStats{
		Instance:          strconv.FormatUint(s.inst, 16),
		Instances:         len(cl.instances()),
		SwarmsOwned:       swarms,
		Forwarded:         c.forwarded.Load(),
		ForwardFailed:     c.forwardFailed.Load(),
		Served:            c.served.Load(),
		RoutedOut:         c.routedOut.Load(),
		RoutedIn:          c.routedIn.Load(),
		RouteDropped:      c.routeDropped.Load(),
		NearRelayed:       c.nearRelayed.Load(),
		NearPeers:         cl.near.size(),
		Dropped:           c.slowConsumer.Load(),
		BadMessages:       c.bad.Load(),
		Joined:            c.joined.Load(),
		Left:              c.left.Load(),
		PeersOfLeft:       c.peersOfTheDead.Load(),
		Disconnects:       c.disconnects.Load(),
		Reconnects:        c.reconnects.Load(),
		ForwardLatencyP50: cl.latency.quantile(0.5),
		ForwardLatencyP99: cl.latency.quantile(0.99),
	}
}

var (
	descClInstances = prometheus.NewDesc(metricPrefix+"cluster_instances", "Live tracker instances, this one included.", nil, nil)
	descClOwned     = prometheus.NewDesc(metricPrefix+"cluster_swarms_owned", "Swarms this instance's store holds.", nil, nil)
	descClRequests  = prometheus.NewDesc(metricPrefix+"cluster_requests_total", "Announces and scrapes between instances, by direction and result.", []string{"direction", "result"}, nil)
	descClRouted    = prometheus.NewDesc(metricPrefix+"cluster_routed_total", "Offers and answers routed between instances, by direction and result.", []string{"direction", "result"}, nil)
	descClDropped   = prometheus.NewDesc(metricPrefix+"cluster_slow_consumer_total", "NATS slow-consumer errors: messages dropped past a subscription's pending limits.", nil, nil)
	descClBad       = prometheus.NewDesc(metricPrefix+"cluster_bad_messages_total", "Malformed cluster messages.", nil, nil)
	descClMembers   = prometheus.NewDesc(metricPrefix+"cluster_membership_changes_total", "Instances seen to join and leave.", []string{"change"}, nil)
	descClConn      = prometheus.NewDesc(metricPrefix+"cluster_nats_events_total", "NATS disconnects and reconnects.", []string{"event"}, nil)
	descClNear      = prometheus.NewDesc(metricPrefix+"cluster_near_relayed_total", "Offers relayed to this instance's own sockets from its near sets, without waiting for the swarm's owner.", nil, nil)
	descClNearPeers = prometheus.NewDesc(metricPrefix+"cluster_near_peers", "Entries of this instance's near sets: its own WebRTC peers in swarms other instances own.", nil, nil)
	descClLatency   = prometheus.NewDesc(metricPrefix+"cluster_forward_seconds", "Round trip of a request forwarded to a swarm's owner.", nil, nil)
)

func describeCluster(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClInstances, descClOwned, descClRequests, descClRouted, descClDropped,
		descClBad, descClMembers, descClConn, descClNear, descClNearPeers, descClLatency} {
		ch <- d
	}
}

func (s *Server) collectCluster(ch chan<- prometheus.Metric, st *ClusterStats) {
	if st == nil || s.cluster == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descClInstances, float64(st.Instances))
	gauge(descClOwned, float64(st.SwarmsOwned))
	counter(descClRequests, st.Forwarded-st.ForwardFailed, "out", "ok")
	counter(descClRequests, st.ForwardFailed, "out", "failed")
	counter(descClRequests, st.Served, "in", "ok")
	counter(descClRouted, st.RoutedOut, "out", "ok")
	counter(descClRouted, st.RoutedIn, "in", "ok")
	counter(descClRouted, st.RouteDropped, "any", "dropped")
	counter(descClDropped, st.Dropped)
	counter(descClNear, st.NearRelayed)
	gauge(descClNearPeers, float64(st.NearPeers))
	counter(descClBad, st.BadMessages)
	counter(descClMembers, st.Joined, "joined")
	counter(descClMembers, st.Left, "left")
	counter(descClConn, st.Disconnects, "disconnect")
	counter(descClConn, st.Reconnects, "reconnect")
	h := &s.cluster.latency
	counts, total := h.snapshot()
	buckets := make(map[float64]uint64, latencyBuckets)
	var cum uint64
	for i, c := range counts {
		cum += c
		buckets[latencyBound(i)] = cum
	}
	ch <- prometheus.MustNewConstHistogram(descClLatency, total, float64(h.sumNs.Load())/1e9, buckets)
}
