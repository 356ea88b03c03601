package trackerserver

import (
	"bytes"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/tracker"
)

// HTTP failure reasons; "invalid port" is bittorrent-tracker's.
const (
	errInvalidPort = errMsg("invalid port")
	errBadQuery    = errMsg("malformed query string")
	errBadNumber   = errMsg("invalid number")
)

// httpAnnounce is a parsed announce query.
type httpAnnounce struct {
	infoHash, peerID [20]byte
	hasInfoHash      bool
	hasPeerID        bool
	port             int // -1 when missing
	left             leftState
	event            event
	numWant          int // 0: the default
	noCompact        bool
	noPeerID         bool
	key              uint32
	ipRaw            [64]byte // the "ip" parameter
	ipLen            int
}

// ipParam returns the "ip" parameter as an address, if it is one.
func (a *httpAnnounce) ipParam() netip.Addr {
	if a.ipLen == 0 {
		return netip.Addr{}
	}
	addr, err := netip.ParseAddr(string(a.ipRaw[:a.ipLen]))
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap()
}

// parseAnnounceQuery parses a raw query string without allocating. Unknown
// parameters are ignored; a repeated one counts the last time.
func parseAnnounceQuery(q string, a *httpAnnounce) error {
	*a = httpAnnounce{port: -1}
	var vbuf [64]byte
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		var kbuf [16]byte
		kn, ok := unescapeQuery(kbuf[:], k)
		if !ok {
			continue // no parameter we know is this long
		}
		key := kbuf[:kn]
		switch string(key) {
		case "info_hash", "peer_id":
			n, ok := unescapeQuery(vbuf[:21], v)
			if !ok || n != 20 {
				if string(key) == "info_hash" {
					return errInvalidInfoHash
				}
				return errInvalidPeerID
			}
			if string(key) == "info_hash" {
				copy(a.infoHash[:], vbuf[:20])
				a.hasInfoHash = true
			} else {
				copy(a.peerID[:], vbuf[:20])
				a.hasPeerID = true
			}
			continue
		}
		n, ok := unescapeQuery(vbuf[:], v)
		if !ok {
			// Long values of parameters we read are malformed; others do not
			// matter. A "key" or "ip" longer than 64 bytes is ignored, as
			// opentracker and bittorrent-tracker do: neither is needed to
			// serve the peer.
			switch string(key) {
			case "port", "left", "event", "numwant", "num_want", "compact":
				return errBadQuery
			case "key":
				a.key = 0
			case "ip":
				a.ipLen = 0
			}
			continue
		}
		val := vbuf[:n]
		switch string(key) {
		case "port":
			p, ok := parseUint(val)
			if !ok || p == 0 || p > math.MaxUint16 {
				return errInvalidPort
			}
			a.port = int(p)
		case "left":
			switch p, ok := parseUint(val); {
			case ok && p == 0:
				a.left = leftZero
			case ok:
				a.left = leftSome
			case len(val) > 0 && val[0] == '-':
				a.left = leftSome // some clients send -1 for an unknown size
			default:
				return errBadNumber
			}
		case "event":
			switch string(val) {
			case "", "empty", "update", "paused":
				a.event = eventUpdate
			case "started":
				a.event = eventStarted
			case "completed":
				a.event = eventCompleted
			case "stopped":
				a.event = eventStopped
			default:
				return errInvalidEvent
			}
		case "numwant", "num_want":
			if p, ok := parseUint(val); ok {
				a.numWant = int(min(p, math.MaxInt32))
			}
		case "compact":
			a.noCompact = string(val) == "0"
		case "no_peer_id":
			a.noPeerID = string(val) == "1"
		case "key":
			a.key = parseKey(val)
		case "ip":
			// Kept raw: parsing allocates, and it is used only when trusted.
			a.ipLen = copy(a.ipRaw[:], val)
		}
	}
	switch {
	case !a.hasInfoHash:
		return errInvalidInfoHash
	case !a.hasPeerID:
		return errInvalidPeerID
	case a.port < 0:
		return errInvalidPort
	}
	return nil
}

