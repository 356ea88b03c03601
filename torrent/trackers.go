package torrent

import (
	"context"
	"net"
	"strconv"
	"time"

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
	// announceTimeout bounds one announce; stoppedTimeout the last one at
	// shutdown, which must not hold up Close for long.
	announceTimeout = 30 * time.Second
	stoppedTimeout  = 3 * time.Second
	// numWant is how many peers we ask a tracker for (the usual 50).
	numWant = 50
)

// startTrackers announces to every tracker URL, each on its own goroutine,
// as WebTorrent does: announcing to all tiers at once finds peers fastest.
func (t *Torrent) startTrackers() {
	if t.c.cfg.Tracker == nil {
		return
	}
	seen := map[string]bool{}
	for _, tier := range t.spec.trackers {
		for _, u := range tier {
			if seen[u] {
				continue
			}
			seen[u] = true
			cl, err := t.c.cfg.Tracker(u)
			if err != nil {
				t.c.cfg.Logger.Info("tracker not used", "url", u, "err", err)
				continue
			}
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

func (t *Torrent) announceLoop(url string, cl tracker.Client, wake <-chan struct{}) {
	defer t.wg.Done()
	ev := tracker.EventStarted
	retry := firstRetry
	completedSent := t.Complete()
	for {
		ctx, cancel := context.WithTimeout(t.ctx, announceTimeout)
		resp, err := cl.Announce(ctx, t.announceRequest(ev))
		cancel()
		wait := retry
		if err != nil {
			if t.ctx.Err() != nil {
				break
			}
			t.c.cfg.Logger.Info("announce failed", "url", url, "err", err)
			retry = min(retry*2, maxRetry)
		} else {
			ev, retry = tracker.EventNone, firstRetry
			wait = min(max(resp.Interval, minAnnounceInterval), maxAnnounceInterval)
			addrs := make([]string, 0, len(resp.Peers))
			for _, ap := range resp.Peers {
				addrs = append(addrs, net.JoinHostPort(ap.Addr().String(), strconv.Itoa(int(ap.Port()))))
			}
			if len(addrs) > 0 {
				t.send(evPeers{addrs: addrs})
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-t.ctx.Done():
			timer.Stop()
		case <-timer.C:
		case <-wake:
			timer.Stop()
		}
		if t.ctx.Err() != nil {
			break
		}
		if !completedSent && t.Complete() {
			ev, completedSent = tracker.EventCompleted, true
		}
	}
	if ev == tracker.EventStarted {
		return // never reached the tracker: nothing to stop
	}
	ctx, cancel := context.WithTimeout(context.Background(), stoppedTimeout)
	defer cancel()
	cl.Announce(ctx, t.announceRequest(tracker.EventStopped))
}
