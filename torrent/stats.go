package torrent

import (
	"maps"
	"slices"
	"sync/atomic"

	"github.com/swarmcast/swarmcast/transport"
)

// netCounters counts payload bytes by transport kind and direction.
type netCounters struct {
	down, up map[string]*atomic.Int64
}

var countedNetworks = []string{transport.TCP, transport.WebRTC, transport.UTP, transport.WebSeed}

func (c *netCounters) init() {
	c.down, c.up = map[string]*atomic.Int64{}, map[string]*atomic.Int64{}
	for _, n := range countedNetworks {
		c.down[n], c.up[n] = new(atomic.Int64), new(atomic.Int64)
	}
}

func (c *netCounters) add(network string, down, up int64) {
	if d := c.down[network]; d != nil {
		d.Add(down)
		c.up[network].Add(up)
	}
}

// Stats is a snapshot of a torrent's state.
type Stats struct {
	InfoHash    string `json:"infoHash"`
	Name        string `json:"name"`
	HasInfo     bool   `json:"hasInfo"`
	Length      int64  `json:"length"`
	Pieces      int    `json:"pieces"`
	PiecesHave  int    `json:"piecesHave"`
	BytesWanted int64  `json:"bytesWanted"` // bytes of the selected files
	BytesLeft   int64  `json:"bytesLeft"`   // of those, not yet verified
	Complete    bool   `json:"complete"`
	Checking    bool   `json:"checking"`
	// Downloaded and Uploaded count payload bytes by transport kind.
	Downloaded      map[string]int64 `json:"downloaded"`
	Uploaded        map[string]int64 `json:"uploaded"`
	DownloadedTotal int64            `json:"downloadedTotal"`
	UploadedTotal   int64            `json:"uploadedTotal"`
	// DownloadedLocal and UploadedLocal are the bytes exchanged with local
	// peers (Config.LocalNetworks, or found by local service discovery):
	// the rest crossed to remote ones.
	DownloadedLocal int64          `json:"downloadedLocal"`
	UploadedLocal   int64          `json:"uploadedLocal"`
	DownloadRate    float64        `json:"downloadSpeed"` // bytes per second
	UploadRate      float64        `json:"uploadSpeed"`
	Peers           int            `json:"numPeers"`
	PeersByNetwork  map[string]int `json:"peersByKind"`
	Seeds           int            `json:"seeds"`
	Candidates      int            `json:"knownAddresses"`
	// CandidatesBySource counts known addresses by who gave them
	// (user, tracker, dht, pex, lsd).
	CandidatesBySource map[string]int `json:"addressesBySource,omitempty"`
	// PeersFailing counts addresses whose last dial failed; LastError is
	// the newest reason a dial failed.
	PeersFailing int    `json:"peersFailing"`
	LastError    string `json:"lastError,omitempty"`
	// Warnings are conditions the user should hear of at default
	// verbosity: an address given that cannot be reached, a magnet whose
	// peers cannot send the metadata, a web seed that cannot serve.
	Warnings []string `json:"warnings,omitempty"`
	// DiskBacklog is the bytes received and not yet written: while it is
	// over a few MiB the disk is the bottleneck, and peers' data waits in
	// the kernel instead.
	DiskBacklog int64  `json:"diskBacklog"`
	HashFails   int    `json:"hashFails"`
	Banned      int    `json:"banned"`
	Wasted      int64  `json:"wasted"`
	Error       string `json:"error,omitempty"`
}

// Stats returns a snapshot of the torrent's state.
func (t *Torrent) Stats() Stats {
	s := Stats{InfoHash: t.infoHash.String(), Downloaded: map[string]int64{}, Uploaded: map[string]int64{}, PeersByNetwork: map[string]int{}}
	s.DiskBacklog = t.diskPending.Load()
	for _, n := range countedNetworks {
		if v := t.byNet.down[n].Load(); v > 0 {
			s.Downloaded[n] = v
		}
		if v := t.byNet.up[n].Load(); v > 0 {
			s.Uploaded[n] = v
		}
	}
	s.DownloadedTotal, s.UploadedTotal = t.bytesDown.Load(), t.bytesUp.Load()
	s.DownloadedLocal, s.UploadedLocal = t.localDown.Load(), t.localUp.Load()
	s.BytesLeft = t.bytesLeft.Load()
	s.Complete = t.Complete()
	s.Name = t.Name()
	t.do(func() {
		if t.info != nil {
			s.HasInfo = true
			s.Length = t.info.TotalLength()
			s.Pieces = t.info.NumPieces()
			s.PiecesHave = t.have.Count()
			for i := 0; i < s.Pieces; i++ {
				if t.basePrio[i] != 0 {
					s.BytesWanted += t.info.PieceSize(i)
				}
			}
		}
		s.Checking = t.checking > 0
		for p := range t.peers {
			s.Peers++
			s.PeersByNetwork[p.network]++
			if t.info != nil && p.has.All() {
				s.Seeds++
			}
			s.DownloadRate += p.downRate
			s.UploadRate += p.upRate
		}
		s.Candidates = t.cands.len()
		s.CandidatesBySource = t.cands.countBySource()
		s.PeersFailing = t.cands.failing
		s.LastError = t.cands.lastErr
		for _, k := range slices.Sorted(maps.Keys(t.notices)) {
			s.Warnings = append(s.Warnings, t.notices[k])
		}
		s.HashFails, s.Banned, s.Wasted = t.hashFails, len(t.banned), t.wasted
		if t.err != nil {
			s.Error = t.err.Error()
		}
	})
	return s
}
