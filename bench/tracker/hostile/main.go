// Command hostile attacks a BitTorrent tracker over HTTP and UDP as a
// hostile client would, for bench/tracker/hostile.sh, which runs it against
// swarmcast, opentracker and bittorrent-tracker in turn on loopback:
//
//	hostile -name NAME -http http://127.0.0.1:P/announce -udp 127.0.0.1:P [-stats URL] -o NAME.json
//	hostile -whitelist          # the info hashes it uses, hex, one a line (opentracker's whitelist)
//	hostile -table A.json B.json ...   # the side-by-side Markdown table
//
// Every attack comes from its own addresses in 127.0.0.0/8, so that one
// address's limits do not spill into the next attack. What each row
// measures is in rows below.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcast/swarmcast/bencode"
)

// Sizes of the attacks, from the issue that measured them: 20,000 peer IDs
// from one ip:port (the test's count; 100,000 gave the same picture), 40
// askers, 1,000 junk datagrams, 20,000 torrents behind /stats, 5,000 new
// torrents from one address.
const (
	takeoverIDs    = 20_000
	askers         = 40
	junkPackets    = 1_000
	statsTorrents  = 20_000
	newTorrents    = 5_000
	statsSamples   = 7
	requestTimeout = 5 * time.Second
)

// Where each attack's info hashes start in the list (-hashes prints them all).
const (
	hashTakeover = 0
	hashRestart  = 1
	hashComplete = 2
	hashSpoof    = 3
	hashLong     = 4
	hashHonestNT = 5
	hashPorts    = 6
	hashStats    = 100
	hashNew      = hashStats + statsTorrents
	numHashes    = hashNew + newTorrents
)

// infoHash is the i-th info hash of the benchmark.
func infoHash(i int) [20]byte {
	return sha1.Sum([]byte("swarmcast hostile " + strconv.Itoa(i)))
}

func peerID(n uint64) [20]byte {
	var id [20]byte
	copy(id[:], "-HO0001-")
	binary.BigEndian.PutUint64(id[12:], n)
	return id
}

// result is one tracker's row values, by row key.
type result struct {
	Name   string            `json:"name"`
	Values map[string]string `json:"values"`
}

// rows are the table's rows: key, label, and which way is better.
var rows = []struct{ key, label string }{
	{"takeover_seen", "one ip:port announces 20,000 peer IDs over UDP, then an honest newcomer: askers handed the newcomer (of 40; more is better)"},
	{"takeover_dups", "… duplicate entries in the 40 askers' answers (fewer is better)"},
	{"takeover_self", "… answers that hand the asker its own address (fewer is better)"},
	{"ports_held", "one IP address announces on 1,000 ports of one torrent over UDP: entries it holds (fewer is better)"},
	{"restart_count", "a client restarts on its ip:port with a new peer ID over HTTP: peers counted (1 is right)"},
	{"restart_self", "… the restarted client handed its own address (no is right)"},
	{"udp_badid", "UDP: 16-byte announce with a made-up connection ID, answer bytes per request byte (≤ 1 is safe)"},
	{"udp_junk_bigger", "UDP: 1,000 junk datagrams of 16–200 bytes: answered with more bytes than they carried (fewer is better)"},
	{"udp_junk_answered", "… answered at all (see the note below the table)"},
	{"stats_ms", "statistics page at 20,000 torrents, median of 7 (ms; lower is better, \"refused\" is safe)"},
	{"new_created", "one address announces 5,000 new torrents over UDP: torrents created (fewer is better)"},
	{"new_other_ok", "… then another address's new torrent is accepted (yes is right)"},
	{"completed_left", "event=completed with left=1000: counted as a seeder and a download (no is right)"},
	{"left_max", "left=18446744073709551615 (2^64-1) accepted (yes is right)"},
	{"long_key", "a 100-byte key accepted (yes is right)"},
	{"ip_spoof", "ip=127.9.9.9 from another address handed out to others (no is right)"},
}

