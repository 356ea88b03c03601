package trackerserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"net"
	"net/netip"
	"time"
)

// BEP 15 wire constants.
const (
	udpProtocolID     = 0x41727101980
	udpActionConnect  = 0
	udpActionAnnounce = 1
	udpActionScrape   = 2
	udpActionError    = 3
	udpHeaderSize     = 16 // connection ID, action, transaction ID
	udpAnnounceSize   = 98 // an announce without BEP 41 options
	// UDPMaxScrapeHashes is how many torrents one UDP scrape answers: "Up
	// to about 74 torrents can be scraped at once" (BEP 15). Further hashes
	// in a packet are ignored.
	UDPMaxScrapeHashes = 74
	// udpEpoch is how often the connection ID secret turns over. An ID is
	// accepted in its epoch and the next, so for one to two minutes: BEP 15
	// has clients use an ID for one minute and servers accept it for two.
	udpEpoch = time.Minute
	// udpMaxPacket: requests are at most a scrape of 74 hashes (1,496 bytes)
	// or an announce with BEP 41 options; anything longer is cut.
	udpMaxPacket = 2048
)

// udpSecret is the key connection IDs are derived from: an ID is an HMAC of
// the client's address and the current epoch, so the server keeps no state
// per client and a spoofed source address cannot get one.
type udpSecret struct {
	key [32]byte
}

