package lsd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
)

// BEP 14's multicast groups and port.
const (
	Group4 = "239.192.152.143:6771"
	Group6 = "[ff15::efc0:988f]:6771"
)

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
	// Group is the multicast address; empty means both Group4 and
	// Group6, each where the host can (Start fails only when neither
	// works).
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
	links  []*link
	cookie string

	mu        sync.Mutex
	ours      map[metainfo.Hash]time.Time // announced torrents, with when
	pending   map[metainfo.Hash]bool      // newcomers to answer once MinInterval allows
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// link is one multicast group joined, with the socket announces go out on.
type link struct {
	host  string // the group as the Host header names it
	group *net.UDPAddr
	recv  *net.UDPConn
	send  *net.UDPConn
}

// join joins group ("239.192.152.143:6771", "[ff15::efc0:988f]:6771").
func join(group string) (*link, error) {
	ap, err := netip.ParseAddrPort(group)
	if err != nil || !ap.Addr().IsMulticast() {
		return nil, errors.New("lsd: group " + group + " is not a multicast address and port")
	}
	network := "udp4"
	if ap.Addr().Is6() {
		network = "udp6"
	}
	addr := net.UDPAddrFromAddrPort(ap)
	recv, err := net.ListenMulticastUDP(network, nil, addr)
	if err != nil {
		return nil, err
	}
	send, err := net.ListenUDP(network, nil)
	if err != nil {
		recv.Close()
		return nil, err
	}
	return &link{host: group, group: addr, recv: recv, send: send}, nil
}

func (l *link) close() {
	l.recv.Close()
	l.send.Close()
}

// Start joins the multicast group (or both) and starts announcing. It fails
// when the host has no multicast route (a machine without a network, say).
func Start(cfg Config) (*Service, error) {
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
	groups := []string{cfg.Group}
	if cfg.Group == "" {
		groups = []string{Group4, Group6}
	}
	var links []*link
	var errs []error
	for _, g := range groups {
		l, err := join(g)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", g, err))
			continue
		}
		links = append(links, l)
	}
	if len(links) == 0 {
		return nil, errors.Join(errs...)
	}
	if len(errs) > 0 {
		cfg.Logger.Debug("lsd: a group could not be joined", "err", errors.Join(errs...))
	}
	var c [8]byte
	rand.Read(c[:])
	s := &Service{
		cfg: cfg, links: links, cookie: hex.EncodeToString(c[:]),
		ours: map[metainfo.Hash]time.Time{}, pending: map[metainfo.Hash]bool{}, closed: make(chan struct{}),
	}
	s.wg.Add(1 + len(links))
	for _, l := range links {
		go s.readLoop(l)
	}
	go s.announceLoop()
	return s, nil
}

// Close stops the service.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		for _, l := range s.links {
			l.close()
		}
	})
	s.wg.Wait()
	return nil
}

// readLoop reads one group's announces. Each group has its own rate limit:
// the two are different networks as far as a flood is concerned.
func (s *Service) readLoop(l *link) {
	defer s.wg.Done()
	buf := make([]byte, MaxMessage+1)
	tokens, last := float64(maxMessagesPerSecond), time.Now()
	for {
		n, from, err := l.recv.ReadFromUDPAddrPort(buf)
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

// sendAnnounces announces the torrents on every group, as many per message
// as fit.
func (s *Service) sendAnnounces(due []metainfo.Hash) {
	for len(due) > 0 {
		n := min(len(due), maxHashesPerMessage)
		for _, l := range s.links {
			m := Message{Host: l.host, Port: s.cfg.Port, InfoHashes: due[:n], Cookie: s.cookie}
			if _, err := l.send.WriteToUDP(m.Append(nil), l.group); err != nil {
				s.cfg.Logger.Debug("lsd: announce not sent", "group", l.host, "err", err)
			}
		}
		due = due[n:]
	}
}

// Groups returns the multicast groups the service joined.
func (s *Service) Groups() []string {
	var out []string
	for _, l := range s.links {
		out = append(out, l.host)
	}
	return out
}
