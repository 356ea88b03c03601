package torrent

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcast/swarmcast/internal/hostport"
	"github.com/swarmcast/swarmcast/tracker"
)

// Announce timing. Trackers set the interval; these bound what we accept
// and how we retry.
const (
	minAnnounceInterval = 30 * time.Second
	maxAnnounceInterval = 30 * time.Minute
	// firstRetry is the wait after a failed announce, doubled up to
	// maxRetry: a tracker that is down should not be hammered.
	firstRetry = 15 * time.Second
	maxRetry   = 10 * time.Minute
	// lonelyRetry is the first wait before announcing again while we lack
	// data and have no peer, doubled up to the tracker's interval: a
	// WebRTC handshake that failed through a WebSocket tracker (offers
	// that found nobody, a path that did not open) is tried again in
	// seconds, not at the next interval (two minutes or more).
	lonelyRetry = 15 * time.Second
	// announceTimeout bounds one announce; stoppedTimeout the last one at
	// shutdown, which must not hold up Close for long.
	announceTimeout = 30 * time.Second
	stoppedTimeout  = 3 * time.Second
	// numWant is how many peers we ask a tracker for (the usual 50).
	numWant = 50
	// maxAnnouncers bounds the trackers a torrent announces to at once
	// (each has a goroutine and a connection): a .torrent or magnet may
	// name thousands. The rest are not used, and the log says so. With
	// Config.TrackerTiers one announcer goes through any number.
	maxAnnouncers = 64
)

// TrackerInfo is what a torrent knows of one of its trackers, as
// Torrent.Trackers reports it.
type TrackerInfo struct {
	URL  string `json:"url"`
	Tier int    `json:"tier"`
	// Used: an announcer is assigned to it (false for a scheme this client
	// cannot speak, or one past maxAnnouncers).
	Used bool `json:"used"`
	// Announces and Failures count the announces it answered and those
	// that failed (an error, a timeout or a failure reason).
	Announces int `json:"announces"`
	Failures  int `json:"failures"`
	// LastAnnounce is when the last announce ended; LastError why it
	// failed, empty when it succeeded.
	LastAnnounce time.Time `json:"lastAnnounce"`
	LastError    string    `json:"lastError,omitempty"`
	// LastPeers, Seeders and Leechers are from its last answer (-1:
	// never answered, or it does not count).
	LastPeers int `json:"lastPeers"`
	Seeders   int `json:"seeders"`
	Leechers  int `json:"leechers"`
	// NextAnnounce is when the announcer means to announce again (zero
	// while it announces, or when the torrent is stopped).
	NextAnnounce time.Time `json:"nextAnnounce"`
}

// Trackers returns the torrent's trackers in tier order with their last
// announce results. Safe from any goroutine.
func (t *Torrent) Trackers() []TrackerInfo {
	var out []TrackerInfo
	seen := map[string]bool{}
	t.trackerMu.Lock()
	defer t.trackerMu.Unlock()
	for tier, urls := range t.spec.trackers {
		for _, u := range urls {
			if seen[u] {
				continue
			}
			seen[u] = true
			if ti := t.trackerInfo[u]; ti != nil {
				out = append(out, *ti)
			} else {
				out = append(out, TrackerInfo{URL: u, Tier: tier, LastPeers: -1, Seeders: -1, Leechers: -1})
			}
		}
	}
	return out
}

// trackerUsed records that an announcer serves u.
func (t *Torrent) trackerUsed(u string, tier int) {
	t.trackerMu.Lock()
	defer t.trackerMu.Unlock()
	if t.trackerInfo == nil {
		t.trackerInfo = map[string]*TrackerInfo{}
	}
	if t.trackerInfo[u] == nil {
		t.trackerInfo[u] = &TrackerInfo{URL: u, Tier: tier, Used: true, LastPeers: -1, Seeders: -1, Leechers: -1}
	}
}

// specTier is the tier the torrent's announce list puts u in.
func (t *Torrent) specTier(u string) int {
	for tier, urls := range t.spec.trackers {
		if slices.Contains(urls, u) {
			return tier
		}
	}
	return 0
}

// trackerResult records the end of an announce to u (the map has one entry
// per URL an announcer serves, set before it started).
func (t *Torrent) trackerResult(u string, resp *tracker.AnnounceResponse, err error) {
	t.trackerMu.Lock()
	defer t.trackerMu.Unlock()
	ti := t.trackerInfo[u]
	if ti == nil {
		return
	}
	ti.LastAnnounce, ti.NextAnnounce = time.Now(), time.Time{}
	if err != nil {
		ti.Failures++
		ti.LastError = err.Error()
		return
	}
	ti.Announces++
	ti.LastError = ""
	ti.LastPeers, ti.Seeders, ti.Leechers = len(resp.Peers), int(resp.Seeders), int(resp.Leechers)
	// A tracker counts the announcing peer among its leechers (or seeders,
	// once complete); a count it did not give (-1) may hide others.
	others := len(resp.Peers) > 0 || resp.Seeders != 0 || resp.Leechers < 0 || resp.Leechers > 1
	if others {
		t.othersTold.Store(true)
	}
	if !t.trackerAnswered.Swap(true) {
		// Once per torrent, at the first answer: alone so far, the origin
		// need not wait for the rest of the start's grace; others there,
		// it waits from now for them to connect.
		if others {
			t.othersFirstAt.Store(time.Now().UnixNano())
			go t.do(t.holdOriginForOthers)
		} else if !t.othersTold.Load() {
			go t.do(t.releaseOrigin)
		}
	}
}

