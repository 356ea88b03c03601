package trackerserver

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Cluster defaults, and where they come from.
const (
	// DefaultClusterSubject prefixes every subject a cluster uses.
	DefaultClusterSubject = "swarmcast.tracker"
	// DefaultClusterHeartbeat: an instance is declared dead after three
	// missed heartbeats, so its sockets' peers are dropped and its swarms
	// owned again within about 3 s, far inside the 2-minute WebSocket
	// announce interval in which they refill.
	DefaultClusterHeartbeat = time.Second
	// DefaultClusterTimeout bounds a forwarded request. A forward over
	// loopback NATS takes about 100 µs plus up to two flush delays (the
	// request and its reply travel in batches); 2 s covers a NATS
	// reconnect, and a client waits no longer than an HTTP tracker
	// answering slowly.
	DefaultClusterTimeout = 2 * time.Second
	// DefaultClusterWorkers is how many subscribers serve requests sent
	// alone on an instance's request subject (a NATS queue group): each
	// handles its messages in order, so a few let requests for different
	// swarms run in parallel on a few cores. Instances send each other
	// their requests in batches on the sockets subject instead
	// (clusterbatch.go), where one subscriber serves them in order.
	DefaultClusterWorkers = 4
	// DefaultClusterPendingMsgs and DefaultClusterPendingBytes bound what
	// waits in each subscription; NATS drops past them (a slow consumer),
	// and each drop is counted. 64 Ki messages of about 2 KiB (an offer)
	// is 128 MiB at most per subscription: a second or more of a busy
	// instance's traffic.
	DefaultClusterPendingMsgs  = 64 << 10
	DefaultClusterPendingBytes = 64 << 20
	// DefaultClusterNearPicks is the share of a WebSocket announce's peers
	// picked among sockets on the announcing socket's own instance, when
	// it has them: 4 of WebTorrent's 5 offers stay on the instance, and
	// the fifth reaches a peer on another, so that the swarm stays one.
	DefaultClusterNearPicks = 0.8

	// deadAfter is how many heartbeats an instance may miss.
	deadAfter = 3
	// joinWait is how long JoinCluster waits for the others' answers to its
	// hello before it starts owning swarms: a round trip over NATS is well
	// under a millisecond on one host and a few on a LAN.
	joinWait = 250 * time.Millisecond
)

// ClusterConfig configures a tracker instance's membership of a cluster.
type ClusterConfig struct {
	// Conn is the NATS connection; required. The caller owns it (and
	// should let it reconnect forever: nats.MaxReconnects(-1)); Shutdown
	// stops using it but does not close it. JoinCluster sets its error,
	// disconnect and reconnect handlers (to count slow consumers and to be
	// known again at once after a reconnect).
	Conn *nats.Conn
	// Subject prefixes every subject; zero means DefaultClusterSubject.
	// Instances with the same prefix on the same NATS form one cluster.
	Subject string
	// Heartbeat is the period of heartbeats; zero means
	// DefaultClusterHeartbeat.
	Heartbeat time.Duration
	// Timeout bounds a forwarded request; zero means DefaultClusterTimeout.
	Timeout time.Duration
	// Workers, PendingMsgs and PendingBytes: see the defaults.
	Workers      int
	PendingMsgs  int
	PendingBytes int
	// FlushDelay is the shortest time between two batches to other
	// instances: what is queued meanwhile waits for the next and travels
	// with it (clusterbatch.go); zero means DefaultClusterFlushDelay.
	FlushDelay time.Duration
	// BatchBytes bounds one batch (one NATS message): zero means
	// DefaultClusterBatchBytes. It is never more than half the payload
	// limit of the NATS server met at JoinCluster.
	BatchBytes int
	// NearPicks is the share of the peers picked for a WebSocket announce
	// (so of its offers) that come from sockets on the announcing socket's
	// instance, when it has enough: their offers and answers never cross
	// the cluster. The rest come from other instances' sockets when there
	// are any, so that the swarm stays one (1 is refused). Zero means
	// DefaultClusterNearPicks; below zero, peers are picked at random over
	// the whole swarm, as by a single tracker.
	NearPicks float64
}

// ErrNoCluster is returned by JoinCluster without a NATS connection.
var ErrNoCluster = errors.New("trackerserver: ClusterConfig.Conn is nil")

// errClusterUnavailable is what a client is told when its announce could not
// reach the swarm's owner: it retries at its next announce.
const errClusterUnavailable = errMsg("tracker cluster unavailable: try again later")

