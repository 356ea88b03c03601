package daemon

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const metricPrefix = "swarmcast_daemon_"

// metrics are the daemon's Prometheus metrics, in a registry of its own (no
// global state). Torrent figures are read from the torrents at each scrape.
type metrics struct {
	d        *Daemon
	reg      *prometheus.Registry
	rpc      *prometheus.CounterVec
	refused  *prometheus.CounterVec
	seekWait prometheus.Histogram
}

var (
	descBytes    = prometheus.NewDesc(metricPrefix+"bytes_total", "Payload bytes of every torrent, by source kind (tcp, webrtc, webseed) and direction.", []string{"source", "direction"}, nil)
	descPeers    = prometheus.NewDesc(metricPrefix+"peers", "Connected peers, by kind.", []string{"kind"}, nil)
	descPieces   = prometheus.NewDesc(metricPrefix+"pieces_verified", "Pieces verified and held, over every torrent.", nil, nil)
	descFailed   = prometheus.NewDesc(metricPrefix+"pieces_failed_total", "Pieces that failed their hash check this session.", nil, nil)
	descTorrents = prometheus.NewDesc(metricPrefix+"torrents", "Torrents, by Transmission state (stopped, checking, downloading, seeding).", []string{"state"}, nil)
	descWarnings = prometheus.NewDesc(metricPrefix+"torrent_warnings", "Warnings torrents report now (unreachable peers, web seeds that cannot serve, ...).", nil, nil)
	descAnnounce = prometheus.NewDesc(metricPrefix+"tracker_announces_total", "Announces of the torrents loaded, by result (ok: the tracker answered; failed: an error, a timeout or a failure reason).", []string{"result"}, nil)
)

// seekBuckets span a cached answer (a millisecond) to a stalled swarm.
var seekBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		d:   d,
		reg: prometheus.NewRegistry(),
		rpc: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "rpc_requests_total",
			Help: "Transmission RPC requests, by method and result."}, []string{"method", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricPrefix + "http_refused_total",
			Help: "HTTP requests refused, by reason (auth, session, host)."}, []string{"reason"}),
		seekWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricPrefix + "stream_seek_seconds",
			Help: "Time from a stream's Range request to its first byte.", Buckets: seekBuckets}),
	}
	m.reg.MustRegister(m.rpc, m.refused, m.seekWait, (*torrentCollector)(m))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// torrentCollector reads the torrents' statistics at scrape time.
type torrentCollector metrics

func (c *torrentCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBytes, descPeers, descPieces, descFailed, descTorrents, descWarnings, descAnnounce} {
		ch <- d
	}
}

func (c *torrentCollector) Collect(ch chan<- prometheus.Metric) {
	down, up := map[string]int64{}, map[string]int64{}
	peers := map[string]int{"tcp": 0, "webrtc": 0, "webseed": 0}
	states := map[string]int{"stopped": 0, "checking": 0, "downloading": 0, "seeding": 0}
	var pieces, failed, warnings, announced, announceFailed int
	for _, e := range c.d.entries() {
		for _, ti := range e.t.Trackers() {
			announced += ti.Announces
			announceFailed += ti.Failures
		}
		fc := c.d.newFieldCtx(e)
		s := fc.s
		for k, v := range s.Downloaded {
			down[k] += v
		}
		for k, v := range s.Uploaded {
			up[k] += v
		}
		for k, v := range s.PeersByNetwork {
			peers[k] += v
		}
		pieces += s.PiecesHave
		failed += s.HashFails
		warnings += len(s.Warnings)
		states[stateName(fc.status())]++
	}
	for k, v := range down {
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(v), k, "down")
	}
	for k, v := range up {
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(v), k, "up")
	}
	for k, v := range peers {
		ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(v), k)
	}
	for k, v := range states {
		ch <- prometheus.MustNewConstMetric(descTorrents, prometheus.GaugeValue, float64(v), k)
	}
	ch <- prometheus.MustNewConstMetric(descPieces, prometheus.GaugeValue, float64(pieces))
	ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(failed))
	ch <- prometheus.MustNewConstMetric(descWarnings, prometheus.GaugeValue, float64(warnings))
	ch <- prometheus.MustNewConstMetric(descAnnounce, prometheus.CounterValue, float64(announced), "ok")
	ch <- prometheus.MustNewConstMetric(descAnnounce, prometheus.CounterValue, float64(announceFailed), "failed")
}

// stateName names a Transmission status code for metrics and the API.
func stateName(status int) string {
	switch status {
	case statusStopped:
		return "stopped"
	case statusCheck, statusCheckWait:
		return "checking"
	case statusSeed, statusSeedWait:
		return "seeding"
	default:
		return "downloading"
	}
}

// timeStreams measures, for Range requests into a stream (a seek), the time
// to the first byte of the answer.
func (m *metrics) timeStreams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rg := r.Header.Get("Range")
		if rg == "" || strings.HasPrefix(rg, "bytes=0-") || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		tw := &firstByteWriter{ResponseWriter: w, start: time.Now(), hist: m.seekWait}
		next.ServeHTTP(tw, r)
	})
}

type firstByteWriter struct {
	http.ResponseWriter
	start time.Time
	hist  prometheus.Histogram
	seen  bool
}

func (w *firstByteWriter) Write(p []byte) (int, error) {
	if !w.seen && len(p) > 0 {
		w.seen = true
		w.hist.Observe(time.Since(w.start).Seconds())
	}
	return w.ResponseWriter.Write(p)
}

func (w *firstByteWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
