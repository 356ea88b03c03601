// Package udptracker is a client for UDP BitTorrent trackers (BEP 15), with
// the URL data option of BEP 41 so that private trackers get their passkeys.
//
// A Client serves one udp:// announce URL for any number of torrents over
// one UDP socket, which it opens on first use. One goroutine reads the socket
// and hands each response to the request whose random transaction ID it
// carries, so concurrent announces and scrapes share the socket; packets with
// an unknown transaction ID are dropped. The connection ID from the connect
// exchange is reused for its one-minute lifetime. Requests are retransmitted
// after Timeout·2^n as BEP 15 says, bounded by the caller's context.
package udptracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
)

// Tunables, with their values from BEP 15.
const (
	// DefaultTimeout is the wait before the first retransmission: "If a
	// response is not received after 15 * 2 ^ n seconds, the client should
	// retransmit the request".
	DefaultTimeout = 15 * time.Second
	// DefaultMaxRetransmits is how often a request is sent again: "n starts
	// at 0 and is increased up to 8 (3840 seconds)".
	DefaultMaxRetransmits = 8
	// maxBackoffExponent caps n in Timeout·2^n at BEP 15's 8, whatever
	// MaxRetransmits says, so the wait cannot overflow.
	maxBackoffExponent = 8
	// connectionIDLifetime is how long a connection ID may be used: "A
	// client can use a connection ID until one minute after it has received it".
	connectionIDLifetime = time.Minute
	// MaxScrapeHashes is how many torrents one scrape packet carries: "Up to
	// about 74 torrents can be scraped at once" (BEP 15). Scrape splits longer
	// lists into several requests.
	MaxScrapeHashes = 74
	// maxPacketSize is the largest UDP payload; responses are read whole.
	maxPacketSize = 64 << 10
)

// Errors returned by the Client, for use with errors.Is. A tracker's error
// response comes back as a *tracker.FailureError instead.
var (
	// ErrTimeout is returned when no response came after every retransmission.
	ErrTimeout = errors.New("udptracker: tracker did not respond")
	// ErrMalformedResponse is returned for a response that breaks BEP 15.
	ErrMalformedResponse = errors.New("udptracker: malformed tracker response")
	// ErrBadURL is returned by New for an announce URL it cannot use.
	ErrBadURL = errors.New("udptracker: bad announce URL")
)

// Config configures a Client. The zero value follows BEP 15.
type Config struct {
	// Timeout is the wait for a response before the first retransmission;
	// each retransmission doubles it. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxRetransmits is how many times a request is sent again before
	// ErrTimeout. Zero means DefaultMaxRetransmits; negative means none.
	MaxRetransmits int
	// Logger receives debug logs; nil means no logging.
	Logger *slog.Logger
}

// Client announces to and scrapes one UDP tracker.
type Client struct {
	host           string // host:port of the announce URL
	display        string // the URL without path and query, for errors and logs
	urlData        []byte // BEP 41: path and query of the announce URL
	timeout        time.Duration
	maxRetransmits int
	log            *slog.Logger

	closed  chan struct{} // closed by Close
	dialSem chan struct{} // one dial at a time, interruptible by ctx
	wg      sync.WaitGroup

	mu         sync.Mutex
	isClosed   bool
	conn       *net.UDPConn // nil until the first request
	ipv6       bool
	pending    map[uint32]chan []byte // by transaction ID
	connID     uint64
	connIDAt   time.Time     // zero when there is no connection ID
	connecting chan struct{} // closed when the connect in flight ends
}

var _ tracker.Client = (*Client)(nil)

