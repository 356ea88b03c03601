package tcp

import (
	"container/list"
	"sync"
	"time"
)

// Bounds of what a Dialer remembers about peers without MSE.
const (
	// plainPeersMax bounds the addresses remembered: 4,096 entries of ~100
	// bytes. The oldest is forgotten to make room; forgetting one costs a
	// single refused handshake later.
	plainPeersMax = 4096
	// plainPeersTTL is how long an address is dialled plain after it
	// refused MSE, as a client may be upgraded or reconfigured.
	plainPeersTTL = time.Hour
)

// plainPeers remembers addresses that hung up on an MSE handshake, so that
// with mse.Prefer they are dialled plain at once next time instead of after
// a refused handshake (libtorrent keeps the same, per peer).
type plainPeers struct {
	mu    sync.Mutex
	order *list.List // of *plainPeer, oldest first
	byKey map[string]*list.Element
}

type plainPeer struct {
	addr string
	at   time.Time
}

func newPlainPeers() *plainPeers {
	return &plainPeers{order: list.New(), byKey: map[string]*list.Element{}}
}

// add remembers addr as refusing MSE.
func (p *plainPeers) add(addr string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.byKey[addr]; ok {
		p.order.Remove(e)
	}
	for p.order.Len() >= plainPeersMax {
		oldest := p.order.Front()
		delete(p.byKey, oldest.Value.(*plainPeer).addr)
		p.order.Remove(oldest)
	}
	p.byKey[addr] = p.order.PushBack(&plainPeer{addr, now})
}

// has reports whether addr refused MSE within plainPeersTTL.
func (p *plainPeers) has(addr string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.byKey[addr]
	if !ok {
		return false
	}
	if now.Sub(e.Value.(*plainPeer).at) >= plainPeersTTL {
		delete(p.byKey, addr)
		p.order.Remove(e)
		return false
	}
	return true
}

func (p *plainPeers) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.order.Len()
}