// parseKey turns the "key" parameter into a number: its value when it is up
// to 8 hex digits, as most clients send it, and a hash of it otherwise.
func parseKey(v []byte) uint32 {
	if len(v) == 0 {
		return 0
	}
	if len(v) <= 8 {
		var k uint32
		hex := true
		for _, c := range v {
			d := unhex(c)
			if d < 0 {
				hex = false
				break
			}
			k = k<<4 | uint32(d)
		}
		if hex && k != 0 {
			return k
		}
	}
	// FNV-1a, never zero (zero means no key).
	h := uint32(2166136261)
	for _, c := range v {
		h ^= uint32(c)
		h *= 16777619
	}
	return h | 1
}

// parseUint parses a decimal number in the uint64 range: byte counts such
// as "left" may be up to 2^64-1 (clients send that for an unknown size).
// Leading zeros are allowed; a value above 2^64-1 is not a number.
func parseUint(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 64 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// unescapeQuery percent-decodes a query component into dst ('+' is a
// space, as in HTML forms and Node's querystring). It fails on a bad escape
// or when dst is too short.
func unescapeQuery(dst []byte, s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if n == len(dst) {
			return 0, false
		}
		c := s[i]
		switch c {
		case '%':
			if i+2 >= len(s) {
				return 0, false
			}
			h, l := unhex(s[i+1]), unhex(s[i+2])
			if h < 0 || l < 0 {
				return 0, false
			}
			c = byte(h<<4 | l)
			i += 2
		case '+':
			c = ' '
		}
		dst[n] = c
		n++
	}
	return n, true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// clientAddr is the address an HTTP request came from.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	if s.cfg.TrustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
				return a.Unmap()
			}
		}
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// httpScratch is per-request memory, pooled.
type httpScratch struct {
	q      httpAnnounce
	picks  []pickedPeer
	body   []byte
	peers4 []byte
	peers6 []byte
	hashes [][20]byte
	counts []scrapeCounts
}

var scratchPool = sync.Pool{New: func() any { return new(httpScratch) }}

var (
	textPlain = []string{"text/plain"}
	noCache   = []string{"no-cache"}
)

func (s *Server) serveAnnounce(w http.ResponseWriter, r *http.Request) {
	s.start()
	sc := scratchPool.Get().(*httpScratch)
	defer scratchPool.Put(sc)
	a := &sc.q
	if err := parseAnnounceQuery(r.URL.RawQuery, a); err != nil {
		s.httpFailure(w, sc, err.Error())
		return
	}
	ip := s.clientAddr(r)
	source := ip
	if s.cfg.TrustIPParam {
		if p := a.ipParam(); p.IsValid() {
			ip = p
		}
	}
	if !ip.IsValid() {
		s.httpFailure(w, sc, "cannot tell your address")
		return
	}
	kind, other := kindV4, kindV6
	if !ip.Is4() {
		kind, other = kindV6, kindV4
	}
	numWant := a.numWant
	if numWant <= 0 {
		numWant = s.cfg.DefaultNumWant
	}
	numWant = min(numWant, s.cfg.MaxNumWant)
	p := announceParams{
		infoHash:  &a.infoHash,
		peerID:    &a.peerID,
		kind:      kind,
		proto:     protoHTTP,
		event:     a.event,
		left:      a.left,
		addr:      netip.AddrPortFrom(ip, uint16(a.port)),
		key:       a.key,
		now:       s.now(),
		ttl:       s.ttlHTTP,
		source:    source,
		numWant:   numWant,
		otherKind: int(other),
		mayInsert: true,
	}
	res, err := s.announce(&p, sc.picks[:0])
	sc.picks = res.picked
	if err != nil {
		s.httpFailure(w, sc, err.Error())
		return
	}
	b := sc.body[:0]
	b = append(b, "d8:completei"...)
	b = strconv.AppendInt(b, int64(res.complete), 10)
	b = append(b, "e10:incompletei"...)
	b = strconv.AppendInt(b, int64(res.incomplete), 10)
	b = append(b, "e8:intervali"...)
	b = strconv.AppendInt(b, ceilSeconds(s.cfg.Interval), 10)
	b = append(b, "e12:min intervali"...)
	b = strconv.AppendInt(b, ceilSeconds(s.cfg.MinInterval), 10)
	b = append(b, "e5:peers"...)
	if a.noCompact {
		b = appendDictPeers(b, res.picked, a.noPeerID)
	} else {
		p4, p6 := sc.peers4[:0], sc.peers6[:0]
		for _, pp := range res.picked {
			if pp.addr.Addr().Is4() {
				p4 = tracker.AppendCompact(p4, pp.addr)
			} else {
				p6 = tracker.AppendCompact(p6, pp.addr)
			}
		}
		b = appendBytes(b, p4)
		b = append(b, "6:peers6"...)
		b = appendBytes(b, p6)
		sc.peers4, sc.peers6 = p4, p6
	}
	b = append(b, 'e')
	sc.body = b
	writeBody(w, b)
	clear(sc.picks[:cap(sc.picks)]) // drop connection pointers
}

