package torrent

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

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
	// ConnectionsTotal counts the peers connected since the torrent was
	// added (handshakes done; web seeds not counted), those gone included:
	// beside Peers it shows churn.
	ConnectionsTotal int64 `json:"connectionsTotal"`
	Seeds            int   `json:"seeds"`
	Candidates       int   `json:"knownAddresses"`
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
	s.ConnectionsTotal = t.connsTotal.Load()
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

// PeerInfo is one connection of a torrent, as Torrent.Peers reports it.
type PeerInfo struct {
	// Addr is "host:port" for TCP, whatever identifies a WebRTC peer, or a
	// web seed's URL.
	Addr string `json:"addr"`
	// Network is the transport: tcp, webrtc, utp or webseed.
	Network string `json:"network"`
	// Client is the name and version from its extension handshake ("v"),
	// if it sent one (printable, at most maxClientName bytes).
	Client string `json:"client,omitempty"`
	// Incoming: it connected to us.
	Incoming bool `json:"incoming"`
	// Source is how we found an address we dialled: user, tracker, dht,
	// pex or lsd; empty for an incoming connection.
	Source string `json:"source,omitempty"`
	// Local: on a local network (Config.LocalNetworks) or found by LSD.
	Local bool `json:"local"`
	// Encrypted: the stream is encrypted (MSE's RC4, or WebRTC's DTLS).
	Encrypted bool `json:"encrypted"`
	// Progress is the share of the pieces it has; 0 before the info.
	Progress float64 `json:"progress"`
	// DownloadRate and UploadRate are payload bytes per second from and to
	// it, smoothed; Downloaded and Uploaded are the payload bytes of this
	// connection.
	DownloadRate float64 `json:"downloadRate"`
	UploadRate   float64 `json:"uploadRate"`
	Downloaded   int64   `json:"downloaded"`
	Uploaded     int64   `json:"uploaded"`
	// The choke and interest states of both sides (BEP 3).
	AmChoking      bool `json:"amChoking"`
	AmInterested   bool `json:"amInterested"`
	PeerChoking    bool `json:"peerChoking"`
	PeerInterested bool `json:"peerInterested"`
	// Snubbed: it left our requests unanswered for too long.
	Snubbed     bool      `json:"snubbed"`
	ConnectedAt time.Time `json:"connectedAt"`
}

// maxClientName bounds the client name kept per peer.
const maxClientName = 64

// clientName is a peer's "v" as we keep it: printable characters only, at
// most maxClientName bytes.
func clientName(v string) string {
	var b strings.Builder
	for _, r := range v {
		if b.Len()+utf8.RuneLen(r) > maxClientName {
			break
		}
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// encryptedConn is a transport.Conn that can say whether its stream is
// encrypted (an MSE connection, a WebRTC data channel).
type encryptedConn interface{ Encrypted() bool }

// Peers returns the torrent's connections, the fastest downloads first.
// Safe from any goroutine; the list is a copy, at most Config.MaxConns long
// plus the web seeds.
func (t *Torrent) Peers() []PeerInfo {
	var out []PeerInfo
	t.do(func() {
		out = make([]PeerInfo, 0, len(t.peers))
		for p := range t.peers {
			pi := PeerInfo{
				Addr: p.addr, Network: p.network, Client: p.client, Incoming: p.conn != nil && !p.conn.Outbound(),
				Local: p.local, DownloadRate: p.downRate, UploadRate: p.upRate,
				Downloaded: p.downloaded, Uploaded: p.upBytes.Load(),
				AmChoking: p.amChoking, AmInterested: p.amInterested, PeerChoking: p.peerChoking, PeerInterested: p.peerInterested,
				Snubbed: p.snubbed, ConnectedAt: p.connectedAt,
			}
			if ec, ok := p.conn.(encryptedConn); ok {
				pi.Encrypted = ec.Encrypted()
			}
			if !pi.Incoming && !p.webSeed {
				if c := t.cands.get(p.addr); c != nil {
					pi.Source = c.source.String()
				}
			}
			if t.info != nil && p.has.Len() == t.info.NumPieces() {
				pi.Progress = float64(p.has.Count()) / float64(t.info.NumPieces())
			}
			out = append(out, pi)
		}
	})
	slices.SortFunc(out, func(a, b PeerInfo) int {
		if c := cmp.Compare(b.DownloadRate, a.DownloadRate); c != 0 {
			return c
		}
		return strings.Compare(a.Addr, b.Addr)
	})
	return out
}
