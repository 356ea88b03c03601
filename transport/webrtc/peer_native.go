//go:build !js

package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// Offer is the offering side of a connection: a peer connection with one
// data channel whose SDP, candidates included, waits for an answer.
type Offer struct {
	p        *peer
	sdp      string
	mu       sync.Mutex
	accepted bool
}

// NewOffer creates a peer connection with one ordered, reliable data
// channel and gathers its ICE candidates. ctx bounds the gathering. The
// offer holds sockets until Accept returns or Close is called.
func NewOffer(ctx context.Context, cfg Config) (*Offer, error) {
	p, err := newPeer(&cfg, true)
	if err != nil {
		return nil, err
	}
	// simple-peer names the channel with 20 random bytes in hex; the label
	// means nothing to WebTorrent, which takes whatever channel comes.
	dc, err := p.pc.CreateDataChannel(randomLabel(), nil)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("webrtc: create data channel: %w", err)
	}
	p.watch(dc)
	desc, err := p.pc.CreateOffer(nil)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("webrtc: create offer: %w", err)
	}
	sdp, err := p.gather(ctx, desc)
	if err != nil {
		p.close()
		return nil, err
	}
	return &Offer{p: p, sdp: sdp}, nil
}

// SDP returns the offer's session description (of type "offer"), with every
// ICE candidate in it.
func (o *Offer) SDP() string { return o.sdp }

// Accept applies the remote peer's answer and waits, bounded by ctx, for the
// data channel to open. It can be called once. On error the offer is closed.
func (o *Offer) Accept(ctx context.Context, answerSDP string) (*Conn, error) {
	o.mu.Lock()
	if o.accepted {
		o.mu.Unlock()
		return nil, fmt.Errorf("%w: offer already answered", ErrClosed)
	}
	o.accepted = true
	o.mu.Unlock()
	answerSDP = dropEchoedSCTPInit(o.sdp, answerSDP)
	err := o.p.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answerSDP})
	if err != nil {
		o.p.close()
		return nil, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	return o.p.wait(ctx)
}

// Close releases an offer that was not answered, or whose Accept failed.
// After a successful Accept the connection belongs to the Conn, and Close
// does nothing.
func (o *Offer) Close() error {
	o.p.close()
	return nil
}

// Answer is the answering side of a connection: a peer connection that took
// a remote offer and whose answer SDP, candidates included, is ready to be
// sent back.
type Answer struct {
	p   *peer
	sdp string
}

// NewAnswer creates a peer connection for a remote offer and gathers its ICE
// candidates; ctx bounds the gathering. Send SDP back to the offerer, then
// call Wait. The answer holds sockets until Wait returns or Close is called.
func NewAnswer(ctx context.Context, cfg Config, offerSDP string) (*Answer, error) {
	p, err := newPeer(&cfg, false)
	if err != nil {
		return nil, err
	}
	p.pc.OnDataChannel(p.watch)
	err = p.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offerSDP})
	if err != nil {
		p.close()
		return nil, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	desc, err := p.pc.CreateAnswer(nil)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("%w: create answer: %w", ErrBadSDP, err)
	}
	sdp, err := p.gather(ctx, desc)
	if err != nil {
		p.close()
		return nil, err
	}
	return &Answer{p: p, sdp: sdp}, nil
}

// SDP returns the answer's session description (of type "answer"), with
// every ICE candidate in it.
func (a *Answer) SDP() string { return a.sdp }

// Wait waits, bounded by ctx, for the offerer's data channel to open. On
// error the answer is closed.
func (a *Answer) Wait(ctx context.Context) (*Conn, error) { return a.p.wait(ctx) }

// Close releases an answer whose channel never opened. After a successful
// Wait the connection belongs to the Conn, and Close does nothing.
func (a *Answer) Close() error {
	a.p.close()
	return nil
}

// peer is what Offer and Answer share: the peer connection until its data
// channel opens and becomes a Conn.
type peer struct {
	pc       *pion.PeerConnection
	flushLog func() // logs what pion's logs left unreported; after the pc closes
	outbound bool
	log      *slog.Logger
	start    time.Time
	// gatherTimeout bounds ICE gathering (Config.GatherTimeout).
	gatherTimeout time.Duration

	opened chan *Conn    // receives the Conn when the channel opens; capacity 1
	failed chan struct{} // closed when ICE or DTLS fails or the pc closes

	mu        sync.Mutex
	conn      *Conn // the first data channel, from creation on
	closed    bool
	handedOut bool // wait returned conn: it is the caller's now
	failOnce  sync.Once
}

