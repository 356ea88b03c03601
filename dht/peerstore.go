package dht

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
)

// Bounds of the peers other nodes announce to us (announce_peer), which we
// hand out to get_peers queries. The numbers are libtorrent's defaults
// (settings_pack dht_max_torrents, dht_max_peers, dht_max_peers_reply).
const (
	maxStoredTorrents   = 2000
	maxPeersPerTorrent  = 500
	maxPeersPerResponse = 100
	// peerTTL is how long an announce is kept: peers announce again every
	// DefaultInterval (as libtorrent does); two missed and it is gone.
	peerTTL = 2 * DefaultInterval
)

// peerStore keeps announced peers, bounded: past maxPeersPerTorrent the
// oldest announce of the torrent goes; past maxStoredTorrents the torrent
// announced to least recently goes. Announces older than peerTTL expire.
type peerStore struct {
	mu       sync.Mutex
	torrents map[[20]byte]*storedTorrent
	now      func() time.Time
	rng      *rand.Rand
}

type storedTorrent struct {
	peers map[netip.AddrPort]time.Time
	last  time.Time // newest announce
}

var _ peer_store.Interface = (*peerStore)(nil)

func newPeerStore(now func() time.Time) *peerStore {
	return &peerStore{torrents: map[[20]byte]*storedTorrent{}, now: now, rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// AddPeer records an announce.
func (s *peerStore) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port <= 0 || na.Port > 65535 || !usablePeerIP(ip.Unmap()) {
		return
	}
	ap := netip.AddrPortFrom(ip.Unmap(), uint16(na.Port))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.torrents[ih]
	if t == nil {
		if len(s.torrents) >= maxStoredTorrents {
			s.evictTorrent(now)
		}
		t = &storedTorrent{peers: map[netip.AddrPort]time.Time{}}
		s.torrents[ih] = t
	}
	t.last = now
	if _, ok := t.peers[ap]; !ok && len(t.peers) >= maxPeersPerTorrent {
		t.expire(now)
		if len(t.peers) >= maxPeersPerTorrent {
			var oldest netip.AddrPort
			var at time.Time
			for p, when := range t.peers {
				if at.IsZero() || when.Before(at) {
					oldest, at = p, when
				}
			}
			delete(t.peers, oldest)
		}
	}
	t.peers[ap] = now
}

// evictTorrent drops expired torrents, or else the one announced to least
// recently.
func (s *peerStore) evictTorrent(now time.Time) {
	var stalest [20]byte
	var at time.Time
	for ih, t := range s.torrents {
		if now.Sub(t.last) > peerTTL {
			delete(s.torrents, ih)
			continue
		}
		if at.IsZero() || t.last.Before(at) {
			stalest, at = ih, t.last
		}
	}
	if len(s.torrents) >= maxStoredTorrents {
		delete(s.torrents, stalest)
	}
}

func (t *storedTorrent) expire(now time.Time) {
	for p, when := range t.peers {
		if now.Sub(when) > peerTTL {
			delete(t.peers, p)
		}
	}
}

// GetPeers returns up to maxPeersPerResponse live peers of the torrent,
// chosen at random so that every peer gets handed out.
func (s *peerStore) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.torrents[ih]
	if t == nil {
		return nil
	}
	t.expire(now)
	if len(t.peers) == 0 {
		delete(s.torrents, ih)
		return nil
	}
	out := make([]krpc.NodeAddr, 0, min(len(t.peers), maxPeersPerResponse))
	for p := range t.peers {
		out = append(out, krpc.NodeAddr{IP: net.IP(p.Addr().AsSlice()), Port: int(p.Port())})
	}
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(len(out), maxPeersPerResponse)]
}

// counts returns how many torrents and peers are stored.
func (s *peerStore) counts() (torrents, peers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.torrents {
		peers += len(t.peers)
	}
	return len(s.torrents), peers
}

// usablePeerIP reports whether a peer could be at ip: not unspecified,
// multicast or broadcast.
func usablePeerIP(ip netip.Addr) bool {
	return ip.IsValid() && !ip.IsUnspecified() && !ip.IsMulticast() &&
		ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