func main() {
	name := flag.String("name", "", "the tracker's name in the table")
	httpURL := flag.String("http", "", "the tracker's HTTP announce `URL`")
	udpAddr := flag.String("udp", "", "the tracker's UDP `HOST:PORT`")
	statsURL := flag.String("stats", "", "the tracker's statistics `URL`, if it has one")
	out := flag.String("o", "", "write the results as JSON to `FILE`")
	whitelist := flag.Bool("whitelist", false, "print the info hashes the attacks use, in hex, one a line, and exit")
	table := flag.Bool("table", false, "print the Markdown table of the result files given as arguments")
	flag.Parse()
	switch {
	case *table:
		if err := printTable(flag.Args()); err != nil {
			fail(err)
		}
		return
	case *whitelist:
		for i := range numHashes {
			h := infoHash(i)
			fmt.Printf("%x\n", h)
		}
		return
	}
	if *name == "" || *httpURL == "" || *udpAddr == "" || *out == "" {
		fail(errors.New("give -name, -http, -udp and -o"))
	}
	server, err := netip.ParseAddrPort(*udpAddr)
	if err != nil {
		fail(err)
	}
	a := &attacker{announce: *httpURL, udp: server, stats: *statsURL, res: result{Name: *name, Values: map[string]string{}}}
	for _, step := range []struct {
		what string
		run  func() error
	}{
		{"takeover", a.takeover},
		{"ports", a.ports},
		{"restart", a.restart},
		{"udp junk", a.udpJunk},
		{"stats", a.statsCost},
		{"new torrents", a.newTorrents},
		{"counting", a.counting},
		{"ip spoofing", a.ipSpoof},
	} {
		start := time.Now()
		if err := step.run(); err != nil {
			fmt.Fprintf(os.Stderr, "hostile: %s: %s: %v\n", *name, step.what, err)
		}
		fmt.Fprintf(os.Stderr, "hostile: %s: %s done in %.1f s\n", *name, step.what, time.Since(start).Seconds())
	}
	b, _ := json.MarshalIndent(a.res, "", "  ")
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hostile:", err)
	os.Exit(1)
}

type attacker struct {
	announce string
	udp      netip.AddrPort
	stats    string
	res      result
}

func (a *attacker) set(key, format string, args ...any) {
	a.res.Values[key] = fmt.Sprintf(format, args...)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ---- UDP ----------------------------------------------------------------

// udpClient is a BEP 15 client on one local address.
type udpClient struct {
	conn   *net.UDPConn
	server *net.UDPAddr
	connID uint64
	txid   uint32
	buf    []byte
}

func newUDP(server netip.AddrPort, local string) (*udpClient, error) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(local), 0)))
	if err != nil {
		return nil, err
	}
	c := &udpClient{conn: conn, server: net.UDPAddrFromAddrPort(server), buf: make([]byte, 4096)}
	pkt := binary.BigEndian.AppendUint64(nil, 0x41727101980)
	pkt = binary.BigEndian.AppendUint32(pkt, 0)
	pkt = binary.BigEndian.AppendUint32(pkt, 0)
	out, err := c.roundTrip(pkt)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	if len(out) < 16 || binary.BigEndian.Uint32(out) != 0 {
		conn.Close()
		return nil, fmt.Errorf("connect answer %x", out)
	}
	c.connID = binary.BigEndian.Uint64(out[8:])
	return c, nil
}

func (c *udpClient) Close() { c.conn.Close() }

// roundTrip sends pkt with a new transaction ID and waits for the answer
// with it, retrying twice (UDP may drop on a busy machine).
func (c *udpClient) roundTrip(pkt []byte) ([]byte, error) {
	c.txid++
	binary.BigEndian.PutUint32(pkt[12:], c.txid)
	for range 3 {
		if _, err := c.conn.WriteToUDP(pkt, c.server); err != nil {
			return nil, err
		}
		c.conn.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, err := c.conn.Read(c.buf)
			if err != nil {
				break
			}
			if n >= 8 && binary.BigEndian.Uint32(c.buf[4:]) == c.txid {
				return c.buf[:n], nil
			}
		}
	}
	return nil, errors.New("no answer")
}