// New returns a Client for a udp:// announce URL. It does no I/O: the name is
// resolved and the socket opened by the first request.
func New(announceURL string, cfg Config) (*Client, error) {
	u, err := url.Parse(announceURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	if !strings.EqualFold(u.Scheme, "udp") {
		return nil, fmt.Errorf("%w: scheme %q, want udp", ErrBadURL, u.Scheme)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("%w: udp://%s needs a host and a port", ErrBadURL, u.Host)
	}
	c := &Client{
		host:           u.Host,
		display:        "udp://" + u.Host,
		timeout:        cfg.Timeout,
		maxRetransmits: cfg.MaxRetransmits,
		log:            cfg.Logger,
		closed:         make(chan struct{}),
		dialSem:        make(chan struct{}, 1),
		pending:        make(map[uint32]chan []byte),
	}
	if data := u.EscapedPath(); data != "" || u.RawQuery != "" {
		if u.RawQuery != "" {
			data += "?" + u.RawQuery
		}
		c.urlData = []byte(data)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.maxRetransmits == 0:
		c.maxRetransmits = DefaultMaxRetransmits
	case c.maxRetransmits < 0:
		c.maxRetransmits = 0
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Opener returns a tracker.NewFunc that opens UDP trackers with cfg, for
// tracker.Config.Schemes under "udp". The Logger of the tracker.Config fills
// in cfg's when it is nil.
func Opener(cfg Config) tracker.NewFunc {
	return func(announceURL string, tc tracker.Config) (tracker.Client, error) {
		c := cfg
		if c.Logger == nil {
			c.Logger = tc.Logger
		}
		cl, err := New(announceURL, c)
		if err != nil {
			return nil, err
		}
		return cl, nil
	}
}

// Announce sends req to the tracker and returns its answer. A tracker's
// error response comes back as a *tracker.FailureError.
func (c *Client) Announce(ctx context.Context, req tracker.AnnounceRequest) (tracker.AnnounceResponse, error) {
	var ipv6 bool
	pkt, err := c.request(ctx, actionAnnounce, func(b []byte, connID uint64, txid uint32) []byte {
		return appendAnnounce(b, connID, txid, req, c.urlData)
	}, &ipv6)
	if err != nil {
		return tracker.AnnounceResponse{}, c.wrap("announce", err)
	}
	resp, err := parseAnnounce(pkt, ipv6)
	if err != nil {
		return tracker.AnnounceResponse{}, c.wrap("announce", err)
	}
	return resp, nil
}

// Scrape asks the tracker for the swarm counts of infoHashes, in requests of
// up to MaxScrapeHashes torrents. Torrents the tracker leaves out are missing
// from the map.
func (c *Client) Scrape(ctx context.Context, infoHashes []metainfo.Hash) (map[metainfo.Hash]tracker.ScrapeResult, error) {
	out := make(map[metainfo.Hash]tracker.ScrapeResult, len(infoHashes))
	for len(infoHashes) > 0 {
		chunk := infoHashes[:min(len(infoHashes), MaxScrapeHashes)]
		infoHashes = infoHashes[len(chunk):]
		pkt, err := c.request(ctx, actionScrape, func(b []byte, connID uint64, txid uint32) []byte {
			return appendScrape(b, connID, txid, chunk)
		}, nil)
		if err != nil {
			return nil, c.wrap("scrape", err)
		}
		if err := parseScrape(pkt, chunk, out); err != nil {
			return nil, c.wrap("scrape", err)
		}
	}
	return out, nil
}

// Close cancels requests in flight, closes the socket and waits for the
// goroutine that reads it. Calls after Close return tracker.ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.isClosed {
		c.mu.Unlock()
		return nil
	}
	c.isClosed = true
	conn := c.conn
	close(c.closed)
	c.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
	}
	c.wg.Wait()
	return err
}

// wrap adds the operation and tracker to err, leaving a tracker's own
// FailureError and ErrClosed as they are.
func (c *Client) wrap(op string, err error) error {
	var fe *tracker.FailureError
	if errors.As(err, &fe) || errors.Is(err, tracker.ErrClosed) {
		return err
	}
	return fmt.Errorf("udptracker: %s to %s: %w", op, c.display, err)
}

// request sends a packet that build makes and waits for the matching
// response, retransmitting on BEP 15's schedule. build is called for every
// transmission, because the connection ID may expire between them. ipv6, if
// not nil, is set to whether the socket speaks IPv6.
func (c *Client) request(ctx context.Context, action uint32, build func(b []byte, connID uint64, txid uint32) []byte, ipv6 *bool) ([]byte, error) {
	conn, v6, err := c.socket(ctx)
	if err != nil {
		return nil, err
	}
	if ipv6 != nil {
		*ipv6 = v6
	}
	txid, ch, err := c.register()
	if err != nil {
		return nil, err
	}
	defer c.unregister(txid)

	buf := make([]byte, 0, announceSize+len(c.urlData)+2*(len(c.urlData)/maxOptionLen+1))
	for n := 0; ; n++ {
		var pkt []byte
		if action == actionConnect {
			pkt = appendConnect(buf[:0], txid)
		} else {
			connID, err := c.connectionID(ctx)
			if err != nil {
				return nil, err
			}
			pkt = build(buf[:0], connID, txid)
		}
		if _, err := conn.Write(pkt); err != nil {
			if c.closedErr() != nil {
				return nil, tracker.ErrClosed
			}
			// An ICMP error from an earlier packet surfaces on this write;
			// the tracker may be back, so keep to the schedule.
			c.log.Debug("udptracker: write failed", "tracker", c.display, "err", err)
		}
		timer := time.NewTimer(c.timeout << min(n, maxBackoffExponent))
		select {
		case resp := <-ch:
			timer.Stop()
			if err := checkResponse(resp, action, txid); err != nil {
				if action != actionConnect {
					// Trackers answer an expired connection ID with an
					// error; connect again next time.
					c.forgetConnectionID()
				}
				return nil, err
			}
			return resp, nil
		case <-timer.C:
			if n >= c.maxRetransmits {
				return nil, fmt.Errorf("%w after %d transmissions", ErrTimeout, n+1)
			}
			c.log.Debug("udptracker: retransmitting", "tracker", c.display, "action", action, "attempt", n+2)
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-c.closed:
			timer.Stop()
			return nil, tracker.ErrClosed
		}
	}
}

