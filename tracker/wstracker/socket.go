package wstracker

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/swarmcast/swarmcast/tracker"
	"github.com/swarmcast/swarmcast/transport"
	"github.com/swarmcast/swarmcast/transport/webrtc"
)

// wsConn is one WebSocket to the tracker, carrying text messages. Natively
// it is coder/websocket (ws_native.go); in the browser, the browser's own
// WebSocket through a thin binding (ws_js.go), so that the wasm links no
// net/http.
type wsConn interface {
	// Read returns the next message. A message larger than the dial's
	// read limit ends the connection with an error.
	Read(ctx context.Context) ([]byte, error)
	// Write sends data as one text message.
	Write(ctx context.Context, data []byte) error
	// CloseNow closes the connection without a closing handshake.
	CloseNow() error
}

// connect returns the open socket, dialling it first if needed. Concurrent
// callers share one dial, which runs on the client's goroutine so that one
// caller giving up does not fail the others.
func (c *Client) connect(ctx context.Context) (wsConn, uint64, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, 0, tracker.ErrClosed
		}
		if c.ws != nil {
			ws, gen := c.ws, c.gen
			c.mu.Unlock()
			return ws, gen, nil
		}
		d := c.startDialLocked()
		c.mu.Unlock()
		select {
		case <-d:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
		c.mu.Lock()
		ok, err := c.ws != nil, c.dialErr
		c.mu.Unlock()
		if !ok && err != nil {
			return nil, 0, err
		}
	}
}

// startDialLocked starts a dial unless one is in progress, and returns the
// channel closed when it ends.
func (c *Client) startDialLocked() chan struct{} {
	if c.dialing != nil {
		return c.dialing
	}
	d := make(chan struct{})
	c.dialing = d
	c.wg.Go(func() { c.dial(d) })
	return d
}

func (c *Client) dial(done chan struct{}) {
	ctx, cancel := context.WithTimeout(c.ctx, dialTimeout)
	defer cancel()
	start := time.Now()
	ws, err := dialWebSocket(ctx, c.url, c.cfg.UserAgent, c.cfg.MaxMessageSize)
	c.mu.Lock()
	defer close(done)
	defer c.mu.Unlock()
	c.dialing = nil
	if err == nil && c.closed {
		ws.CloseNow()
		err = tracker.ErrClosed
	}
	if err != nil {
		c.dialErr = fmt.Errorf("wstracker: dial %s: %w", c.url, err)
		c.log.Debug("dial failed", "err", err)
		c.scheduleRedialLocked()
		return
	}
	c.log.Debug("connected", "took", time.Since(start))
	c.ws, c.dialErr = ws, nil
	c.gen++
	gen := c.gen
	c.wg.Go(func() { c.read(ws, gen) })
	if c.connected && len(c.torrents) > 0 {
		reqs := make([]tracker.AnnounceRequest, 0, len(c.torrents))
		for _, t := range c.torrents {
			req := t.req
			req.Event = tracker.EventNone
			if t.req.Event == tracker.EventStarted {
				req.Event = tracker.EventStarted // the tracker forgot us: start again
			}
			reqs = append(reqs, req)
		}
		c.wg.Go(func() { c.reannounce(reqs) })
	}
	c.connected = true
}

// reannounce announces the active torrents again on a new socket: the
// tracker dropped them when the old one closed.
func (c *Client) reannounce(reqs []tracker.AnnounceRequest) {
	for _, req := range reqs {
		ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
		_, _, _, err := c.announce(ctx, req, announceAgain)
		cancel()
		if err != nil {
			c.log.Debug("re-announce failed", "info_hash", req.InfoHash, "err", err)
			return
		}
	}
}

// scheduleRedialLocked plans a redial after a drop or failed dial, with
// exponential backoff and jitter, while torrents are active.
func (c *Client) scheduleRedialLocked() {
	if c.closed || len(c.torrents) == 0 || c.redial != nil {
		return
	}
	d := c.cfg.ReconnectDelay << min(c.failures, 20)
	d = min(d, maxReconnectDelay)
	d = d/2 + rand.N(d) // ±50%
	c.failures++
	c.log.Debug("redial scheduled", "in", d)
	c.redial = time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.redial = nil
		if c.closed || c.ws != nil || len(c.torrents) == 0 {
			return
		}
		c.startDialLocked()
	})
}

// read receives the socket's messages until it fails.
func (c *Client) read(ws wsConn, gen uint64) {
	for {
		data, err := ws.Read(c.ctx)
		if err != nil {
			c.drop(ws, gen, err)
			return
		}
		m, err := parseMessage(data)
		if err != nil {
			c.log.Debug("ignoring malformed message", "bytes", len(data))
			continue
		}
		c.mu.Lock()
		c.failures = 0 // the tracker speaks: the socket is healthy
		c.mu.Unlock()
		c.dispatch(m)
	}
}

// drop forgets a socket that failed: its requests fail with
// ErrDisconnected, and a redial is planned.
func (c *Client) drop(ws wsConn, gen uint64, err error) {
	ws.CloseNow()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.ws != ws {
		return
	}
	c.ws = nil
	if !c.closed {
		c.log.Debug("connection lost", "err", err)
	}
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if w.gen == gen {
			w.ch <- result{err: fmt.Errorf("%w: %w", ErrDisconnected, err)}
			continue
		}
		keep = append(keep, w)
	}
	clear(c.waiters[len(keep):])
	c.waiters = keep
	c.scheduleRedialLocked()
}