// announce announces and returns the IPv4 peers, the leechers and
// seeders, or the tracker's error.
func (c *udpClient) announce(ih [20]byte, id [20]byte, port uint16, left uint64, event uint32, numWant int32) (peers []netip.AddrPort, leechers, seeders int, err error) {
	pkt := binary.BigEndian.AppendUint64(nil, c.connID)
	pkt = binary.BigEndian.AppendUint32(pkt, 1)
	pkt = binary.BigEndian.AppendUint32(pkt, 0)
	pkt = append(pkt, ih[:]...)
	pkt = append(pkt, id[:]...)
	pkt = binary.BigEndian.AppendUint64(pkt, 0)
	pkt = binary.BigEndian.AppendUint64(pkt, left)
	pkt = binary.BigEndian.AppendUint64(pkt, 0)
	pkt = binary.BigEndian.AppendUint32(pkt, event)
	pkt = binary.BigEndian.AppendUint32(pkt, 0)
	pkt = binary.BigEndian.AppendUint32(pkt, rand32())
	pkt = binary.BigEndian.AppendUint32(pkt, uint32(numWant))
	pkt = binary.BigEndian.AppendUint16(pkt, port)
	out, err := c.roundTrip(pkt)
	if err != nil {
		return nil, 0, 0, err
	}
	switch binary.BigEndian.Uint32(out) {
	case 3:
		return nil, 0, 0, fmt.Errorf("tracker: %s", out[8:])
	case 1:
	default:
		return nil, 0, 0, fmt.Errorf("answer %x", out)
	}
	if len(out) < 20 {
		return nil, 0, 0, fmt.Errorf("short answer %x", out)
	}
	leechers, seeders = int(binary.BigEndian.Uint32(out[12:])), int(binary.BigEndian.Uint32(out[16:]))
	for b := out[20:]; len(b) >= 6; b = b[6:] {
		peers = append(peers, netip.AddrPortFrom(netip.AddrFrom4([4]byte(b)), binary.BigEndian.Uint16(b[4:])))
	}
	return peers, leechers, seeders, nil
}

func rand32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// takeover: one ip:port announces takeoverIDs peer IDs, an honest newcomer
// announces from another address, and askers from a third network count
// whether they are handed the newcomer, duplicates, and themselves.
func (a *attacker) takeover() error {
	ih := infoHash(hashTakeover)
	c, err := newUDP(a.udp, "127.0.10.1")
	if err != nil {
		return err
	}
	defer c.Close()
	for i := range takeoverIDs {
		if _, _, _, err := c.announce(ih, peerID(uint64(i)), 6881, 1000, 2, 0); err != nil {
			return fmt.Errorf("attacker's announce %d: %w", i, err)
		}
	}
	honest, err := newUDP(a.udp, "127.0.11.1")
	if err != nil {
		return err
	}
	defer honest.Close()
	newcomer := netip.MustParseAddrPort("127.0.11.1:7000")
	if _, _, _, err := honest.announce(ih, peerID(1<<40), newcomer.Port(), 1000, 2, 50); err != nil {
		return err
	}
	seen, dups, self := 0, 0, 0
	for i := range askers {
		ip := fmt.Sprintf("127.0.12.%d", i+1)
		asker, err := newUDP(a.udp, ip)
		if err != nil {
			return err
		}
		me := netip.AddrPortFrom(netip.MustParseAddr(ip), 8000)
		peers, _, _, err := asker.announce(ih, peerID(1<<41+uint64(i)), me.Port(), 1000, 2, 50)
		asker.Close()
		if err != nil {
			return err
		}
		distinct := map[netip.AddrPort]bool{}
		for _, p := range peers {
			if distinct[p] {
				dups++
			}
			distinct[p] = true
		}
		if distinct[newcomer] {
			seen++
		}
		if distinct[me] {
			self++
		}
	}
	a.set("takeover_seen", "%d", seen)
	a.set("takeover_dups", "%d", dups)
	a.set("takeover_self", "%d", self)
	return nil
}