// udpPacketConn is what *net.UDPConn offers to read and write without
// allocating an address per packet.
type udpPacketConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// ServeUDP answers BEP 15 requests on pc until Shutdown or Close, when it
// returns ErrServerClosed. It closes pc.
func (s *Server) ServeUDP(pc net.PacketConn) error {
	s.mu.Lock()
	if s.shuttingDown {
		s.mu.Unlock()
		pc.Close()
		return ErrServerClosed
	}
	s.packetConns = append(s.packetConns, pc)
	s.mu.Unlock()
	if !s.start() {
		pc.Close()
		return ErrServerClosed
	}
	u := s.newUDPHandler()
	buf := make([]byte, udpMaxPacket)
	fast, _ := pc.(udpPacketConn)
	var workers *udpWorkers
	if s.cluster != nil {
		workers = s.startUDPWorkers(pc)
		defer workers.stop()
	}
	for {
		var n int
		var from netip.AddrPort
		var err error
		if fast != nil {
			n, from, err = fast.ReadFromUDPAddrPort(buf)
		} else {
			var a net.Addr
			n, a, err = pc.ReadFrom(buf)
			if ua, ok := a.(*net.UDPAddr); ok {
				from = ua.AddrPort()
			}
		}
		if err != nil {
			s.mu.Lock()
			down := s.shuttingDown
			s.mu.Unlock()
			if down || errors.Is(err, net.ErrClosed) {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if workers != nil {
			workers.submit(buf[:n], from)
			continue
		}
		out := u.handle(buf[:n], from)
		if len(out) == 0 {
			continue
		}
		if fast != nil {
			fast.WriteToUDPAddrPort(out, from)
		} else {
			pc.WriteTo(out, net.UDPAddrFromAddrPort(from))
		}
	}
}

// udpHandler answers packets for one reading goroutine, with its own buffers.
type udpHandler struct {
	s      *Server
	mac    hash.Hash
	out    []byte
	picks  []pickedPeer
	hashes [][20]byte
	counts []scrapeCounts
}

func (s *Server) newUDPHandler() *udpHandler {
	return &udpHandler{
		s:     s,
		mac:   hmac.New(sha256.New, s.udp.key[:]),
		out:   make([]byte, 0, udpMaxPacket),
		picks: make([]pickedPeer, 0, s.cfg.MaxNumWant),
	}
}

// connectionID derives the connection ID of addr in an epoch.
func (u *udpHandler) connectionID(addr netip.AddrPort, epoch int64) uint64 {
	var msg [8 + 16 + 2]byte
	binary.BigEndian.PutUint64(msg[:], uint64(epoch))
	a := addr.Addr().As16()
	copy(msg[8:], a[:])
	binary.BigEndian.PutUint16(msg[24:], addr.Port())
	u.mac.Reset()
	u.mac.Write(msg[:])
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(u.mac.Sum(sum[:0]))
}

func (u *udpHandler) epoch() int64 { return u.s.now() / int64(udpEpoch) }

// handle answers one packet; it returns nil to send nothing.
//
// Until a packet shows a valid connection ID its source address is
// unproven (anyone can forge it), so no answer to it is bigger than the
// packet: a connect answer is 16 bytes for 16, an error is sent only if it
// fits in the request's size, and anything else is dropped and counted. A
// tracker that answers more than it is sent lets a forger aim it at a
// victim as an amplifier.
func (u *udpHandler) handle(pkt []byte, from netip.AddrPort) []byte {
	s := u.s
	s.ctr.udpPackets.Add(1)
	if len(pkt) < udpHeaderSize || !from.IsValid() {
		return u.drop()
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	connID := binary.BigEndian.Uint64(pkt)
	action := binary.BigEndian.Uint32(pkt[8:])
	txid := binary.BigEndian.Uint32(pkt[12:])
	out := u.out[:0]
	switch action {
	case udpActionConnect:
		if connID != udpProtocolID {
			return u.drop() // not BEP 15
		}
		out = binary.BigEndian.AppendUint32(out, udpActionConnect)
		out = binary.BigEndian.AppendUint32(out, txid)
		out = binary.BigEndian.AppendUint64(out, u.connectionID(from, u.epoch()))
		u.out = out
		return out
	case udpActionAnnounce, udpActionScrape:
	default:
		return u.drop() // junk: no tracker client sends another action
	}
	e := u.epoch()
	if connID != u.connectionID(from, e) && connID != u.connectionID(from, e-1) {
		// A real client's expired ID (after a restart of the tracker, whose
		// key is new) comes on a well-formed announce or scrape, which this
		// 29-byte error fits in and which it tells to connect again at once
		// instead of after its retransmissions time out. Anything else is junk.
		if !wellFormed(action, pkt) {
			return u.drop()
		}
		return u.failureAtMost(len(pkt), txid, "connection ID expired")
	}
	// The connection ID proves the source address: answers may be bigger now.
	switch action {
	case udpActionAnnounce:
		return u.announce(pkt, from, txid)
	default:
		return u.scrape(pkt, txid)
	}
}

// wellFormed reports whether pkt has the shape of a request of action: a
// scrape is a header and whole info hashes; an announce is 98 bytes, or
// more with BEP 41 options that parse (0 ends them, 1 is padding, 2 is a
// length and that many bytes of URL data).
func wellFormed(action uint32, pkt []byte) bool {
	if action == udpActionScrape {
		return len(pkt) >= udpHeaderSize+20 && (len(pkt)-udpHeaderSize)%20 == 0
	}
	if len(pkt) < udpAnnounceSize {
		return false
	}
	opts := pkt[udpAnnounceSize:]
	for len(opts) > 0 {
		switch opts[0] {
		case 0:
			return true
		case 1:
			opts = opts[1:]
		case 2:
			if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
				return false
			}
			opts = opts[2+int(opts[1]):]
		default:
			return false
		}
	}
	return true
}

// drop counts a packet left unanswered.
func (u *udpHandler) drop() []byte {
	u.s.ctr.udpBad.Add(1)
	u.s.ctr.udpDropped.Add(1)
	return nil
}

// failureAtMost answers an error only if the answer is no bigger than limit
// bytes; otherwise it drops the packet.
func (u *udpHandler) failureAtMost(limit int, txid uint32, reason string) []byte {
	if 8+len(reason) > limit {
		return u.drop()
	}
	return u.failure(txid, reason)
}

func (u *udpHandler) failure(txid uint32, reason string) []byte {
	u.s.ctr.udpBad.Add(1)
	out := binary.BigEndian.AppendUint32(u.out[:0], udpActionError)
	out = binary.BigEndian.AppendUint32(out, txid)
	out = append(out, reason...)
	u.out = out
	return out
}

func (u *udpHandler) announce(pkt []byte, from netip.AddrPort, txid uint32) []byte {
	s := u.s
	if len(pkt) < udpAnnounceSize {
		return u.failure(txid, "announce packet too short")
	}
	var ih, id [20]byte
	copy(ih[:], pkt[16:36])
	copy(id[:], pkt[36:56])
	left := leftSome
	if binary.BigEndian.Uint64(pkt[64:]) == 0 {
		left = leftZero
	}
	var ev event
	switch binary.BigEndian.Uint32(pkt[80:]) {
	case 0, 4: // none; 4 is bittorrent-tracker's "paused"
		ev = eventUpdate
	case 1:
		ev = eventCompleted
	case 2:
		ev = eventStarted
	case 3:
		ev = eventStopped
	default:
		return u.failure(txid, errInvalidEvent.Error())
	}
	ip := from.Addr()
	if s.cfg.TrustIPParam && ip.Is4() {
		if v := binary.BigEndian.Uint32(pkt[84:]); v != 0 {
			ip = netip.AddrFrom4([4]byte(pkt[84:88]))
		}
	}
	key := binary.BigEndian.Uint32(pkt[88:])
	numWant := int(int32(binary.BigEndian.Uint32(pkt[92:])))
	if numWant <= 0 {
		numWant = s.cfg.DefaultNumWant
	}
	numWant = min(numWant, s.cfg.MaxNumWant)
	port := binary.BigEndian.Uint16(pkt[96:])
	if port == 0 {
		port = from.Port()
	}
	kind := kindV4
	if !ip.Is4() {
		kind = kindV6
	}
	p := announceParams{
		infoHash:  &ih,
		peerID:    &id,
		kind:      kind,
		proto:     protoUDP,
		event:     ev,
		left:      left,
		addr:      netip.AddrPortFrom(ip, port),
		key:       key,
		now:       s.now(),
		ttl:       s.ttlHTTP,
		source:    from.Addr(),
		numWant:   numWant,
		otherKind: -1, // BEP 15: one address family per answer
		mayInsert: true,
	}
	res, err := s.announce(&p, u.picks[:0])
	u.picks = res.picked
	if err != nil {
		return u.failure(txid, err.Error())
	}
	out := binary.BigEndian.AppendUint32(u.out[:0], udpActionAnnounce)
	out = binary.BigEndian.AppendUint32(out, txid)
	out = binary.BigEndian.AppendUint32(out, uint32(ceilSeconds(s.cfg.Interval)))
	out = binary.BigEndian.AppendUint32(out, uint32(res.incomplete))
	out = binary.BigEndian.AppendUint32(out, uint32(res.complete))
	for _, pp := range res.picked {
		a := pp.addr.Addr()
		if kind == kindV4 {
			v := a.As4()
			out = append(out, v[:]...)
		} else {
			v := a.As16()
			out = append(out, v[:]...)
		}
		out = binary.BigEndian.AppendUint16(out, pp.addr.Port())
	}
	u.out = out
	return out
}

func (u *udpHandler) scrape(pkt []byte, txid uint32) []byte {
	n := min((len(pkt)-udpHeaderSize)/20, UDPMaxScrapeHashes)
	if n == 0 {
		return u.failure(txid, "scrape without info hashes")
	}
	u.hashes = u.hashes[:0]
	for i := range n {
		u.hashes = append(u.hashes, [20]byte(pkt[udpHeaderSize+20*i:]))
	}
	u.counts = u.s.scrape(u.hashes, protoUDP, u.counts[:0])
	out := binary.BigEndian.AppendUint32(u.out[:0], udpActionScrape)
	out = binary.BigEndian.AppendUint32(out, txid)
	for i := range n {
		c := u.counts[i]
		out = binary.BigEndian.AppendUint32(out, uint32(c.complete))
		out = binary.BigEndian.AppendUint32(out, uint32(min(c.downloaded, 1<<32-1)))
		out = binary.BigEndian.AppendUint32(out, uint32(c.incomplete))
	}
	u.out = out
	return out
}