// trackerNext records when the announcer of u means to announce next.
func (t *Torrent) trackerNext(u string, at time.Time) {
	t.trackerMu.Lock()
	defer t.trackerMu.Unlock()
	if ti := t.trackerInfo[u]; ti != nil {
		ti.NextAnnounce = at
	}
}

// startTrackers starts the announcers. By default every tracker URL gets
// its own, as WebTorrent and qBittorrent do: announcing to all tiers at once
// finds peers fastest. With Config.TrackerTiers one announcer works through
// the tiers as BEP 12 says.
func (t *Torrent) startTrackers() {
	if t.c.cfg.Tracker == nil || len(t.spec.trackers) == 0 {
		return
	}
	if t.c.cfg.TrackerTiers {
		wake := make(chan struct{}, 1)
		t.announceWakes = append(t.announceWakes, wake)
		t.wg.Add(1)
		go t.tierLoop(tracker.NewTiers(t.spec.trackers), wake)
		return
	}
	seen := map[string]bool{}
	for tier, urls := range t.spec.trackers {
		for _, u := range urls {
			if seen[u] {
				continue
			}
			seen[u] = true
			if len(t.announceWakes) == maxAnnouncers {
				t.c.cfg.Logger.Info("tracker not used: the torrent has more than maxAnnouncers", "url", u, "max", maxAnnouncers)
				continue
			}
			cl, err := t.c.cfg.Tracker(u)
			if err != nil {
				t.c.cfg.Logger.Info("tracker not used", "url", u, "err", err)
				continue
			}
			t.trackerUsed(u, tier)
			wake := make(chan struct{}, 1)
			t.announceWakes = append(t.announceWakes, wake)
			t.wg.Add(1)
			go t.announceLoop(u, cl, wake)
		}
	}
}