// ports: one IP address announces on 1,000 ports; a second address asks
// how many peers the torrent has.
func (a *attacker) ports() error {
	ih := infoHash(hashPorts)
	c, err := newUDP(a.udp, "127.0.20.1")
	if err != nil {
		return err
	}
	defer c.Close()
	for i := range 1000 {
		if _, _, _, err := c.announce(ih, peerID(uint64(i)), uint16(10000+i), 1000, 2, 0); err != nil {
			return err
		}
	}
	asker, err := newUDP(a.udp, "127.0.20.2")
	if err != nil {
		return err
	}
	defer asker.Close()
	_, leechers, seeders, err := asker.announce(ih, peerID(1<<40), 7000, 1000, 2, 0)
	if err != nil {
		return err
	}
	a.set("ports_held", "%d", leechers+seeders-1) // less the asker
	return nil
}

// udpJunk sends the 16-byte bad-ID announce, then junkPackets
// random datagrams of 16–200 bytes, and compares each answer's size with
// its request's.
func (a *attacker) udpJunk() error {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.13.1:0")))
	if err != nil {
		return err
	}
	defer conn.Close()
	server := net.UDPAddrFromAddrPort(a.udp)
	buf := make([]byte, 4096)
	// send writes the packets, then a connect as a fence, and collects the
	// answers until the fence's and a grace period after it (a tracker with
	// several UDP threads may answer out of order).
	send := func(pkts map[uint32][]byte) (answers map[uint32]int, err error) {
		answers = map[uint32]int{}
		for _, p := range pkts {
			if _, err := conn.WriteToUDP(p, server); err != nil {
				return nil, err
			}
		}
		fence := binary.BigEndian.AppendUint64(nil, 0x41727101980)
		fence = binary.BigEndian.AppendUint32(fence, 0)
		fence = binary.BigEndian.AppendUint32(fence, 0xFFFFFFFF)
		if _, err := conn.WriteToUDP(fence, server); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(requestTimeout)
		for {
			conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				if deadline.Before(time.Now().Add(-time.Millisecond)) || errors.Is(err, os.ErrDeadlineExceeded) {
					return answers, nil
				}
				return nil, err
			}
			if n < 8 {
				continue
			}
			txid := binary.BigEndian.Uint32(buf[4:])
			if txid == 0xFFFFFFFF {
				deadline = time.Now().Add(100 * time.Millisecond)
				continue
			}
			answers[txid] = max(answers[txid], n)
		}
	}
	// The packet: action announce, a made-up ID, nothing more.
	bad := binary.BigEndian.AppendUint64(nil, 0x1122334455667788)
	bad = binary.BigEndian.AppendUint32(bad, 1)
	bad = binary.BigEndian.AppendUint32(bad, 1)
	ans, err := send(map[uint32][]byte{1: bad})
	if err != nil {
		return err
	}
	a.set("udp_badid", "%.2f", float64(ans[1])/float64(len(bad)))

	var seed [32]byte
	copy(seed[:], "swarmcast hostile junk")
	pkts := map[uint32][]byte{}
	answered, bigger := 0, 0
	for batch := 0; batch < junkPackets; batch += 50 {
		clear(pkts)
		for i := batch; i < batch+50; i++ {
			h := sha1.Sum(append(seed[:], byte(i), byte(i>>8)))
			n := 16 + int(binary.BigEndian.Uint16(h[:])%185)
			p := make([]byte, n)
			for j := 0; j < n; j += 20 {
				hh := sha1.Sum(append(h[:], byte(j)))
				copy(p[j:], hh[:])
			}
			switch i % 5 { // as the tracker tests: bad-ID announces and scrapes, bad connects, junk
			case 0:
				p = p[:16]
				binary.BigEndian.PutUint32(p[8:], 1)
			case 1:
				binary.BigEndian.PutUint32(p[8:], 2)
			case 2:
				binary.BigEndian.PutUint32(p[8:], 0)
			}
			txid := uint32(i + 2)
			binary.BigEndian.PutUint32(p[12:], txid)
			pkts[txid] = p
		}
		ans, err := send(pkts)
		if err != nil {
			return err
		}
		for txid, n := range ans {
			if p, ok := pkts[txid]; ok {
				answered++
				if n > len(p) {
					bigger++
				}
			}
		}
	}
	a.set("udp_junk_answered", "%.1f%%", 100*float64(answered)/junkPackets)
	a.set("udp_junk_bigger", "%.1f%%", 100*float64(bigger)/junkPackets)
	return nil
}

