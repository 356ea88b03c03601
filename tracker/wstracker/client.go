// Package wstracker is the client of WebTorrent's WebSocket trackers, as
// the bittorrent-tracker package (npm) speaks the protocol. The tracker is a
// signalling relay: an announce carries WebRTC offers, the tracker hands
// each to another peer of the swarm, that peer's answer comes back through
// the tracker, and the two peers then connect directly over a WebRTC data
// channel. Announce therefore returns no peer addresses: peers arrive as
// ready connections through Config.OnConn.
//
// One Client serves one tracker URL over one WebSocket, shared by every
// torrent announced there. The socket is dialled on the first call, and
// redialled with backoff when it drops while torrents are active; after a
// redial the active torrents are announced again, since the tracker forgets
// a peer whose socket closed.
//
// Messages are JSON text frames. Info hashes, peer ids and offer ids are
// "binary strings": 20 characters U+0000 to U+00FF, one per byte.
package wstracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/internal/securerand"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/webrtc"
)

// firstOffers is how many offers an announce that waits for its response
// carries; the rest of its share follow once the response has counted the
// swarm (moreOffers). Offers are made before the announce leaves, and
// making ten took 10-12 ms natively on a 2-core machine against 2.4-3 ms
// for one, and ~220 ms of page time in Chromium against ~22: the first
// connection waited for all ten. Two, in case the first peer the tracker
// picks is slow or unreachable.
const firstOffers = 2

// Defaults for the zero values of Config.
const (
	// DefaultOffers is how many WebRTC offers an announce carries at most.
	// bittorrent-tracker's client sends 5 because its offers take seconds
	// to make; ours take milliseconds (TestTimings in transport/webrtc),
	// and more offers reach more of the swarm in one round. The tracker
	// relays at most 82.
	DefaultOffers = 10

	// DefaultOfferTimeout is how long an offer waits for an answer before
	// it is closed: 50 s, as bittorrent-tracker's client.
	DefaultOfferTimeout = 50 * time.Second

	// DefaultConnectTimeout bounds the time from an answer to an open data
	// channel. ICE gives up on an unreachable peer after about 30 s in
	// browsers and in pion; waiting longer gains nothing.
	DefaultConnectTimeout = 30 * time.Second

	// DefaultMaxMessageSize caps a message from the tracker. A relayed
	// offer or answer is one SDP of 1 to 4 KiB; an announce response is
	// smaller. 1 MiB leaves room for a scrape of thousands of torrents.
	DefaultMaxMessageSize = 1 << 20

	// DefaultReconnectDelay is the first wait before redialling a tracker
	// whose socket dropped; it doubles with each failure, up to
	// maxReconnectDelay, with ±50% jitter so that the clients of a
	// restarted tracker do not all return at once. bittorrent-tracker's
	// client waits 10 s plus up to 5 min; we return sooner because the
	// tracker has forgotten us until we do.
	DefaultReconnectDelay = 5 * time.Second

	maxReconnectDelay = 10 * time.Minute

	// dialTimeout bounds dialling the tracker, for callers whose context
	// allows longer: other waiters share the dial.
	dialTimeout = 15 * time.Second

	// writeTimeout bounds a write that no caller's context bounds (answers
	// and announces after a redial).
	writeTimeout = 10 * time.Second

	// maxAnswering bounds the relayed offers answered at once, so that a
	// hostile tracker cannot make us open sockets without end. Each is a
	// peer connection with its own UDP sockets.
	maxAnswering = 32

	// maxPendingOffers bounds our own unanswered offers, which live for
	// OfferTimeout: announcing more often than that sends fewer offers.
	maxPendingOffers = 100

	// offerAnswerWait is how long a torrent's unanswered offers hold back
	// its next batch. An offer the tracker relayed to a live peer is
	// answered within a second or two; one still unanswered after this
	// found nobody (the swarm was empty when it arrived, or its peer was
	// gone or overloaded), so a re-announce while we have no peer (the
	// engine's lonely retry, 15 s) carries a fresh batch instead of waiting
	// out OfferTimeout. The old offers stay open until their timeout.
	offerAnswerWait = 10 * time.Second
)

// Errors of the client.
var (
	// ErrBadURL is returned by New for a URL that is not ws:// or wss://.
	ErrBadURL = errors.New("wstracker: bad announce URL")

	// ErrDisconnected is returned by calls whose socket dropped before the
	// tracker answered; the next call dials again.
	ErrDisconnected = errors.New("wstracker: connection to the tracker lost")
)