// appendDictPeers appends the BEP 3 list of peer dictionaries, keys sorted.
func appendDictPeers(b []byte, picks []pickedPeer, noPeerID bool) []byte {
	b = append(b, 'l')
	var ipbuf [64]byte
	for _, pp := range picks {
		ip := pp.addr.Addr().AppendTo(ipbuf[:0])
		b = append(b, "d2:ip"...)
		b = appendBytes(b, ip)
		if !noPeerID {
			b = append(b, "7:peer id20:"...)
			b = append(b, pp.id[:]...)
		}
		b = append(b, "4:porti"...)
		b = strconv.AppendUint(b, uint64(pp.addr.Port()), 10)
		b = append(b, "ee"...)
	}
	return append(b, 'e')
}

// appendBytes appends a bencoded string.
func appendBytes(b, s []byte) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, ':')
	return append(b, s...)
}

func writeBody(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["Cache-Control"] = noCache
	w.Write(b)
}

// httpFailure answers with a bencoded failure reason. The status is 200, as
// bittorrent-tracker and opentracker send it: some clients read the body of
// a 200 only.
func (s *Server) httpFailure(w http.ResponseWriter, sc *httpScratch, reason string) {
	s.ctr.httpBad.Add(1)
	b := append(sc.body[:0], "d14:failure reason"...)
	b = appendBytes(b, []byte(reason))
	b = append(b, 'e')
	sc.body = b
	writeBody(w, b)
}

// parseScrapeQuery collects the info_hash parameters of a scrape query.
func parseScrapeQuery(q string, dst [][20]byte, maxHashes int) ([][20]byte, error) {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k != "info_hash" {
			continue
		}
		var h [21]byte
		n, ok := unescapeQuery(h[:], v)
		if !ok || n != 20 {
			return dst, errInvalidInfoHash
		}
		if len(dst) == maxHashes {
			return dst, errTooManyHashes
		}
		dst = append(dst, [20]byte(h[:20]))
	}
	if len(dst) == 0 {
		return dst, errNoInfoHash
	}
	return dst, nil
}

func (s *Server) serveScrape(w http.ResponseWriter, r *http.Request) {
	s.start()
	sc := scratchPool.Get().(*httpScratch)
	defer scratchPool.Put(sc)
	hashes, err := parseScrapeQuery(r.URL.RawQuery, sc.hashes[:0], s.cfg.MaxScrapeHashes)
	sc.hashes = hashes
	if err != nil {
		s.httpFailure(w, sc, err.Error())
		return
	}
	// Dictionary keys must be sorted, and unique.
	slices.SortFunc(hashes, func(a, b [20]byte) int { return bytes.Compare(a[:], b[:]) })
	hashes = slices.Compact(hashes)
	sc.counts = s.scrape(hashes, protoHTTP, sc.counts[:0])
	b := append(sc.body[:0], "d5:filesd"...)
	for i := range hashes {
		c := sc.counts[i]
		b = append(b, "20:"...)
		b = append(b, hashes[i][:]...)
		b = append(b, "d8:completei"...)
		b = strconv.AppendInt(b, int64(c.complete), 10)
		b = append(b, "e10:downloadedi"...)
		b = strconv.AppendInt(b, c.downloaded, 10)
		b = append(b, "e10:incompletei"...)
		b = strconv.AppendInt(b, int64(c.incomplete), 10)
		b = append(b, "ee"...)
	}
	b = append(b, "ee"...)
	sc.body = b
	writeBody(w, b)
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}
