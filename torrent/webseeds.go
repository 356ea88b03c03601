package torrent

import (
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/internal/picker"
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
// connected). That moment runs from the trackers' first answer when it told
// of others: a WebRTC peer it told of is connected a second or two later
// (offers, answers, ICE), and a viewer that came after the first would
// otherwise ask the origin for its whole readahead just before the first,
// which has it, is there. Others told of later, once we are under way, do
// not hold the origin back again.
func (t *Torrent) updateOriginHold(now time.Time) {
	asking := len(t.announceWakes) > 0 && (!t.trackerAnswered.Load() || t.othersTold.Load())
	swarm := asking || t.cands.len() > 0 || len(t.peers) > t.webSeedPeers
	from := t.originFrom
	if at := t.othersFirstAt.Load(); at != 0 {
		from = later(from, time.Unix(0, at))
	}
	t.originPeerHeld = now.Before(t.originHoldUntil)
	t.originStartHeld = swarm && now.Before(from.Add(originGrace))
}

// leaderFresh is how recently a peer ahead of us must have announced a
// piece we want for the origin to wait for it (updateOriginFollows).
const leaderFresh = 2 * time.Second

// updateOriginFollows says whether a peer ahead of us is fetching what we
// want (mayLead), one with more pieces than we have, or as many when we were
// following already: a follower that caught up keeps following. Pieces no
// peer has and no reader waits on are then left to that peer: among viewers
// that came at different times the first fetches from the origin and the
// others take each piece from it as it comes, instead of each asking the
// origin for the same bytes. A leader sees a follower with fewer pieces than
// it has (a have is not sent to a peer that has the piece), so it leads on.
// A leader that stops getting pieces is not waited for after leaderFresh.
func (t *Torrent) updateOriginFollows(now time.Time) {
	was := t.originLeader
	t.originLeader = nil
	if t.webSeedPeers == 0 || t.info == nil {
		return
	}
	ours := t.have.Count()
	for p := range t.peers {
		if p.closed || !t.mayLead(p, now) {
			continue
		}
		n := p.has.Count()
		if n > ours || (n == ours && was != nil) {
			t.originLeader = p
			break
		}
	}
	if was != t.originLeader {
		t.logLeader("tick", ours)
	}
}

// logLeader logs a change of the peer the origin waits for.
func (t *Torrent) logLeader(why string, ours int) {
	if l := t.originLeader; l != nil {
		t.c.cfg.Logger.Debug("origin: following a peer ahead of us", "torrent", t.Name(), "peer", l.addr, "its", l.has.Count(), "ours", ours, "on", why)
	} else {
		t.c.cfg.Logger.Debug("origin: no peer ahead of us to follow", "torrent", t.Name(), "ours", ours)
	}
}

// leaderBrings reports whether the peer we follow (updateOriginFollows) is
// likely to get piece i soon, for a piece no peer has: any piece no reader
// waits on, and a piece of a reader's window (beyond originNear) when the
// leader has the piece at that reader's position, that is, has been through
// this part of the file. After a seek to where the leader has not been,
// the origin serves the reader's window.
func (t *Torrent) leaderBrings(i int, pr picker.Priority) bool {
	l := t.originLeader
	if l == nil || l.closed {
		return false
	}
	if pr < picker.Readahead {
		return true
	}
	for _, w := range t.readers {
		if i >= w.first && i < w.end && l.has.Get(w.first) {
			return true
		}
	}
	return false
}

// mayLead reports whether p can be the peer the origin waits for: it serves
// us, or chokes us only while we want nothing of it (a follower that caught
// up is not interested until the leader's next piece) or for the moment a
// new peer is given to unchoke us (originGrace: a busy browser tab answers
// late), and it announced a piece we want within leaderFresh.
func (t *Torrent) mayLead(p *peer, now time.Time) bool {
	serves := !p.peerChoking || !p.amInterested || now.Sub(p.connectedAt) < originGrace
	return !p.webSeed && serves && now.Sub(p.lastWantedHave) <= leaderFresh
}

// followOnHave starts following p (updateOriginFollows) as soon as it announces
// a piece that puts it ahead of us, not at the next tick: a newcomer that
// took everything p had within its first second would otherwise meet p at
// a tie, and lead.
func (t *Torrent) followOnHave(p *peer) {
	if t.originLeader != nil || t.webSeedPeers == 0 || !t.mayLead(p, p.lastWantedHave) {
		return
	}
	if ours := t.have.Count(); p.has.Count() > ours {
		t.originLeader = p
		t.logLeader("have", ours)
		t.withdrawFromOrigins(-1)
	}
}

// holdOriginForOthers starts the origin's hold again when the trackers'
// first answer tells of other peers (updateOriginHold), taking back from
// the web seeds what the hold covers. Owner goroutine.
func (t *Torrent) holdOriginForOthers() {
	t.updateOriginHold(time.Now())
	if t.originStartHeld && t.info != nil {
		t.withdrawFromOrigins(-1)
	}
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