// newTorrents: one address announces newTorrents torrents nobody else
// has; then another address announces one more.
func (a *attacker) newTorrents() error {
	c, err := newUDP(a.udp, "127.0.14.1")
	if err != nil {
		return err
	}
	defer c.Close()
	created := 0
	for i := range newTorrents {
		if _, _, _, err := c.announce(infoHash(hashNew+i), peerID(1), 6881, 1000, 2, 0); err == nil {
			created++
		}
	}
	a.set("new_created", "%d", created)
	other, err := newUDP(a.udp, "127.0.15.1")
	if err != nil {
		return err
	}
	defer other.Close()
	_, _, _, err = other.announce(infoHash(hashHonestNT), peerID(2), 6881, 1000, 2, 0)
	a.set("new_other_ok", "%s", yesNo(err == nil))
	return nil
}

// ---- HTTP ---------------------------------------------------------------

// httpFrom is an HTTP client whose connections come from ip.
func httpFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: requestTimeout}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: requestTimeout}
}

type announceReply struct {
	Failure    string `bencode:"failure reason"`
	Complete   int    `bencode:"complete"`
	Incomplete int    `bencode:"incomplete"`
	Peers      []byte `bencode:"peers"`
}

type scrapeReply struct {
	Files map[string]struct {
		Complete   int `bencode:"complete"`
		Downloaded int `bencode:"downloaded"`
		Incomplete int `bencode:"incomplete"`
	} `bencode:"files"`
}

// httpAnnounce announces with the given extra query and returns the reply.
func (a *attacker) httpAnnounce(c *http.Client, ih [20]byte, id [20]byte, port int, extra string) (announceReply, error) {
	q := "info_hash=" + url.QueryEscape(string(ih[:])) + "&peer_id=" + url.QueryEscape(string(id[:])) +
		"&port=" + strconv.Itoa(port) + "&uploaded=0&downloaded=0&compact=1&numwant=50" + extra
	if !strings.Contains(extra, "left=") {
		q += "&left=1000"
	}
	var r announceReply
	body, err := get(c, a.announce+"?"+q)
	if err != nil {
		return r, err
	}
	if err := unmarshalLoose(body, &r); err != nil {
		return r, fmt.Errorf("%w: %q", err, body)
	}
	if r.Failure != "" {
		return r, fmt.Errorf("tracker: %s", r.Failure)
	}
	return r, nil
}

func get(c *http.Client, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return body, err
}

// unmarshalLoose decodes a bencoded dictionary, ignoring keys it does not
// know and trailing bytes (some trackers end with a newline).
func unmarshalLoose(b []byte, v any) error {
	_, err := bencode.UnmarshalPrefix(bytes.TrimSpace(b), v)
	return err
}

func compactPeers(b []byte) []netip.AddrPort {
	var ps []netip.AddrPort
	for ; len(b) >= 6; b = b[6:] {
		ps = append(ps, netip.AddrPortFrom(netip.AddrFrom4([4]byte(b)), binary.BigEndian.Uint16(b[4:])))
	}
	return ps
}

// restart: a client announces, restarts with a new peer ID on the same
// ip:port, announces again.
func (a *attacker) restart() error {
	ih := infoHash(hashRestart)
	c := httpFrom("127.0.16.1")
	if _, err := a.httpAnnounce(c, ih, peerID(1), 7001, "&event=started"); err != nil {
		return err
	}
	r, err := a.httpAnnounce(c, ih, peerID(2), 7001, "&event=started")
	if err != nil {
		return err
	}
	a.set("restart_count", "%d", r.Complete+r.Incomplete)
	a.set("restart_self", "%s", yesNo(slices.Contains(compactPeers(r.Peers), netip.MustParseAddrPort("127.0.16.1:7001"))))
	return nil
}

