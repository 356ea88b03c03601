package lsd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
)

// Group4 is BEP 14's IPv4 multicast group and port.
const Group4 = "239.192.152.143:6771"

// Defaults of Config.
const (
	// DefaultInterval is how often each torrent is announced again (BEP 14
	// asks for no more than once a minute; libtorrent uses 5 minutes).
	DefaultInterval = 5 * time.Minute
	// DefaultMinInterval is BEP 14's limit: a torrent is announced no more
	// than once a minute.
	DefaultMinInterval = time.Minute
	// DefaultPoll is how often the list of torrents is checked for new
	// ones, which are announced at once.
	DefaultPoll = 2 * time.Second
	// maxMessagesPerSecond bounds the announces handled, whatever the
	// network sends.
	maxMessagesPerSecond = 100
)

// Config configures a Service.
type Config struct {
	// Port is our BitTorrent listen port, which the announces carry.
	Port uint16
	// Torrents returns the info hashes to announce (never private
	// torrents: BEP 27). It is called every Poll.
	Torrents func() []metainfo.Hash
	// OnPeer receives each peer and info hash announced on the network, ours
	// or not (a magnet link's torrent is not announced before its info is
	// known, but peers for it are welcome). It must not block for long.
	OnPeer func(ih metainfo.Hash, addr netip.AddrPort)
	// Group is the multicast address; empty means Group4.
	Group string
	// Interval and Poll: zero means DefaultInterval and DefaultPoll.
	Interval, Poll time.Duration
	// MinInterval is the shortest time between two announces of one
	// torrent, when one answers a newcomer's announce; zero means
	// DefaultMinInterval.
	MinInterval time.Duration
	// Logger receives debug logs; nil means none.
	Logger *slog.Logger
}

// Service announces torrents and listens for others' announces.
type Service struct {
	cfg    Config
	group  *net.UDPAddr
	recv   *net.UDPConn
	send   *net.UDPConn
	cookie string

	mu        sync.Mutex
	ours      map[metainfo.Hash]time.Time // announced torrents, with when
	pending   map[metainfo.Hash]bool      // newcomers to answer once MinInterval allows
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Start joins the multicast group and starts announcing. It fails when the
// host has no multicast route (a machine without a network, say).
func Start(cfg Config) (*Service, error) {
	if cfg.Group == "" {
		cfg.Group = Group4
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Torrents == nil || cfg.OnPeer == nil || cfg.Port == 0 {
		return nil, errors.New("lsd: Port, Torrents and OnPeer are required")
	}
	group, err := net.ResolveUDPAddr("udp4", cfg.Group)
	if err != nil || !group.IP.IsMulticast() {
		return nil, errors.New("lsd: group " + cfg.Group + " is not an IPv4 multicast address")
	}
	recv, err := net.ListenMulticastUDP("udp4", nil, group)
	if err != nil {
		return nil, err
	}
	send, err := net.ListenUDP("udp4", nil)
	if err != nil {
		recv.Close()
		return nil, err
	}
	var c [8]byte
	rand.Read(c[:])
	s := &Service{
		cfg: cfg, group: group, recv: recv, send: send, cookie: hex.EncodeToString(c[:]),
		ours: map[metainfo.Hash]time.Time{}, pending: map[metainfo.Hash]bool{}, closed: make(chan struct{}),
	}
	s.wg.Add(2)
	go s.readLoop()
	go s.announceLoop()
	return s, nil
}

// Close stops the service.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.recv.Close()
		s.send.Close()
	})
	s.wg.Wait()
	return nil
}

func (s *Service) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, MaxMessage+1)
	tokens, last := float64(maxMessagesPerSecond), time.Now()
	for {
		n, from, err := s.recv.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Now()
		tokens = min(maxMessagesPerSecond, tokens+now.Sub(last).Seconds()*maxMessagesPerSecond)
		last = now
		if tokens < 1 {
			continue
		}
		tokens--
		m, err := Parse(buf[:n])
		if err != nil {
			s.cfg.Logger.Debug("lsd: announce refused", "from", from, "err", err)
			continue
		}
		if m.Cookie == s.cookie {
			continue // our own, looped back
		}
		peer := netip.AddrPortFrom(from.Addr().Unmap(), m.Port)
		var reply []metainfo.Hash
		s.mu.Lock()
		for _, h := range m.InfoHashes {
			// A newcomer learns of us by our next announce: answer its
			// announce with ours, at most once per MinInterval.
			at, ok := s.ours[h]
			switch {
			case !ok:
			case now.Sub(at) >= s.cfg.MinInterval:
				s.ours[h] = now
				reply = append(reply, h)
			default:
				s.pending[h] = true // answered when the interval allows
			}
		}
		s.mu.Unlock()
		for _, h := range m.InfoHashes {
			s.cfg.OnPeer(h, peer)
		}
		s.sendAnnounces(reply)
	}
}

func (s *Service) announceLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		s.announceDue(time.Now())
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
	}
}

// announceDue announces the torrents that are new or were last announced
// an Interval ago, and forgets those no longer listed.
func (s *Service) announceDue(now time.Time) {
	list := s.cfg.Torrents()
	var due []metainfo.Hash
	s.mu.Lock()
	keep := make(map[metainfo.Hash]time.Time, len(list))
	for _, h := range list {
		at, ok := s.ours[h]
		if !ok || now.Sub(at) >= s.cfg.Interval || (s.pending[h] && now.Sub(at) >= s.cfg.MinInterval) {
			due = append(due, h)
			at = now
			delete(s.pending, h)
		}
		keep[h] = at
	}
	s.ours = keep
	for h := range s.pending {
		if _, ok := keep[h]; !ok {
			delete(s.pending, h)
		}
	}
	s.mu.Unlock()
	s.sendAnnounces(due)
}

// sendAnnounces announces the torrents, as many per message as fit.
func (s *Service) sendAnnounces(due []metainfo.Hash) {
	for len(due) > 0 {
		n := min(len(due), maxHashesPerMessage)
		m := Message{Host: s.cfg.Group, Port: s.cfg.Port, InfoHashes: due[:n], Cookie: s.cookie}
		if _, err := s.send.WriteToUDP(m.Append(nil), s.group); err != nil {
			s.cfg.Logger.Debug("lsd: announce not sent", "err", err)
		}
		due = due[n:]
	}
}