// cluster is one instance's membership and routing.
type cluster struct {
	s        *Server
	nc       *nats.Conn
	cfg      ClusterConfig
	hbSubj   string
	reqSubj  string // this instance's requests
	wsSubj   string // this instance's sockets
	prefix   string
	subs     []*nats.Subscription
	live     atomic.Pointer[[]uint64] // sorted, this instance included
	mu       sync.Mutex
	seen     map[uint64]int64 // other instances, by their last heartbeat (server clock)
	hello    chan struct{}    // a newcomer asked for a heartbeat
	ctr      clusterCounters
	routes   *routeBatcher
	near     *nearSets // this instance's own WebRTC peers in swarms others own
	calls    callTable
	scratch  requestScratch // onRoute's, for the calls it serves
	latency  latencyHist
	bufPool  sync.Pool
	subjects sync.Map // instance → its request and socket subjects
}

type clusterCounters struct {
	forwarded      atomic.Uint64 // requests sent to other owners
	forwardFailed  atomic.Uint64 // of which failed (timeout, no owner, NATS down)
	served         atomic.Uint64 // requests served for other instances
	routedOut      atomic.Uint64 // offers and answers sent to other instances
	routedIn       atomic.Uint64 // offers and answers delivered from other instances
	routeDropped   atomic.Uint64 // routed messages whose socket was gone or behind
	bad            atomic.Uint64 // malformed cluster messages
	slowConsumer   atomic.Uint64 // NATS slow-consumer errors (messages dropped)
	joined, left   atomic.Uint64 // instances seen to come and go
	reconnects     atomic.Uint64
	disconnects    atomic.Uint64
	peersOfTheDead atomic.Uint64 // peers dropped because their instance died
	nearRelayed    atomic.Uint64 // offers relayed from near sets, before the owner was asked
}

// instSubjects are another instance's subjects, made once.
type instSubjects struct{ req, ws string }

// JoinCluster makes the server one instance of a tracker cluster over NATS:
// swarms are owned by one live instance each, and announces, scrapes,
// offers and answers for others go to them. Call it once, before serving.
func (s *Server) JoinCluster(cfg ClusterConfig) error {
	if cfg.Conn == nil {
		return ErrNoCluster
	}
	if cfg.Subject == "" {
		cfg.Subject = DefaultClusterSubject
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultClusterHeartbeat
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultClusterTimeout
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultClusterWorkers
	}
	if cfg.PendingMsgs <= 0 {
		cfg.PendingMsgs = DefaultClusterPendingMsgs
	}
	if cfg.PendingBytes <= 0 {
		cfg.PendingBytes = DefaultClusterPendingBytes
	}
	if cfg.FlushDelay <= 0 {
		cfg.FlushDelay = DefaultClusterFlushDelay
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultClusterBatchBytes
	}
	if cfg.NearPicks == 0 {
		cfg.NearPicks = DefaultClusterNearPicks
	}
	if cfg.NearPicks >= 1 || math.IsNaN(cfg.NearPicks) {
		// At 1, a swarm with enough sockets on each instance would be one
		// swarm per instance: their peers would never meet.
		return fmt.Errorf("trackerserver: ClusterConfig.NearPicks %v: give less than 1", cfg.NearPicks)
	}
	if limit := cfg.Conn.MaxPayload() / 2; limit > 0 && int64(cfg.BatchBytes) > limit {
		cfg.BatchBytes = int(limit)
	}
	s.mu.Lock()
	if s.cluster != nil || s.started || s.shuttingDown {
		s.mu.Unlock()
		return errors.New("trackerserver: JoinCluster must be called once, before serving")
	}
	s.mu.Unlock()
	var idb [8]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return fmt.Errorf("trackerserver: instance ID: %w", err)
	}
	inst := binary.BigEndian.Uint64(idb[:]) | 1 // never 0, the single tracker's
	cl := &cluster{
		s:      s,
		nc:     cfg.Conn,
		cfg:    cfg,
		prefix: cfg.Subject,
		hbSubj: cfg.Subject + ".hb",
		seen:   make(map[uint64]int64),
		hello:  make(chan struct{}, 1),
		near:   newNearSets(),
	}
	cl.reqSubj, cl.wsSubj = cl.subjectsOf(inst)
	cl.routes = newRouteBatcher(cl.nc.Publish, cfg.FlushDelay, cfg.BatchBytes, &cl.ctr)
	cl.bufPool.New = func() any { b := make([]byte, 0, 512); return &b }
	cl.calls.m = make(map[uint64]*call)
	s.inst = inst
	cl.live.Store(&[]uint64{inst})

	subscribe := func(subj, queue string, h nats.MsgHandler) error {
		var sub *nats.Subscription
		var err error
		if queue != "" {
			sub, err = cl.nc.QueueSubscribe(subj, queue, h)
		} else {
			sub, err = cl.nc.Subscribe(subj, h)
		}
		if err != nil {
			return fmt.Errorf("trackerserver: subscribe to %s: %w", subj, err)
		}
		if err := sub.SetPendingLimits(cfg.PendingMsgs, cfg.PendingBytes); err != nil {
			return fmt.Errorf("trackerserver: pending limits: %w", err)
		}
		cl.subs = append(cl.subs, sub)
		return nil
	}
	err := subscribe(cl.hbSubj, "", cl.onHeartbeat)
	for range cfg.Workers {
		if err != nil {
			break
		}
		var scratch requestScratch
		err = subscribe(cl.reqSubj, "owner", func(m *nats.Msg) { cl.serveRequest(m, &scratch) })
	}
	if err == nil {
		// One subscriber: messages for one socket are delivered in the
		// order they were sent.
		err = subscribe(cl.wsSubj, "", cl.onRoute)
	}
	if err != nil {
		cl.unsubscribe()
		return err
	}
	cl.nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			cl.ctr.slowConsumer.Add(1)
		}
		s.log.Debug("trackerserver: nats", "err", err)
	})
	cl.nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		cl.ctr.disconnects.Add(1)
		s.log.Warn("trackerserver: disconnected from NATS", "err", err)
	})
	cl.nc.SetReconnectHandler(func(*nats.Conn) {
		cl.ctr.reconnects.Add(1)
		s.log.Info("trackerserver: reconnected to NATS")
		cl.publishHeartbeat(opHello) // be known again at once
	})
	// Ask the others to say they are there, and give them a moment, so
	// that this instance does not own every swarm for its first second.
	cl.publishHeartbeat(opHello)
	cl.nc.FlushTimeout(joinWait)
	deadline := time.NewTimer(joinWait)
	<-deadline.C
	s.mu.Lock()
	s.cluster = cl
	s.mu.Unlock()
	s.bgWG.Add(2)
	go cl.run()
	go func() {
		defer s.bgWG.Done()
		cl.routes.run(s.done)
	}()
	return nil
}

