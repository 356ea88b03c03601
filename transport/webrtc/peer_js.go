//go:build js

package webrtc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall/js"

	"github.com/swarmcast/swarmcast/internal/jspromise"
)

// In the browser the engine runs in a dedicated Web Worker, which has no
// RTCPeerConnection. The page keeps the peer connections and hands each data
// channel to the worker when it is created (createDataChannel, or the
// datachannel event): the only moments Chromium lets a channel be
// transferred. The worker's JavaScript (web/client/worker.js) offers this
// package a bridge object, globalThis.swarmcastRTC, whose methods forward to
// the page and return promises:
//
//	offer(gatherMs)          -> {id, sdp}     a new pc with one data channel
//	answer(offerSDP, gatherMs) -> {id, sdp}   a new pc answering a remote offer
//	accept(id, answerSDP)    -> undefined     applies the answer to an offer
//	channel(id)              -> RTCDataChannel, once transferred to the worker
//	failed(id)               -> resolves when the pc fails or closes
//	close(id)                                 closes the pc on the page
//
// Each promise settles: the page bounds gathering by gatherMs and rejects
// channel(id) when the pc ends without one.

// bridgeName is the global the worker's JavaScript defines.
const bridgeName = "swarmcastRTC"

// errNoBridge is returned where no bridge was set up: a page that runs the
// wasm on its own thread, or Node.
var errNoBridge = errors.New("webrtc: no " + bridgeName + " bridge in this JavaScript environment (the engine must run in swarmcast.js's worker)")

func bridge() (js.Value, error) {
	b := js.Global().Get(bridgeName)
	if b.IsUndefined() || b.IsNull() {
		return js.Value{}, errNoBridge
	}
	return b, nil
}

// Offer is the offering side of a connection: a peer connection with one
// data channel whose SDP, candidates included, waits for an answer.
type Offer struct {
	p        *peer
	sdp      string
	mu       sync.Mutex
	accepted bool
}

// NewOffer asks the page for a peer connection with one data channel and
// waits for its ICE gathering; ctx bounds the wait.
func NewOffer(ctx context.Context, cfg Config) (*Offer, error) {
	b, err := bridge()
	if err != nil {
		return nil, err
	}
	res, err := jspromise.Await(ctx, b.Call("offer", cfg.gatherTimeout().Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("webrtc: create offer: %w", err)
	}
	p := newPeer(b, res.Get("id"), true)
	if ctx.Err() != nil {
		p.close()
		return nil, ctx.Err()
	}
	return &Offer{p: p, sdp: filterTrickle(res.Get("sdp").String())}, nil
}

// SDP returns the offer's session description.
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
	if _, err := jspromise.Await(ctx, o.p.b.Call("accept", o.p.id, answerSDP)); err != nil {
		o.p.close()
		return nil, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	return o.p.wait(ctx)
}

// Close releases an offer that was not answered, or whose Accept failed.
func (o *Offer) Close() error {
	o.p.close()
	return nil
}

// Answer is the answering side of a connection.
type Answer struct {
	p   *peer
	sdp string
}

// NewAnswer asks the page for a peer connection answering offerSDP and
// waits for its ICE gathering; ctx bounds the wait.
func NewAnswer(ctx context.Context, cfg Config, offerSDP string) (*Answer, error) {
	b, err := bridge()
	if err != nil {
		return nil, err
	}
	res, err := jspromise.Await(ctx, b.Call("answer", offerSDP, cfg.gatherTimeout().Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSDP, err)
	}
	p := newPeer(b, res.Get("id"), false)
	if ctx.Err() != nil {
		p.close()
		return nil, ctx.Err()
	}
	return &Answer{p: p, sdp: filterTrickle(res.Get("sdp").String())}, nil
}

// SDP returns the answer's session description.
func (a *Answer) SDP() string { return a.sdp }

// Wait waits, bounded by ctx, for the offerer's data channel to open. On
// error the answer is closed.
func (a *Answer) Wait(ctx context.Context) (*Conn, error) { return a.p.wait(ctx) }

// Close releases an answer whose channel never opened.
func (a *Answer) Close() error {
	a.p.close()
	return nil
}

// peer is a page-side peer connection, known to the worker by its id.
type peer struct {
	b        js.Value
	id       js.Value
	outbound bool

	mu        sync.Mutex
	closed    bool
	handedOut bool
}

func newPeer(b, id js.Value, outbound bool) *peer {
	return &peer{b: b, id: id, outbound: outbound}
}

// wait waits for the data channel to reach the worker and open. On error
// the peer is closed.
func (p *peer) wait(ctx context.Context) (*Conn, error) {
	failed := make(chan struct{})
	var once sync.Once
	jspromise.Then(p.b.Call("failed", p.id), func(js.Value, error) { once.Do(func() { close(failed) }) })
	dcv, err := jspromise.AwaitOr(ctx, p.b.Call("channel", p.id), failed, errPeerFailed)
	if err != nil {
		p.close()
		if errors.Is(err, errPeerFailed) {
			return nil, ErrFailed
		}
		return nil, err
	}
	c := newConn(p, dcv)
	select {
	case <-c.opened:
	case <-c.done:
		p.close()
		return nil, ErrFailed
	case <-failed:
		c.Close()
		return nil, ErrFailed
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		c.Close()
		return nil, ErrClosed
	}
	p.handedOut = true
	p.mu.Unlock()
	// A pc that fails later closes the Conn, which unblocks its Read and
	// Write.
	go func() {
		select {
		case <-failed:
			c.Close()
		case <-c.done:
		}
	}()
	return c, nil
}

// close closes the page's peer connection unless its Conn was handed out;
// the Conn closes it then.
func (p *peer) close() {
	p.mu.Lock()
	if p.closed || p.handedOut {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.closePC()
}

func (p *peer) closePC() { p.b.Call("close", p.id) }

// remote names a browser peer. The page knows the candidate pair, the
// worker does not; a name per connection keeps a ban on one peer from
// falling on every WebRTC peer.
func (p *peer) remote() string { return "webrtc#" + strconv.Itoa(p.id.Int()) }

var errPeerFailed = errors.New("peer connection failed")
