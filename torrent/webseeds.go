package torrent

import (
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/transport"
)

// Web seed reconnection: a connection that ended soon after it began (the
// origin failed, or refused) is retried after a pause that doubles up to
// maxWebSeedRetry; one that served a while is retried after the first pause.
const (
	webSeedRetry    = 10 * time.Second
	maxWebSeedRetry = 10 * time.Minute
	// webSeedStable is how long a connection must last to reset the pause.
	webSeedStable = time.Minute
	// webSeedIdleCheck is how often a complete torrent checks whether it
	// wants data again (a new file selected), before reconnecting.
	webSeedIdleCheck = 30 * time.Second
)

// startWebSeeds starts one loop per web seed URL, once the info is known.
func (t *Torrent) startWebSeeds(info *metainfo.Info) {
	if t.c.cfg.WebSeed == nil {
		return
	}
	t.originFrom = time.Now()
	for _, u := range t.spec.webSeeds {
		t.wg.Add(1)
		go t.webSeedLoop(u, info)
	}
}

// originGrace is how long the origin waits for the swarm (peer.canRequest):
// from a torrent's start, and from when a peer that has pieces but has not
// unchoked us yet connected. Peers unchoke within a round trip or two of our
// interest; one that has not by then is not counted on.
const originGrace = 2 * time.Second

// holdOrigin keeps the origin to readers' pieces until at least until.
func (t *Torrent) holdOrigin(until time.Time) {
	if until.After(t.originHoldUntil) {
		t.originHoldUntil = until
	}
	t.updateOriginHold(time.Now())
}

// updateOriginHold says whether the origin waits for the swarm now: for a
// moment after a peer with pieces connected (holdOrigin), and for the first
// moment of the torrent's data when peers are on their way (trackers not
// yet answered, or that told of other peers; addresses to dial; peers
// connected).
func (t *Torrent) updateOriginHold(now time.Time) {
	asking := len(t.announceWakes) > 0 && (!t.trackerAnswered.Load() || t.othersTold.Load())
	swarm := asking || t.cands.len() > 0 || len(t.peers) > t.webSeedPeers
	t.originPeerHeld = now.Before(t.originHoldUntil)
	t.originStartHeld = swarm && now.Before(t.originFrom.Add(originGrace))
}

// releaseOrigin looks again at the origin's hold and tops up the web
// seeds' requests, when a tracker said we are alone. Owner goroutine.
func (t *Torrent) releaseOrigin() {
	t.updateOriginHold(time.Now())
	if t.originStartHeld {
		return
	}
	for p := range t.peers {
		if p.webSeed {
			t.fillRequests(p)
		}
	}
}

// originNear is how far past a reader's position the origin is asked at
// once for pieces no peer brings: what a player needs in the next moment.
// The rest of a reader's window waits for the swarm as any piece does
// (peer.canRequest), so that viewers who start together do not each fetch
// their whole readahead from the origin while their peers connect.
const originNear = 256 << 10

// nearReader reports whether piece i is within originNear of a reader's
// position.
func (t *Torrent) nearReader(i int) bool {
	pl := t.info.PieceLength
	k := int((originNear + pl - 1) / pl)
	for _, w := range t.readers {
		if i >= w.first && i < w.first+k {
			return true
		}
	}
	return false
}

// waitForPeer holds the origin for a moment when p, just connected, has
// pieces and has not unchoked us yet.
func (t *Torrent) waitForPeer(p *peer) {
	if !p.webSeed && p.peerChoking && t.webSeedPeers > 0 {
		t.holdOrigin(p.connectedAt.Add(originGrace))
	}
}

// webSeedLoop keeps a connection to one web seed while the torrent wants
// data. The engine treats it as a peer that has every piece; which pieces
// it is asked for is peer.canRequest's rule.
func (t *Torrent) webSeedLoop(url string, info *metainfo.Info) {
	defer t.wg.Done()
	pause := webSeedRetry
	for t.ctx.Err() == nil {
		if t.Complete() {
			if !t.sleep(webSeedIdleCheck, nil) {
				return
			}
			continue
		}
		conn, err := t.c.cfg.WebSeed(url, t.infoHash, info)
		if err != nil {
			t.do(func() { t.setNotice("webseed "+url, "web seed not used: "+err.Error()) })
			return
		}
		w := &watchedConn{Conn: conn, done: make(chan struct{})}
		began := time.Now()
		if err := t.AddConn(w); err != nil {
			t.c.cfg.Logger.Debug("web seed connection refused", "torrent", t.Name(), "url", url, "err", err)
		} else {
			select {
			case <-w.done:
			case <-t.ctx.Done():
				return
			}
		}
		if time.Since(began) >= webSeedStable {
			pause = webSeedRetry
		} else {
			pause = min(pause*2, maxWebSeedRetry)
		}
		if !t.sleep(pause, nil) {
			return
		}
	}
}

// watchedConn reports its Close on done.
type watchedConn struct {
	transport.Conn
	once sync.Once
	done chan struct{}
}

func (w *watchedConn) Close() error {
	w.once.Do(func() { close(w.done) })
	return w.Conn.Close()
}