func newPeer(cfg *Config, outbound bool) (*peer, error) {
	conf := pion.Configuration{}
	if len(cfg.ICEServers) > 0 {
		conf.ICEServers = []pion.ICEServer{{URLs: cfg.ICEServers}}
	}
	api, flushLog := newAPI(cfg)
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return nil, fmt.Errorf("webrtc: new peer connection: %w", err)
	}
	p := &peer{
		pc:       pc,
		flushLog: flushLog,
		outbound: outbound,
		log:      cfg.logger(),
		start:    time.Now(),
		opened:   make(chan *Conn, 1),
		failed:   make(chan struct{}),
	}
	p.gatherTimeout = cfg.gatherTimeout()
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) {
		p.log.Debug("webrtc: connection state", "state", s.String(), "outbound", outbound)
		if s == pion.PeerConnectionStateFailed || s == pion.PeerConnectionStateClosed {
			p.fail()
		}
	})
	return p, nil
}

// watch takes the first data channel of the connection; pion calls it for
// the answerer, NewOffer for the offerer. Later channels are closed:
// WebTorrent opens exactly one.
func (p *peer) watch(dc *pion.DataChannel) {
	p.mu.Lock()
	if p.closed || p.conn != nil {
		p.mu.Unlock()
		dc.Close()
		return
	}
	c := newConn(p, dc)
	p.conn = c
	p.mu.Unlock()
	dc.OnOpen(func() {
		if err := c.open(); err != nil {
			p.log.Debug("webrtc: data channel unusable", "err", err)
			p.fail()
			return
		}
		p.log.Debug("webrtc: data channel open", "remote", c.remote, "outbound", p.outbound,
			"after", time.Since(p.start))
		p.opened <- c
	})
}

// gather sets the local description and waits for ICE gathering to end, then
// returns the local SDP with every candidate found.
func (p *peer) gather(ctx context.Context, desc pion.SessionDescription) (string, error) {
	done := pion.GatheringCompletePromise(p.pc)
	start := time.Now()
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("webrtc: set local description: %w", err)
	}
	timer := time.NewTimer(p.gatherTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		p.log.Debug("webrtc: ICE gathering timed out; sending the candidates found so far",
			"after", p.gatherTimeout)
	case <-p.failed:
		return "", ErrFailed
	case <-ctx.Done():
		return "", ctx.Err()
	}
	p.log.Debug("webrtc: ICE gathering done", "took", time.Since(start), "type", desc.Type.String())
	ld := p.pc.LocalDescription()
	if ld == nil {
		return "", fmt.Errorf("webrtc: no local description after gathering")
	}
	return filterTrickle(ld.SDP), nil
}

// wait returns the Conn once the data channel opens. On error the peer is
// closed.
func (p *peer) wait(ctx context.Context) (*Conn, error) {
	select {
	case c := <-p.opened:
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return nil, ErrClosed
		}
		p.handedOut = true
		p.mu.Unlock()
		return c, nil
	case <-p.failed:
		p.close()
		return nil, ErrFailed
	case <-ctx.Done():
		p.close()
		return nil, ctx.Err()
	}
}

// fail records that the connection is dead. A Conn already handed out is
// closed, which unblocks its Read and Write.
func (p *peer) fail() {
	p.failOnce.Do(func() { close(p.failed) })
	p.mu.Lock()
	c, handed := p.conn, p.handedOut
	p.mu.Unlock()
	if handed && c != nil {
		c.Close()
	}
}

// close releases the peer connection unless its Conn was handed out.
func (p *peer) close() {
	p.mu.Lock()
	if p.closed || p.handedOut {
		p.mu.Unlock()
		return
	}
	p.closed = true
	c := p.conn
	p.mu.Unlock()
	if c != nil {
		c.Close() // closes the peer connection too
		return
	}
	closePeerConnection(p.pc)
	p.flushLog()
}

// remoteAddr names the peer by the remote address of the selected ICE
// candidate pair ("192.0.2.7:50123"), or "webrtc" when there is none.
func remoteAddr(pc *pion.PeerConnection) string {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return "webrtc"
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Remote == nil {
		return "webrtc"
	}
	return net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port)))
}

func randomLabel() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
