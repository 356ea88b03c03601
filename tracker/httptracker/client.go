// Package httptracker is a client for HTTP and HTTPS BitTorrent trackers:
// announce (BEP 3) with compact IPv4 (BEP 23) and IPv6 (BEP 7) peer lists,
// and scrape at the URL that BEP 48 derives from the announce URL.
//
// A Client serves one announce URL for any number of torrents and is safe for
// concurrent use. It keeps the announce URL's own query parameters (private
// trackers put passkeys there) and never prints them in its errors.
package httptracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
)

// DefaultMaxResponseSize caps a tracker's response body when Config leaves
// MaxResponseSize zero. An announce answer with 200 compact peers is about
// 1.2 KB; 4 MiB leaves room for dictionary peer lists and for scrapes of
// thousands of torrents while keeping a hostile tracker from filling memory.
const DefaultMaxResponseSize = 4 << 20

// Errors returned by the Client, for use with errors.Is. A tracker's own
// "failure reason" comes back as a *tracker.FailureError instead.
var (
	// ErrResponseTooLarge is returned for a body larger than the configured maximum.
	ErrResponseTooLarge = errors.New("httptracker: response body too large")
	// ErrStatus is returned for a non-2xx HTTP status without a failure reason.
	ErrStatus = errors.New("httptracker: unexpected HTTP status")
	// ErrMalformedResponse is returned for a body that is not a valid tracker response.
	ErrMalformedResponse = errors.New("httptracker: malformed tracker response")
	// ErrBadURL is returned by New for an announce URL it cannot use.
	ErrBadURL = errors.New("httptracker: bad announce URL")
)

// Config configures a Client. The zero value is ready to use.
type Config struct {
	// HTTPClient sends the requests. Nil means a client of the Client's own,
	// whose idle connections Close shuts; a caller's client is left as it is.
	HTTPClient *http.Client
	// UserAgent is the User-Agent header; empty means tracker.DefaultUserAgent.
	UserAgent string
	// MaxResponseSize caps the response body in bytes; zero or less means
	// DefaultMaxResponseSize.
	MaxResponseSize int64
	// Logger receives debug logs; nil means no logging.
	Logger *slog.Logger
}

// Client announces to and scrapes one HTTP(S) tracker.
type Client struct {
	announceURL *url.URL
	scrapeURL   *url.URL // nil when the tracker has no BEP 48 scrape URL
	hc          *http.Client
	ownHC       bool
	userAgent   string
	maxSize     int64
	log         *slog.Logger

	// closed is cancelled by Close, which cancels every request in flight.
	closed context.Context
	close  context.CancelFunc

	mu         sync.Mutex
	trackerIDs map[metainfo.Hash]string // last "tracker id" per torrent
}

var _ tracker.Client = (*Client)(nil)

// New returns a Client for an http:// or https:// announce URL.
func New(announceURL string, cfg Config) (*Client, error) {
	u, err := url.Parse(announceURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q, want http or https", ErrBadURL, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: %q has no host", ErrBadURL, redact(u))
	}
	u.Fragment, u.RawFragment = "", ""
	c := &Client{
		announceURL: u,
		hc:          cfg.HTTPClient,
		userAgent:   cfg.UserAgent,
		maxSize:     cfg.MaxResponseSize,
		log:         cfg.Logger,
		trackerIDs:  make(map[metainfo.Hash]string),
	}
	if s, ok := scrapeURL(u); ok {
		c.scrapeURL = s
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: newTransport()}
		c.ownHC = true
	}
	if c.userAgent == "" {
		c.userAgent = tracker.DefaultUserAgent
	}
	if c.maxSize <= 0 {
		c.maxSize = DefaultMaxResponseSize
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.closed, c.close = context.WithCancel(context.Background())
	return c, nil
}

// newTransport returns a transport of the Client's own, so that Close can
// shut its idle connections without touching anybody else's.
func newTransport() http.RoundTripper {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{Proxy: http.ProxyFromEnvironment}
}