// Config configures a Client. The zero value is usable: OnConn nil closes
// every connection that opens.
type Config struct {
	// WebRTC configures the peer connections of offers and answers.
	WebRTC webrtc.Config

	// OnConn receives each connection that opens, with the torrent it is
	// for and the remote peer's id, and then owns it. It is called on its
	// own goroutine and may block; Close waits for calls in progress.
	//
	// WebTorrent peers send their BitTorrent handshake as soon as the
	// channel opens, whichever side made the offer, and so may we: waiting
	// for the other side's handshake first (as for inbound TCP) deadlocks
	// two peers that both wait.
	OnConn func(infoHash metainfo.Hash, peerID [20]byte, c transport.Conn)

	// Offers is the most offers an announce carries; fewer when the
	// request's NumWant is smaller. Zero means DefaultOffers.
	Offers int

	// OfferTimeout is how long an offer waits for an answer; zero means
	// DefaultOfferTimeout.
	OfferTimeout time.Duration

	// ConnectTimeout bounds the time from offer answered (or answer sent)
	// to open data channel; zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// ReconnectDelay is the first wait before redialling a dropped socket;
	// zero means DefaultReconnectDelay.
	ReconnectDelay time.Duration

	// MaxMessageSize caps a message from the tracker; zero means
	// DefaultMaxMessageSize. Larger messages end the connection.
	MaxMessageSize int64

	// UserAgent is sent with the WebSocket handshake (not in browsers);
	// empty means tracker.DefaultUserAgent.
	UserAgent string

	// Logger receives debug logs; nil means no logging.
	Logger *slog.Logger
}

// Client talks to one WebSocket tracker for any number of torrents. Its
// methods are safe for concurrent use.
type Client struct {
	url string
	cfg Config
	log *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the client starts

	mu        sync.Mutex
	closed    bool
	ws        wsConn        // nil while disconnected
	gen       uint64        // counts sockets, so stale readers are told apart
	dialing   chan struct{} // closed when the dial in progress ends
	dialErr   error         // the last dial's error
	connected bool          // a socket was open once: later ones re-announce
	failures  int           // consecutive drops or failed dials, for backoff
	redial    *time.Timer   // pending reconnect, nil when none
	torrents  map[metainfo.Hash]*torrentState
	waiters   []*waiter // requests awaiting a response, in the order sent
	offers    map[[20]byte]*pendingOffer
	answering int // relayed offers being answered
}

// torrentState is what the client remembers of an announced torrent.
type torrentState struct {
	req       tracker.AnnounceRequest // the last announce, for re-announcing
	trackerID string
}

// waiter is a request that awaits the tracker's response.
type waiter struct {
	scrape   bool
	infoHash metainfo.Hash // announces only
	gen      uint64        // the socket it was sent on
	ch       chan result   // capacity 1; nobody reads it for re-announces
}

type result struct {
	msg *message
	err error
}

type pendingOffer struct {
	offer    *webrtc.Offer
	infoHash metainfo.Hash
	gen      uint64 // the socket it was sent on
	sent     time.Time
	timer    *time.Timer
}

var _ tracker.Client = (*Client)(nil)

