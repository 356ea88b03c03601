package dht

import (
	"context"
	"net/netip"
	"time"

	adht "github.com/anacrolix/dht/v2"

	"github.com/swarmcast/swarmcast/metainfo"
)

// lookupState is what the lookup loop knows of one torrent.
type lookupState struct {
	next      time.Time // when to look it up again
	running   bool
	announce  bool // whether Torrents last said to announce it
	lookups   int  // lookups done
	announced bool // whether the last lookup started announced it
}

// lookupDone reports the end of one lookup to the loop.
type lookupDone struct {
	ih    metainfo.Hash
	found int
}

// lookupLoop reads the torrents every Poll and runs their lookups: a new
// torrent at once, then after 2 s, 4 s, 8 s, ... up to every Interval. A
// torrent that starts being announced (its info arrived) is looked up at
// once. At most maxConcurrentLookups run together.
func (n *Node) lookupLoop() {
	defer n.wg.Done()
	if n.cfg.Torrents == nil {
		return
	}
	// Lookups wait for the bootstrap nodes' answers: before them a walk
	// has nowhere to start and would only count as a failure.
	select {
	case <-n.bootPinged:
	case <-n.ctx.Done():
		return
	}
	states := map[metainfo.Hash]*lookupState{}
	done := make(chan lookupDone)
	running := 0
	tick := time.NewTicker(n.cfg.Poll)
	defer tick.Stop()
	for {
		now := time.Now()
		list := n.cfg.Torrents()
		seen := make(map[metainfo.Hash]bool, len(list))
		for _, t := range list {
			seen[t.InfoHash] = true
			st := states[t.InfoHash]
			if st == nil {
				st = &lookupState{next: now}
				states[t.InfoHash] = st
			}
			if t.Announce && !st.announced && !st.running {
				st.next = now
			}
			st.announce = t.Announce
		}
		for ih, st := range states {
			if !seen[ih] && !st.running {
				delete(states, ih)
			}
		}
		for ih, st := range states {
			if running >= maxConcurrentLookups {
				break
			}
			if st.running || !seen[ih] || now.Before(st.next) {
				continue
			}
			st.running, st.announced = true, st.announce
			running++
			n.wg.Add(1)
			go func(ih metainfo.Hash, announce bool) {
				defer n.wg.Done()
				found := n.lookup(ih, announce)
				select {
				case done <- lookupDone{ih, found}:
				case <-n.ctx.Done():
				}
			}(ih, st.announce)
		}
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		case d := <-done:
			running--
			if st := states[d.ih]; st != nil {
				st.running = false
				st.lookups++
				st.next = time.Now().Add(retryAfter(st.lookups, n.cfg.Interval))
			}
		}
	}
}

// retryAfter is the wait after a torrent's n-th lookup: retryFirst,
// doubling, at most interval. Peers found do not reset it: the first ones
// may be gone (a downloader that announced and left) while the seed is
// announced a moment later; the engine would learn that only by dialling.
// It costs about 9 lookups more per torrent in its first 15 minutes.
func retryAfter(n int, interval time.Duration) time.Duration {
	d := retryFirst << min(n-1, 20)
	if d <= 0 || d > interval {
		d = interval
	}
	return d
}

// lookup walks the DHT toward ih asking for peers (get_peers), hands
// them to OnPeers, and when announce is set announces our port to the
// closest nodes that answered. It returns how many peers it handed on.
func (n *Node) lookup(ih metainfo.Hash, announce bool) int {
	n.lookups.Add(1)
	n.refillThinTable()
	var opts []adht.AnnounceOpt
	if announce && n.cfg.Port != 0 {
		opts = append(opts, adht.AnnouncePeer(adht.AnnouncePeerOpts{Port: int(n.cfg.Port)}))
	}
	a, err := n.server.AnnounceTraversal(ih, opts...)
	if err != nil {
		n.cfg.Logger.Debug("dht: lookup not started", "infohash", ih, "err", err)
		return n.lookupEnded(ih, 0)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(n.ctx, lookupTimeout)
	defer cancel()
	seen := map[netip.AddrPort]bool{}
	found := 0
	for {
		select {
		case <-ctx.Done():
			a.Close()
			// The walk's goroutines end once it is closed; Peers closes
			// after them.
			for range a.Peers {
			}
			return n.lookupEnded(ih, found)
		case pv, ok := <-a.Peers:
			if !ok {
				return n.lookupEnded(ih, found)
			}
			batch := make([]netip.AddrPort, 0, len(pv.Peers))
			for _, p := range pv.Peers {
				if len(seen) >= maxPeersPerLookup {
					break
				}
				ip, ok := netip.AddrFromSlice(p.IP)
				if !ok || p.Port <= 0 || p.Port > 65535 || !usablePeerIP(ip.Unmap()) {
					continue
				}
				ap := netip.AddrPortFrom(ip.Unmap(), uint16(p.Port))
				if seen[ap] {
					continue
				}
				seen[ap] = true
				batch = append(batch, ap)
			}
			if len(batch) > 0 && n.cfg.OnPeers != nil {
				found += len(batch)
				n.peersFound.Add(int64(len(batch)))
				n.cfg.OnPeers(ih, batch)
			}
			if len(seen) >= maxPeersPerLookup {
				// Enough: stop walking, but let the announce go on.
				a.StopTraversing()
			}
		}
	}
}

// thinTable is the number of good nodes under which a lookup first walks
// toward our own id again (BEP 5's k). A walk for peers starts from the
// routing table's nodes closest to the info hash, and a node that has
// peers for it answers with them and no nodes (the library follows BEP 5
// to the letter; libtorrent sends both): from a table holding little more
// than its bootstrap node, every walk ends at that node, and announces
// reach it alone, not the nodes closest to the info hash where others
// look. (A seed bootstrapped from a node that had just joined a small DHT
// announced to that node only, for a minute, while downloaders searched
// elsewhere.) A find_node walk always brings nodes back.
const thinTable = 8

// refillThinTable walks toward our own id when the table is thin. The
// lookups running at once share one walk: one that finds a walk under way
// waits for it instead of starting its own.
func (n *Node) refillThinTable() {
	if n.server.NumNodes() == 0 || n.server.Stats().GoodNodes >= thinTable {
		return // nothing to walk from (the library's walk would wait forever), or enough
	}
	n.refillMu.Lock()
	if running := n.refilling; running != nil {
		n.refillMu.Unlock()
		select {
		case <-running:
		case <-n.ctx.Done():
		}
		return
	}
	done := make(chan struct{})
	n.refilling = done
	n.refillMu.Unlock()
	defer func() {
		n.refillMu.Lock()
		n.refilling = nil
		n.refillMu.Unlock()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(n.ctx, bootstrapTimeout)
	defer cancel()
	stats, err := n.server.BootstrapContext(ctx)
	n.cfg.Logger.Debug("dht: table refilled before a lookup", "nodes", n.server.NumNodes(), "responses", stats.NumResponses, "err", err)
}

func (n *Node) lookupEnded(ih metainfo.Hash, found int) int {
	n.lookupsDone.Add(1)
	if found > 0 {
		n.lookupsWithPeers.Add(1)
	}
	n.cfg.Logger.Debug("dht: lookup done", "infohash", ih, "peers", found)
	return found
}