// counting: completed with bytes left, left = 2^64-1, a long key.
func (a *attacker) counting() error {
	ih := infoHash(hashComplete)
	c := httpFrom("127.0.17.1")
	if _, err := a.httpAnnounce(c, ih, peerID(1), 7002, "&event=started"); err != nil {
		return err
	}
	if _, err := a.httpAnnounce(c, ih, peerID(1), 7002, "&event=completed&left=1000"); err != nil {
		return err
	}
	scrapeURL := strings.Replace(a.announce, "/announce", "/scrape", 1) + "?info_hash=" + url.QueryEscape(string(ih[:]))
	body, err := get(c, scrapeURL)
	if err != nil {
		return err
	}
	var s scrapeReply
	if err := unmarshalLoose(body, &s); err != nil {
		return fmt.Errorf("scrape: %w: %q", err, body)
	}
	f := s.Files[string(ih[:])]
	a.set("completed_left", "%s", yesNo(f.Complete > 0 || f.Downloaded > 0))

	_, err = a.httpAnnounce(c, infoHash(hashLong), peerID(2), 7003, "&left=18446744073709551615")
	a.set("left_max", "%s", yesNo(err == nil))
	_, err = a.httpAnnounce(c, infoHash(hashLong), peerID(3), 7004, "&key="+strings.Repeat("k", 100))
	a.set("long_key", "%s", yesNo(err == nil))
	return nil
}

// ipSpoof: a client names another address in "ip"; is it handed out?
func (a *attacker) ipSpoof() error {
	ih := infoHash(hashSpoof)
	if _, err := a.httpAnnounce(httpFrom("127.0.18.1"), ih, peerID(1), 7100, "&ip=127.9.9.9"); err != nil {
		return err
	}
	r, err := a.httpAnnounce(httpFrom("127.0.18.2"), ih, peerID(2), 7101, "")
	if err != nil {
		return err
	}
	a.set("ip_spoof", "%s", yesNo(slices.Contains(compactPeers(r.Peers), netip.MustParseAddrPort("127.9.9.9:7100"))))
	return nil
}

// statsCost fills statsTorrents torrents, from many addresses so that no
// per-source limit is met, and times the statistics page.
func (a *attacker) statsCost() error {
	if a.stats == "" {
		a.set("stats_ms", "none")
		return nil
	}
	var c *udpClient
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for i := range statsTorrents {
		if i%250 == 0 { // a new /24 every 250 torrents
			if c != nil {
				c.Close()
			}
			var err error
			if c, err = newUDP(a.udp, fmt.Sprintf("127.%d.%d.1", 100+i/250/250, i/250%250)); err != nil {
				return err
			}
		}
		if _, _, _, err := c.announce(infoHash(hashStats+i), peerID(uint64(i)), 6881, 1000, 2, 0); err != nil {
			return fmt.Errorf("torrent %d: %w", i, err)
		}
	}
	hc := httpFrom("127.0.19.1")
	var times []time.Duration
	for range statsSamples {
		start := time.Now()
		_, err := get(hc, a.stats)
		if err != nil {
			a.set("stats_ms", "refused (%v)", err)
			return nil
		}
		times = append(times, time.Since(start))
		time.Sleep(1100 * time.Millisecond) // past swarmcast's 1 s cache: each sample is a fresh snapshot
	}
	slices.Sort(times)
	a.set("stats_ms", "%.1f", float64(times[len(times)/2].Microseconds())/1000)
	return nil
}

// printTable prints the rows for the result files.
func printTable(files []string) error {
	var res []result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		res = append(res, r)
	}
	fmt.Print("| attack |")
	for _, r := range res {
		fmt.Printf(" %s |", r.Name)
	}
	fmt.Print("\n|---|")
	for range res {
		fmt.Print("---|")
	}
	fmt.Println()
	for _, row := range rows {
		fmt.Printf("| %s |", row.label)
		for _, r := range res {
			v, ok := r.Values[row.key]
			if !ok {
				v = "failed"
			}
			fmt.Printf(" %s |", v)
		}
		fmt.Println()
	}
	return nil
}