// wakeAnnouncers makes every announcer announce now (completion, new info).
// Each has its own channel, so one wake reaches each exactly once.
func (t *Torrent) wakeAnnouncers() {
	for _, w := range t.announceWakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

func (t *Torrent) announceRequest(ev tracker.Event) tracker.AnnounceRequest {
	left := t.bytesLeft.Load()
	if t.infoPtr.Load() == nil {
		left = 1 << 62 // unknown until the metadata arrives: not a seed
	}
	return tracker.AnnounceRequest{
		InfoHash: t.infoHash, PeerID: t.c.cfg.PeerID, Port: uint16(t.c.listenPort.Load()),
		Uploaded: t.bytesUp.Load(), Downloaded: t.bytesDown.Load(), Left: left,
		Event: ev, NumWant: numWant,
	}
}

// offersWanted is how many peers to ask the WebSocket tracker at u for,
// given its last count of the swarm (trackerResult keeps it): the usual
// numWant, but no more than the peers it holds besides us that we are not
// connected to over WebRTC, and none when that is all of them. Each peer
// asked for there is a WebRTC offer, and an offer that reaches a peer we
// are connected to makes a connection that is then dropped as a duplicate:
// in a browser, ~22 ms of page time to make the offer and an ICE and DTLS
// handshake on both sides, for nothing. A peer that joined since the count
// is not missed: its own announce carries offers, which the tracker relays
// to peers it holds, us among them in a swarm this small.
//
// Only WebRTC peers count: those over TCP, uTP or from the DHT are not the
// tracker's, and a hybrid client connected to many of them would
// otherwise ask a small WebSocket swarm for nothing.
func (t *Torrent) offersWanted(u string) int {
	seeders, leechers := -1, -1
	t.trackerMu.Lock()
	if ti := t.trackerInfo[u]; ti != nil {
		seeders, leechers = ti.Seeders, ti.Leechers
	}
	t.trackerMu.Unlock()
	if seeders < 0 || leechers < 0 {
		return numWant
	}
	others := seeders + leechers - 1 // the tracker counts us
	missing := others - int(t.webrtcPeers.Load())
	return max(0, min(missing, numWant))
}

func (t *Torrent) announceLoop(url string, cl tracker.Client, wake <-chan struct{}) {
	defer t.wg.Done()
	ev := tracker.EventStarted
	retry, lonely := firstRetry, lonelyRetry
	completedSent := t.Complete()
	ws := strings.HasPrefix(url, "ws://") || strings.HasPrefix(url, "wss://")
	for {
		if t.paused.Load() {
			// Stopped by the user or by an error (or added stopped): say
			// so if the tracker heard we started, and wait to be started
			// again.
			if ev != tracker.EventStarted {
				t.announceStopped(cl)
			}
			t.trackerNext(url, time.Time{})
			for t.paused.Load() {
				if !t.sleep(time.Hour, wake) {
					return
				}
			}
			ev, retry = tracker.EventStarted, firstRetry
		}
		req := t.announceRequest(ev)
		if ws {
			req.NumWant = t.offersWanted(url)
			req.NoPeers = req.NumWant == 0
		}
		ctx, cancel := context.WithTimeout(t.ctx, announceTimeout)
		resp, err := cl.Announce(ctx, req)
		cancel()
		t.trackerResult(url, &resp, err)
		wait := retry
		if err != nil {
			if t.ctx.Err() != nil {
				break
			}
			t.c.cfg.Logger.Info("announce failed", "url", url, "err", err)
			retry = min(retry*2, maxRetry)
		} else {
			ev, retry = tracker.EventNone, firstRetry
			wait = clampInterval(resp.Interval)
			t.deliverPeers(&resp)
			if t.swarmPeers.Load() == 0 && !t.Complete() && lonely < wait {
				wait, lonely = lonely, lonely*2
			} else {
				lonely = lonelyRetry
			}
		}
		t.trackerNext(url, time.Now().Add(wait))
		if !t.sleep(wait, wake) {
			break
		}
		if !completedSent && !t.paused.Load() && t.Complete() {
			ev, completedSent = tracker.EventCompleted, true
		}
	}
	if ev == tracker.EventStarted {
		return // never reached the tracker: nothing to stop
	}
	t.announceStopped(cl)
}

// tierLoop announces to one tracker at a time, as BEP 12 says: the tiers in
// order, each tier's trackers in shuffled order, the first that answers
// moved to the front of its tier so that it is asked first next time. A
// tracker is sent "started" the first time it is used, "completed" if it is
// in use when the download completes, and "stopped" at the end if it was
// ever told "started".
func (t *Torrent) tierLoop(tiers *tracker.Tiers, wake <-chan struct{}) {
	defer t.wg.Done()
	started := map[string]tracker.Client{}
	completedSent := t.Complete()
	retry := firstRetry
	for {
		if t.paused.Load() {
			for _, cl := range started {
				t.announceStopped(cl)
			}
			clear(started)
			for t.paused.Load() {
				if !t.sleep(time.Hour, wake) {
					return
				}
			}
		}
		completing := !completedSent && t.Complete()
		var interval time.Duration
		_, err := tiers.Try(t.ctx, func(ctx context.Context, u string) error {
			cl, err := t.c.cfg.Tracker(u)
			if err != nil {
				return err // a scheme this client cannot use: the next tracker
			}
			ev := tracker.EventNone
			if _, ok := started[u]; !ok {
				ev = tracker.EventStarted
			} else if completing {
				ev = tracker.EventCompleted
			}
			t.trackerUsed(u, t.specTier(u))
			actx, cancel := context.WithTimeout(ctx, announceTimeout)
			resp, err := cl.Announce(actx, t.announceRequest(ev))
			cancel()
			t.trackerResult(u, &resp, err)
			if err != nil {
				return err
			}
			started[u] = cl
			interval = resp.Interval
			t.deliverPeers(&resp)
			return nil
		})
		wait := retry
		if err != nil {
			if t.ctx.Err() != nil {
				break
			}
			t.c.cfg.Logger.Info("announce failed on every tracker", "err", err)
			retry = min(retry*2, maxRetry)
		} else {
			completedSent = completedSent || completing
			retry = firstRetry
			wait = clampInterval(interval)
		}
		if !t.sleep(wait, wake) {
			break
		}
	}
	for _, cl := range started {
		t.announceStopped(cl)
	}
}

func clampInterval(d time.Duration) time.Duration {
	return min(max(d, minAnnounceInterval), maxAnnounceInterval)
}

// deliverPeers hands a tracker's peers to the owner loop.
func (t *Torrent) deliverPeers(resp *tracker.AnnounceResponse) {
	addrs := make([]string, 0, len(resp.Peers))
	for _, ap := range resp.Peers {
		addrs = append(addrs, hostport.Join(ap.Addr().String(), strconv.Itoa(int(ap.Port()))))
	}
	if len(addrs) > 0 {
		t.send(evPeers{src: SourceTracker, addrs: addrs})
	}
}

// sleep waits d, or until woken; it reports false when the torrent closed.
func (t *Torrent) sleep(d time.Duration, wake <-chan struct{}) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.ctx.Done():
	case <-timer.C:
	case <-wake:
	}
	return t.ctx.Err() == nil
}

// announceStopped tells a tracker we leave, briefly: Close must not wait long.
func (t *Torrent) announceStopped(cl tracker.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), stoppedTimeout)
	defer cancel()
	cl.Announce(ctx, t.announceRequest(tracker.EventStopped))
}