// Opener returns a tracker.NewFunc that opens HTTP trackers with cfg, for
// tracker.Config.Schemes under "http" and "https". The UserAgent and Logger
// of the tracker.Config fill in those that cfg leaves empty.
func Opener(cfg Config) tracker.NewFunc {
	return func(announceURL string, tc tracker.Config) (tracker.Client, error) {
		c := cfg
		if c.UserAgent == "" {
			c.UserAgent = tc.UserAgent
		}
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

// ScrapeURL returns the scrape URL that BEP 48 derives from an announce URL:
// when the last path element starts with "announce", that word is replaced
// with "scrape" and the query is kept. ok is false when the announce URL does
// not follow that convention, which means the tracker has no scrape.
func ScrapeURL(announceURL string) (scrape string, ok bool) {
	u, err := url.Parse(announceURL)
	if err != nil {
		return "", false
	}
	s, ok := scrapeURL(u)
	if !ok {
		return "", false
	}
	return s.String(), true
}

func scrapeURL(announce *url.URL) (*url.URL, bool) {
	p := announce.EscapedPath()
	i := strings.LastIndexByte(p, '/')
	if i < 0 || !strings.HasPrefix(p[i+1:], "announce") {
		return nil, false
	}
	s := *announce
	escaped := p[:i+1] + "scrape" + p[i+1+len("announce"):]
	path, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, false
	}
	s.Path, s.RawPath = path, escaped
	if s.EscapedPath() != escaped {
		return nil, false
	}
	return &s, true
}

// Announce sends req to the tracker and returns its answer. A tracker's
// "failure reason" comes back as a *tracker.FailureError.
func (c *Client) Announce(ctx context.Context, req tracker.AnnounceRequest) (tracker.AnnounceResponse, error) {
	if req.TrackerID == "" {
		c.mu.Lock()
		req.TrackerID = c.trackerIDs[req.InfoHash]
		c.mu.Unlock()
	}
	u := *c.announceURL
	u.RawQuery = announceQuery(u.RawQuery, req)
	body, err := c.get(ctx, &u, "announce")
	if err != nil {
		return tracker.AnnounceResponse{}, err
	}
	resp, err := parseAnnounce(body)
	if err != nil {
		return tracker.AnnounceResponse{}, err
	}
	c.mu.Lock()
	switch {
	case req.Event == tracker.EventStopped:
		delete(c.trackerIDs, req.InfoHash)
	case resp.TrackerID != "":
		c.trackerIDs[req.InfoHash] = resp.TrackerID
	}
	c.mu.Unlock()
	if resp.Warning != "" {
		c.log.Debug("httptracker: tracker warning", "tracker", redact(c.announceURL), "warning", resp.Warning)
	}
	return resp, nil
}

// Scrape asks the tracker for the swarm counts of infoHashes, all in one
// request. It returns tracker.ErrScrapeUnsupported when the announce URL has
// no BEP 48 scrape URL. Torrents the tracker does not report are missing from
// the map, and so is anything it reports that was not asked for.
func (c *Client) Scrape(ctx context.Context, infoHashes []metainfo.Hash) (map[metainfo.Hash]tracker.ScrapeResult, error) {
	if c.scrapeURL == nil {
		return nil, fmt.Errorf("%w: announce URL %s does not end in \"announce\" (BEP 48)", tracker.ErrScrapeUnsupported, redact(c.announceURL))
	}
	if c.closed.Err() != nil {
		return nil, tracker.ErrClosed
	}
	out := make(map[metainfo.Hash]tracker.ScrapeResult, len(infoHashes))
	if len(infoHashes) == 0 {
		return out, nil
	}
	u := *c.scrapeURL
	u.RawQuery = scrapeQuery(u.RawQuery, infoHashes)
	body, err := c.get(ctx, &u, "scrape")
	if err != nil {
		return nil, err
	}
	all, err := parseScrape(body)
	if err != nil {
		return nil, err
	}
	for _, h := range infoHashes {
		if r, ok := all[h]; ok {
			out[h] = r
		}
	}
	return out, nil
}

// Close cancels requests in flight and, when the Client made its own HTTP
// client, closes its idle connections. Calls after Close return
// tracker.ErrClosed.
func (c *Client) Close() error {
	c.close()
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
	return nil
}

// get fetches u and returns its body, capped at maxSize. A tracker that
// refuses with a failure reason in a non-2xx response yields that reason.
func (c *Client) get(ctx context.Context, u *url.URL, what string) ([]byte, error) {
	if c.closed.Err() != nil {
		return nil, tracker.ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.closed, cancel)
	defer stop()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("httptracker: %s to %s: %w", what, redact(u), err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		if c.closed.Err() != nil {
			return nil, tracker.ErrClosed
		}
		// *url.Error prints the whole URL, passkey included; keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("httptracker: %s to %s: %w", what, redact(u), err)
	}
	defer resp.Body.Close()

	if resp.ContentLength > c.maxSize {
		return nil, fmt.Errorf("%w: %s from %s says %d bytes, limit %d", ErrResponseTooLarge, what, redact(u), resp.ContentLength, c.maxSize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxSize+1))
	if err != nil {
		if c.closed.Err() != nil {
			return nil, tracker.ErrClosed
		}
		return nil, fmt.Errorf("httptracker: %s to %s: reading response: %w", what, redact(u), err)
	}
	if int64(len(body)) > c.maxSize {
		return nil, fmt.Errorf("%w: %s from %s exceeds %d bytes", ErrResponseTooLarge, what, redact(u), c.maxSize)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if reason, ok := failureReason(body); ok {
			return nil, &tracker.FailureError{Reason: reason}
		}
		return nil, fmt.Errorf("%w: %s from %s: %s", ErrStatus, what, redact(u), resp.Status)
	}
	return body, nil
}

// redact returns u without its query and user info, which may hold a
// passkey, for errors and logs.
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

// announceQuery appends the announce parameters of BEP 3 to the announce
// URL's own raw query.
func announceQuery(rawQuery string, req tracker.AnnounceRequest) string {
	b := make([]byte, 0, len(rawQuery)+256)
	b = append(b, rawQuery...)
	param := func(name string) {
		if len(b) > 0 && b[len(b)-1] != '&' {
			b = append(b, '&')
		}
		b = append(b, name...)
		b = append(b, '=')
	}
	param("info_hash")
	b = appendEscaped(b, req.InfoHash[:])
	param("peer_id")
	b = appendEscaped(b, req.PeerID[:])
	param("port")
	b = strconv.AppendUint(b, uint64(req.Port), 10)
	param("uploaded")
	b = strconv.AppendInt(b, req.Uploaded, 10)
	param("downloaded")
	b = strconv.AppendInt(b, req.Downloaded, 10)
	param("left")
	b = strconv.AppendInt(b, req.Left, 10)
	param("compact")
	if req.NoCompact {
		b = append(b, '0')
	} else {
		b = append(b, '1')
	}
	if req.Event != tracker.EventNone {
		param("event")
		b = append(b, req.Event.String()...)
	}
	if req.NoPeers {
		param("numwant")
		b = append(b, '0')
	} else if req.NumWant > 0 {
		param("numwant")
		b = strconv.AppendInt(b, int64(req.NumWant), 10)
	}
	if req.Key != 0 {
		// Trackers compare the key as a string; 8 hex digits is what most clients send.
		param("key")
		b = fmt.Appendf(b, "%08X", req.Key)
	}
	if req.TrackerID != "" {
		param("trackerid")
		b = appendEscaped(b, []byte(req.TrackerID))
	}
	if req.IP.IsValid() {
		param("ip")
		b = appendEscaped(b, []byte(req.IP.Unmap().String()))
	}
	return string(b)
}

// scrapeQuery appends one info_hash parameter per torrent to rawQuery.
func scrapeQuery(rawQuery string, infoHashes []metainfo.Hash) string {
	b := make([]byte, 0, len(rawQuery)+len(infoHashes)*72)
	b = append(b, rawQuery...)
	for _, h := range infoHashes {
		if len(b) > 0 && b[len(b)-1] != '&' {
			b = append(b, '&')
		}
		b = append(b, "info_hash="...)
		b = appendEscaped(b, h[:])
	}
	return string(b)
}

// appendEscaped percent-encodes every byte of s that is not an RFC 3986
// unreserved character, as trackers expect for the binary info_hash and
// peer_id (url.QueryEscape would turn spaces into '+', which some misread).
func appendEscaped(dst, s []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range s {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', hex[c>>4], hex[c&0xF])
	}
	return dst
}