// closedErr returns tracker.ErrClosed after Close.
func (c *Client) closedErr() error {
	select {
	case <-c.closed:
		return tracker.ErrClosed
	default:
		return nil
	}
}

// register picks an unused random transaction ID and a channel for its response.
func (c *Client) register() (uint32, chan []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed {
		return 0, nil, tracker.ErrClosed
	}
	for {
		txid := rand.Uint32()
		if _, used := c.pending[txid]; used {
			continue
		}
		ch := make(chan []byte, 1)
		c.pending[txid] = ch
		return txid, ch, nil
	}
}

func (c *Client) unregister(txid uint32) {
	c.mu.Lock()
	delete(c.pending, txid)
	c.mu.Unlock()
}

// connectionID returns a connection ID younger than a minute, connecting
// when there is none. Concurrent callers share one connect exchange.
func (c *Client) connectionID(ctx context.Context) (uint64, error) {
	for {
		c.mu.Lock()
		if !c.connIDAt.IsZero() && time.Since(c.connIDAt) < connectionIDLifetime {
			id := c.connID
			c.mu.Unlock()
			return id, nil
		}
		if wait := c.connecting; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue // it may have failed under its caller's ctx; look again
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-c.closed:
				return 0, tracker.ErrClosed
			}
		}
		done := make(chan struct{})
		c.connecting = done
		c.mu.Unlock()

		var id uint64
		pkt, err := c.request(ctx, actionConnect, nil, nil)
		if err == nil {
			id, err = parseConnect(pkt)
		}
		c.mu.Lock()
		c.connecting = nil
		if err == nil {
			c.connID, c.connIDAt = id, time.Now()
		}
		c.mu.Unlock()
		close(done)
		return id, err
	}
}

func (c *Client) forgetConnectionID() {
	c.mu.Lock()
	c.connIDAt = time.Time{}
	c.mu.Unlock()
}

// socket returns the client's UDP socket, resolving the tracker's name and
// dialing it the first time.
func (c *Client) socket(ctx context.Context) (*net.UDPConn, bool, error) {
	c.mu.Lock()
	conn, v6, closed := c.conn, c.ipv6, c.isClosed
	c.mu.Unlock()
	if closed {
		return nil, false, tracker.ErrClosed
	}
	if conn != nil {
		return conn, v6, nil
	}
	select {
	case c.dialSem <- struct{}{}:
		defer func() { <-c.dialSem }()
	case <-ctx.Done():
		return nil, false, ctx.Err()
	case <-c.closed:
		return nil, false, tracker.ErrClosed
	}
	c.mu.Lock()
	conn, v6 = c.conn, c.ipv6
	c.mu.Unlock()
	if conn != nil {
		return conn, v6, nil
	}

	addr, err := resolve(ctx, c.host)
	if err != nil {
		return nil, false, err
	}
	// A connected socket makes the kernel drop packets from anyone but the tracker.
	conn, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, false, err
	}
	v6 = addrIsIPv6(addr)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed {
		conn.Close()
		return nil, false, tracker.ErrClosed
	}
	c.conn, c.ipv6 = conn, v6
	c.wg.Add(1)
	go c.readLoop(conn)
	return conn, v6, nil
}

// resolve turns host:port into an address, preferring IPv4, which more UDP
// trackers listen on.
func resolve(ctx context.Context, hostport string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := net.DefaultResolver.LookupPort(ctx, "udp", portStr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no address for %s", host)
	}
	best := addrs[0].Unmap()
	for _, a := range addrs {
		if a.Unmap().Is4() {
			best = a.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(best, uint16(port)), nil
}

// readLoop hands each packet to the request waiting for its transaction ID
// until the socket is closed.
func (c *Client) readLoop(conn *net.UDPConn) {
	defer c.wg.Done()
	buf := make([]byte, maxPacketSize)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || c.closedErr() != nil {
				return
			}
			// ICMP errors (port unreachable) surface here once per packet;
			// requests keep waiting and retransmit.
			c.log.Debug("udptracker: read failed", "tracker", c.display, "err", err)
			continue
		}
		if n < headerSize {
			c.log.Debug("udptracker: dropped short packet", "tracker", c.display, "size", n)
			continue
		}
		txid := uint32(buf[4])<<24 | uint32(buf[5])<<16 | uint32(buf[6])<<8 | uint32(buf[7])
		c.mu.Lock()
		ch := c.pending[txid]
		c.mu.Unlock()
		if ch == nil {
			c.log.Debug("udptracker: dropped packet with unknown transaction ID", "tracker", c.display, "txid", txid)
			continue
		}
		select {
		case ch <- append([]byte(nil), buf[:n]...):
		default: // a duplicate; the first answer stands
		}
	}
}