// write sends one message on the socket of generation gen. A failed write
// drops the socket.
func (c *Client) write(ctx context.Context, ws wsConn, gen uint64, data []byte) error {
	err := ws.Write(ctx, data)
	if err != nil {
		if ctx.Err() == nil {
			c.drop(ws, gen, err)
		}
		if c.ctx.Err() != nil {
			return tracker.ErrClosed
		}
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return nil
}

// dispatch handles one message from the tracker.
func (c *Client) dispatch(m *message) {
	switch {
	case m.action == "announce" && m.offer != "":
		c.onOffer(m)
	case m.action == "announce" && m.answer != "":
		c.onAnswer(m)
	case m.action == "announce" && m.hasHash:
		c.respond(m, func(w *waiter) bool { return !w.scrape && w.infoHash == m.infoHash })
	case m.action == "scrape":
		c.respond(m, func(w *waiter) bool { return w.scrape })
	case m.action == "" && m.failure != "":
		// bittorrent-tracker's reply to a request it could not parse names
		// no torrent: it answers the oldest request.
		c.respond(m, func(*waiter) bool { return true })
	case m.action == "announce" && m.failure != "":
		c.respond(m, func(w *waiter) bool { return !w.scrape })
	default:
		c.log.Debug("ignoring message", "action", m.action)
	}
}

// respond hands m to the oldest waiter that match accepts.
func (c *Client) respond(m *message, match func(*waiter) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.action == "announce" && m.hasHash && m.trackerID != "" {
		if t := c.torrents[m.infoHash]; t != nil {
			t.trackerID = m.trackerID
		}
	}
	for i, w := range c.waiters {
		if match(w) {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			w.ch <- result{msg: m}
			return
		}
	}
	if m.failure != "" {
		c.log.Debug("tracker failure", "reason", m.failure)
	}
}

// onOffer answers an offer the tracker relayed from another peer of a
// torrent we announced.
func (c *Client) onOffer(m *message) {
	if !m.hasHash || !m.hasPeer || !m.hasOffer {
		return
	}
	c.mu.Lock()
	t := c.torrents[m.infoHash]
	if t == nil || t.req.PeerID == m.peerID || c.answering >= maxAnswering || c.closed {
		c.mu.Unlock()
		c.log.Debug("offer not answered", "info_hash", m.infoHash, "busy", c.answering >= maxAnswering)
		return
	}
	c.answering++
	ourID, trackerID := t.req.PeerID, t.trackerID
	// Started under the lock, after the closed check, so that Close's
	// Wait cannot begin first.
	c.wg.Go(func() {
		defer func() {
			c.mu.Lock()
			c.answering--
			c.mu.Unlock()
		}()
		c.answer(m, ourID, trackerID)
	})
	c.mu.Unlock()
}

func (c *Client) answer(m *message, ourID [20]byte, trackerID string) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout)
	defer cancel()
	a, err := webrtc.NewAnswer(ctx, c.cfg.WebRTC, m.offer)
	if err != nil {
		c.log.Debug("cannot answer offer", "err", err)
		return
	}
	data := (&answerJSON{
		Action:    "announce",
		InfoHash:  id20(m.infoHash),
		PeerID:    ourID,
		ToPeerID:  m.peerID,
		Answer:    sdpJSON{Type: "answer", SDP: a.SDP()},
		OfferID:   m.offerID,
		TrackerID: trackerID,
	}).appendTo(nil)
	ws, gen, err := c.connect(ctx)
	if err == nil {
		wctx, wcancel := context.WithTimeout(ctx, writeTimeout)
		err = c.write(wctx, ws, gen, data)
		wcancel()
	}
	if err != nil {
		a.Close()
		c.log.Debug("cannot send answer", "err", err)
		return
	}
	conn, err := a.Wait(ctx)
	if err != nil {
		c.log.Debug("answered peer did not connect", "peer_id", fmt.Sprintf("%x", m.peerID), "err", err)
		return
	}
	c.deliver(m, conn)
}

// onAnswer completes one of our offers with the answer relayed to it.
func (c *Client) onAnswer(m *message) {
	if !m.hasHash || !m.hasPeer || !m.hasOffer {
		return
	}
	c.mu.Lock()
	po := c.offers[m.offerID]
	t := c.torrents[m.infoHash]
	if po == nil || po.infoHash != m.infoHash || (t != nil && t.req.PeerID == m.peerID) || c.closed {
		c.mu.Unlock()
		c.log.Debug("ignoring answer to an unknown offer")
		return
	}
	po.timer.Stop()
	delete(c.offers, m.offerID)
	defer c.mu.Unlock()
	c.wg.Go(func() {
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout)
		defer cancel()
		conn, err := po.offer.Accept(ctx, m.answer)
		if err != nil {
			c.log.Debug("offer answered but no connection", "peer_id", fmt.Sprintf("%x", m.peerID), "err", err)
			return
		}
		c.deliver(m, conn)
	})
}

// deliver hands an open connection to OnConn, or closes it.
func (c *Client) deliver(m *message, conn *webrtc.Conn) {
	c.log.Debug("peer connected", "info_hash", m.infoHash, "peer_id", fmt.Sprintf("%x", m.peerID),
		"remote", conn.RemoteAddr(), "outbound", conn.Outbound())
	if c.cfg.OnConn == nil || c.ctx.Err() != nil {
		conn.Close()
		return
	}
	var tc transport.Conn = conn
	c.cfg.OnConn(m.infoHash, m.peerID, tc)
}