func (cl *cluster) subjectsOf(inst uint64) (req, ws string) {
	if v, ok := cl.subjects.Load(inst); ok {
		is := v.(instSubjects)
		return is.req, is.ws
	}
	base := cl.prefix + ".i." + strconv.FormatUint(inst, 16)
	is := instSubjects{req: base + ".req", ws: base + ".ws"}
	cl.subjects.Store(inst, is)
	return is.req, is.ws
}

func (cl *cluster) unsubscribe() {
	for _, sub := range cl.subs {
		sub.Unsubscribe()
	}
	cl.subs = nil
}

// run heartbeats and expires silent instances until the server shuts down;
// then it says goodbye.
func (cl *cluster) run() {
	defer cl.s.bgWG.Done()
	t := time.NewTicker(cl.cfg.Heartbeat)
	defer t.Stop()
	cl.publishHeartbeat(opHeartbeat)
	expireEvery := cl.s.ttlWS / 4
	nextExpire := cl.s.now() + expireEvery
	for {
		select {
		case <-cl.s.done:
			cl.publishHeartbeat(opLeaving)
			cl.unsubscribe()
			cl.nc.FlushTimeout(time.Second)
			cl.forgetSubjects()
			return
		case <-cl.hello:
			cl.publishHeartbeat(opHeartbeat)
		case <-t.C:
			cl.publishHeartbeat(opHeartbeat)
			now := cl.s.now()
			cl.expire(now)
			if now >= nextExpire {
				cl.near.expire(now)
				nextExpire = now + expireEvery
			}
		}
	}
}

func (cl *cluster) forgetSubjects() {
	cl.subjects.Range(func(k, _ any) bool { cl.subjects.Delete(k); return true })
}

func (cl *cluster) publishHeartbeat(op uint8) {
	var b [10]byte
	cl.nc.Publish(cl.hbSubj, appendHeartbeat(b[:0], op, cl.s.inst))
}

func (cl *cluster) onHeartbeat(m *nats.Msg) {
	op, inst, err := decodeHeartbeat(m.Data)
	if err != nil {
		cl.ctr.bad.Add(1)
		return
	}
	if inst == cl.s.inst {
		return
	}
	now := cl.s.now()
	cl.mu.Lock()
	_, known := cl.seen[inst]
	switch op {
	case opLeaving:
		delete(cl.seen, inst)
	default:
		cl.seen[inst] = now
	}
	changed := known != (op != opLeaving)
	if changed {
		cl.updateLiveLocked()
	}
	cl.mu.Unlock()
	if op == opHello {
		select {
		case cl.hello <- struct{}{}:
		default:
		}
	}
	if changed {
		if op == opLeaving {
			cl.gone(inst, now)
		} else {
			cl.ctr.joined.Add(1)
			cl.s.log.Info("trackerserver: instance joined", "instance", strconv.FormatUint(inst, 16))
		}
	}
}