// New returns a Client for a ws:// or wss:// announce URL. It does not dial
// until the first call.
func New(announceURL string, cfg Config) (*Client, error) {
	u, err := url.Parse(announceURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return nil, fmt.Errorf("%w: scheme %q, want ws or wss", ErrBadURL, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %q has no host", ErrBadURL, announceURL)
	}
	u.Fragment, u.RawFragment = "", ""
	if cfg.Offers <= 0 {
		cfg.Offers = DefaultOffers
	}
	if cfg.OfferTimeout <= 0 {
		cfg.OfferTimeout = DefaultOfferTimeout
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ReconnectDelay <= 0 {
		cfg.ReconnectDelay = DefaultReconnectDelay
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = tracker.DefaultUserAgent
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		url:      u.String(),
		cfg:      cfg,
		log:      log.With("tracker", u.Redacted()),
		ctx:      ctx,
		cancel:   cancel,
		torrents: make(map[metainfo.Hash]*torrentState),
		offers:   make(map[[20]byte]*pendingOffer),
	}, nil
}

// Opener returns a tracker.NewFunc that opens Clients configured by cfg, for
// tracker.Config.Schemes under "ws" and "wss". The UserAgent and Logger of
// tracker.Config fill in those cfg leaves empty.
func Opener(cfg Config) tracker.NewFunc {
	return func(announceURL string, tc tracker.Config) (tracker.Client, error) {
		c := cfg
		if c.UserAgent == "" {
			c.UserAgent = tc.UserAgent
		}
		if c.Logger == nil {
			c.Logger = tc.Logger
		}
		return New(announceURL, c)
	}
}

// Announce tells the tracker about a torrent. Unless the event is stopped or
// completed or the request sets NoPeers, the announce carries fresh WebRTC
// offers, which the tracker relays to other peers; their answers turn into
// connections handed to Config.OnConn. Of its share (Config.Offers, or
// NumWant when smaller) it carries firstOffers; once the response has
// counted the swarm, a second announce carries the rest, no more than the
// peers not yet offered to. The response has
// the tracker's interval and counts and no peers. After a stopped announce,
// offers relayed for the torrent are no longer answered. A negative Left
// (size unknown before metadata) is left out, so the tracker counts a
// leecher.
func (c *Client) Announce(ctx context.Context, req tracker.AnnounceRequest) (tracker.AnnounceResponse, error) {
	w, offerIDs, rest, err := c.announce(ctx, req, announceFirst)
	if err != nil {
		return tracker.AnnounceResponse{}, err
	}
	var r result
	select {
	case r = <-w.ch:
	case <-ctx.Done():
		c.dropWaiter(w)
		return tracker.AnnounceResponse{}, ctx.Err()
	case <-c.ctx.Done():
		return tracker.AnnounceResponse{}, tracker.ErrClosed
	}
	if r.err != nil {
		c.closeOffers(offerIDs)
		return tracker.AnnounceResponse{}, r.err
	}
	m := r.msg
	if m.failure != "" {
		// bittorrent-tracker relays no offer of a refused announce, and a
		// refused torrent is not announced again after a redial.
		c.closeOffers(offerIDs)
		c.mu.Lock()
		if t := c.torrents[req.InfoHash]; t != nil && t.req == req {
			delete(c.torrents, req.InfoHash)
		}
		c.mu.Unlock()
		return tracker.AnnounceResponse{}, &tracker.FailureError{Reason: m.failure}
	}
	if more := moreOffers(rest, len(offerIDs), m); more > 0 {
		c.wg.Go(func() { c.announceMore(req, more) })
	}
	return tracker.AnnounceResponse{
		Interval:    m.interval,
		MinInterval: m.minInterval,
		Leechers:    m.incomplete,
		Seeders:     m.complete,
		TrackerID:   m.trackerID,
		Warning:     m.warning,
	}, nil
}

// announceKind says which of the client's announces a message is.
type announceKind int

const (
	// announceFirst is Announce's: it carries at most firstOffers, and its
	// caller waits for the response.
	announceFirst announceKind = iota
	// announceAgain re-announces a torrent after a redial; nobody reads
	// the response.
	announceAgain
	// announceRest carries the rest of an announceFirst's offers, only
	// while the torrent is still announced, and leaves its recorded request
	// as it is; nobody reads the response.
	announceRest
)

// announce makes the offers, registers them and a waiter, and sends the
// announce. For announceFirst, rest is how many more offers its share
// allowed (Announce sends them once the response has counted the swarm).
func (c *Client) announce(ctx context.Context, req tracker.AnnounceRequest, kind announceKind) (w *waiter, offerIDs [][20]byte, rest int, err error) {
	ws, gen, err := c.connect(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	msg := announceJSON{
		Action:     "announce",
		InfoHash:   id20(req.InfoHash),
		PeerID:     id20(req.PeerID),
		Uploaded:   max(req.Uploaded, 0),
		Downloaded: max(req.Downloaded, 0),
	}
	if req.Left >= 0 {
		msg.Left = &req.Left
	}
	if req.Event != tracker.EventNone {
		msg.Event = req.Event.String()
	}
	var offers []*webrtc.Offer
	if req.Event != tracker.EventStopped && req.Event != tracker.EventCompleted && !req.NoPeers {
		n := c.offerCount(req.InfoHash, req.NumWant)
		if kind == announceFirst && n > firstOffers {
			n, rest = firstOffers, n-firstOffers
		}
		offers = c.makeOffers(ctx, n)
	}
	offerIDs = make([][20]byte, len(offers))
	for i, o := range offers {
		offerIDs[i] = randomID()
		msg.Offers = append(msg.Offers, offerJSON{
			Offer:   sdpJSON{Type: "offer", SDP: o.SDP()},
			OfferID: offerIDs[i],
		})
	}
	msg.NumWant = len(offers)

	w = &waiter{infoHash: req.InfoHash, gen: gen, ch: make(chan result, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		closeAll(offers)
		return nil, nil, 0, tracker.ErrClosed
	}
	t := c.torrents[req.InfoHash]
	switch {
	case kind == announceRest && (t == nil || t.req.PeerID != req.PeerID):
		// Stopped since, or announced again under another peer ID: these
		// offers are not wanted.
		c.mu.Unlock()
		closeAll(offers)
		return nil, nil, 0, nil
	case kind == announceRest:
		// Still announced: the torrent's recorded request stays the first
		// announce's.
	case req.Event == tracker.EventStopped:
		delete(c.torrents, req.InfoHash)
		c.closeOffersOfLocked(req.InfoHash)
	default:
		if t == nil {
			t = &torrentState{}
			c.torrents[req.InfoHash] = t
		}
		t.req = req
	}
	if t != nil && (req.TrackerID != "" || t.trackerID != "") {
		msg.TrackerID = t.trackerID
		if req.TrackerID != "" {
			msg.TrackerID = req.TrackerID
		}
	}
	for i, o := range offers {
		c.addOfferLocked(offerIDs[i], o, req.InfoHash, gen)
	}
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()

	data := msg.appendTo(nil)
	if err := c.write(ctx, ws, gen, data); err != nil {
		c.dropWaiter(w)
		c.closeOffers(offerIDs)
		return nil, nil, 0, err
	}
	c.log.Debug("announced", "info_hash", req.InfoHash, "event", req.Event, "offers", len(offers), "bytes", len(data))
	return w, offerIDs, rest, nil
}

// moreOffers is how many of the rest of an announce's offers to send once
// its response m has counted the swarm: no more than the peers it holds
// besides us and those the first offers went to (the tracker relays each
// offer to a different peer, but a second announce's may reach the same
// ones again, each a duplicate connection).
func moreOffers(rest, sent int, m *message) int {
	if rest <= 0 {
		return 0
	}
	if m.complete < 0 || m.incomplete < 0 {
		return rest
	}
	return max(0, min(rest, m.complete+m.incomplete-1-sent))
}

// announceMore sends the rest of a first announce's offers, as a regular
// announce whose response nobody reads.
func (c *Client) announceMore(req tracker.AnnounceRequest, n int) {
	ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
	defer cancel()
	req.Event, req.NumWant, req.NoPeers = tracker.EventNone, n, false
	if _, _, _, err := c.announce(ctx, req, announceRest); err != nil {
		c.log.Debug("announce of more offers failed", "info_hash", req.InfoHash, "err", err)
	}
}

// offerCount is how many offers an announce of torrent ih asking for numWant
// peers carries, given how many are still waiting for answers. A torrent's
// own unanswered offers count against its share: an announce soon after the
// last (when a magnet's metadata arrives, or on completion) would otherwise
// bring a second batch while the first is still out, and in a one-seed
// swarm every batch costs peer connections nobody answers (each batch of 10
// costs ~220 ms of page time in Chromium). The tracker relays an offer only
// to a peer it knows, so the pending ones still reach the peers that join
// later; once they have waited offerAnswerWait unanswered, the next announce
// carries a full batch again.
// Offers sent on an earlier socket do not count: the tracker that forgot us
// with that socket relays them no more.
func (c *Client) offerCount(ih metainfo.Hash, numWant int) int {
	n := c.cfg.Offers
	if numWant > 0 {
		n = min(n, numWant)
	}
	c.mu.Lock()
	pending := 0
	for _, po := range c.offers {
		if po.infoHash == ih && po.gen == c.gen && time.Since(po.sent) < offerAnswerWait {
			pending++
		}
	}
	n = min(n, c.cfg.Offers-pending, maxPendingOffers-len(c.offers))
	c.mu.Unlock()
	return max(n, 0)
}

// makeOffers creates n offers at once (gathering takes a few milliseconds
// each, or up to the gather timeout with an unresponsive STUN server). Those
// that fail are left out.
func (c *Client) makeOffers(ctx context.Context, n int) []*webrtc.Offer {
	offers := make([]*webrtc.Offer, n)
	var wg sync.WaitGroup
	for i := range offers {
		wg.Go(func() {
			o, err := webrtc.NewOffer(ctx, c.cfg.WebRTC)
			if err != nil {
				c.log.Debug("offer failed", "err", err)
				return
			}
			offers[i] = o
		})
	}
	wg.Wait()
	out := offers[:0]
	for _, o := range offers {
		if o != nil {
			out = append(out, o)
		}
	}
	return out
}

// Scrape asks the tracker for the counts of the given torrents.
func (c *Client) Scrape(ctx context.Context, infoHashes []metainfo.Hash) (map[metainfo.Hash]tracker.ScrapeResult, error) {
	if len(infoHashes) == 0 {
		return map[metainfo.Hash]tracker.ScrapeResult{}, nil
	}
	ws, gen, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	msg := scrapeJSON{Action: "scrape", InfoHashes: make([]id20, len(infoHashes))}
	for i, h := range infoHashes {
		msg.InfoHashes[i] = id20(h)
	}
	data := msg.appendTo(nil)
	w := &waiter{scrape: true, gen: gen, ch: make(chan result, 1)}
	c.mu.Lock()
	c.waiters = append(c.waiters, w)
	c.mu.Unlock()
	if err := c.write(ctx, ws, gen, data); err != nil {
		c.dropWaiter(w)
		return nil, err
	}
	var r result
	select {
	case r = <-w.ch:
	case <-ctx.Done():
		c.dropWaiter(w)
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, tracker.ErrClosed
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.msg.failure != "" {
		return nil, &tracker.FailureError{Reason: r.msg.failure}
	}
	out := make(map[metainfo.Hash]tracker.ScrapeResult, len(infoHashes))
	for _, h := range infoHashes {
		if f, ok := r.msg.files[h]; ok {
			out[h] = f
		}
	}
	return out, nil
}

// Close closes the socket and every offer and answer in progress, and
// waits for the client's goroutines, OnConn calls among them.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.redial != nil {
		c.redial.Stop()
	}
	ws := c.ws
	c.ws = nil
	for _, w := range c.waiters {
		w.ch <- result{err: tracker.ErrClosed}
	}
	c.waiters = nil
	var offers []*webrtc.Offer
	for id, po := range c.offers {
		po.timer.Stop()
		offers = append(offers, po.offer)
		delete(c.offers, id)
	}
	c.mu.Unlock()
	c.cancel()
	if ws != nil {
		ws.CloseNow()
	}
	closeAll(offers)
	c.wg.Wait()
	return nil
}

// addOfferLocked registers an offer and starts its timeout.
func (c *Client) addOfferLocked(id [20]byte, o *webrtc.Offer, ih metainfo.Hash, gen uint64) {
	po := &pendingOffer{offer: o, infoHash: ih, gen: gen, sent: time.Now()}
	po.timer = time.AfterFunc(c.cfg.OfferTimeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.offers[id] != po {
			return // answered, or closed with the client
		}
		delete(c.offers, id)
		c.wg.Go(func() { o.Close() })
	})
	c.offers[id] = po
}

// closeOffers closes the offers with these ids that still wait for answers.
func (c *Client) closeOffers(ids [][20]byte) {
	var offers []*webrtc.Offer
	c.mu.Lock()
	for _, id := range ids {
		if po := c.offers[id]; po != nil {
			po.timer.Stop()
			offers = append(offers, po.offer)
			delete(c.offers, id)
		}
	}
	c.mu.Unlock()
	closeAll(offers)
}

// closeOffersOfLocked closes the unanswered offers of a stopped torrent.
// Closing an offer that gathered nothing yet is quick, but it still runs on
// its own goroutine so that the lock is not held meanwhile.
func (c *Client) closeOffersOfLocked(ih metainfo.Hash) {
	var offers []*webrtc.Offer
	for id, po := range c.offers {
		if po.infoHash == ih {
			po.timer.Stop()
			offers = append(offers, po.offer)
			delete(c.offers, id)
		}
	}
	if len(offers) > 0 {
		c.wg.Go(func() { closeAll(offers) })
	}
}

func closeAll(offers []*webrtc.Offer) {
	for _, o := range offers {
		o.Close()
	}
}

// dropWaiter forgets a request whose caller gave up.
func (c *Client) dropWaiter(w *waiter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.waiters {
		if x == w {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			return
		}
	}
}

// randomID returns an offer id. It must be unguessable: anyone who knows
// our peer id could otherwise answer our offers in another peer's place.
func randomID() [20]byte {
	var b [20]byte
	securerand.Read(b[:])
	return b
}