// expire forgets instances that missed deadAfter heartbeats.
func (cl *cluster) expire(now int64) {
	limit := int64(deadAfter * cl.cfg.Heartbeat)
	var dead []uint64
	cl.mu.Lock()
	for inst, at := range cl.seen {
		if now-at > limit {
			delete(cl.seen, inst)
			dead = append(dead, inst)
		}
	}
	if len(dead) > 0 {
		cl.updateLiveLocked()
	}
	cl.mu.Unlock()
	for _, inst := range dead {
		cl.gone(inst, now)
	}
}

// gone drops what referred to a dead or departed instance's sockets.
func (cl *cluster) gone(inst uint64, now int64) {
	cl.ctr.left.Add(1)
	n := cl.s.store.removeInstance(inst, now)
	cl.ctr.peersOfTheDead.Add(uint64(n))
	cl.subjects.Delete(inst)
	cl.routes.forget(inst)
	cl.s.log.Info("trackerserver: instance left", "instance", strconv.FormatUint(inst, 16), "peers", n)
}

func (cl *cluster) updateLiveLocked() {
	live := make([]uint64, 0, len(cl.seen)+1)
	live = append(live, cl.s.inst)
	for inst := range cl.seen {
		live = append(live, inst)
	}
	slices.Sort(live)
	cl.live.Store(&live)
}

// instances returns the live instances, this one included.
func (cl *cluster) instances() []uint64 { return *cl.live.Load() }

// owner is the live instance that owns the swarm of ih: the highest of
// every live instance's score for it (rendezvous hashing). Info hashes are
// SHA-1 digests, already uniform; the mix spreads each instance's scores.
func (cl *cluster) owner(ih *[20]byte) uint64 {
	live := *cl.live.Load()
	if len(live) == 1 {
		return live[0]
	}
	h := binary.LittleEndian.Uint64(ih[:8]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(ih[8:16]), 29) ^
		uint64(binary.LittleEndian.Uint32(ih[16:20]))
	var best, bestScore uint64
	for _, inst := range live {
		if sc := mix64(h ^ mix64(inst)); sc >= bestScore {
			best, bestScore = inst, sc
		}
	}
	return best
}

// pickNear sets p, a WebSocket announce this instance's store serves, to
// pick its peers near the announcing socket first (ClusterConfig.NearPicks):
// of its numWant peers, numWant × (1 − NearPicks) far ones, rounded up or
// down at random so that on average the share is kept whatever the number
// (a client sending one offer gets a far peer one announce in five).
func (cl *cluster) pickNear(p *announceParams) {
	if p.kind != kindWS || cl.cfg.NearPicks < 0 || p.numWant <= 0 {
		return
	}
	// Rounded to a millionth first: 5 × (1 − 0.8) is 0.9999999999999998.
	x := math.Round(float64(p.numWant)*(1-cl.cfg.NearPicks)*1e6) / 1e6
	far := int(x)
	if mrand.Float64() < x-float64(far) {
		far++
	}
	p.nearFirst, p.farPicks = true, far
}

// mix64 is SplitMix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (cl *cluster) getBuf() *[]byte { return cl.bufPool.Get().(*[]byte) }

func (cl *cluster) putBuf(b *[]byte) {
	if cap(*b) <= maxPooledMsg {
		*b = (*b)[:0]
		cl.bufPool.Put(b)
	}
}

// latencyHist counts forwarding round trips in buckets a factor of √2
// apart from 8 µs up: enough for a median and a 99th percentile within
// 20%, with no lock.
type latencyHist struct {
	buckets [latencyBuckets]atomic.Uint64
	sumNs   atomic.Uint64
}

const (
	latencyBuckets = 36
	latencyFirstNs = 8000
)

// latencyBound is the upper bound of bucket i, in seconds.
func latencyBound(i int) float64 {
	return latencyFirstNs * math.Pow(math.Sqrt2, float64(i)) / 1e9
}

func (h *latencyHist) observe(d time.Duration) {
	ns := float64(d)
	i := 0
	if ns > latencyFirstNs {
		i = int(math.Ceil(2 * math.Log2(ns/latencyFirstNs)))
	}
	h.buckets[min(i, latencyBuckets-1)].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

// snapshot returns the counts per bucket and their total.
func (h *latencyHist) snapshot() (counts [latencyBuckets]uint64, total uint64) {
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	return counts, total
}

// quantile is the upper bound, in seconds, of the bucket holding quantile q.
func (h *latencyHist) quantile(q float64) float64 {
	counts, total := h.snapshot()
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var n uint64
	for i, c := range counts {
		if n += c; n >= want {
			return latencyBound(i)
		}
	}
	return latencyBound(latencyBuckets - 1)
}
