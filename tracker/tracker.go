package tracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
)

// DefaultUserAgent is the User-Agent that HTTP and WebSocket tracker clients
// send when their Config leaves it empty.
const DefaultUserAgent = "swarmcast/0.1"

// Sentinel errors shared by all implementations, for use with errors.Is.
var (
	// ErrUnsupportedScheme is returned by New for an announce URL whose
	// scheme has no entry in Config.Schemes.
	ErrUnsupportedScheme = errors.New("tracker: unsupported announce URL scheme")

	// ErrScrapeUnsupported is returned by Scrape when the tracker has no
	// scrape endpoint (for HTTP, when the announce URL does not follow the
	// BEP 48 convention).
	ErrScrapeUnsupported = errors.New("tracker: tracker does not support scrape")

	// ErrClosed is returned by a Client's methods after Close.
	ErrClosed = errors.New("tracker: client closed")
)

// Event tells the tracker why a client announces. Its values are the ones
// BEP 15 puts on the wire, so UDP clients can send them as they are.
type Event int32

// The announce events of BEP 3.
const (
	// EventNone is a regular announce at the tracker's interval.
	EventNone Event = 0
	// EventCompleted is sent once, when the download finishes.
	EventCompleted Event = 1
	// EventStarted is sent with the first announce of a torrent.
	EventStarted Event = 2
	// EventStopped is sent when the client stops the torrent.
	EventStopped Event = 3
)

// String returns the event as HTTP trackers spell it ("started",
// "completed", "stopped"), or "none" for EventNone.
func (e Event) String() string {
	switch e {
	case EventNone:
		return "none"
	case EventCompleted:
		return "completed"
	case EventStarted:
		return "started"
	case EventStopped:
		return "stopped"
	}
	return fmt.Sprintf("Event(%d)", int32(e))
}

// AnnounceRequest is what a client tells a tracker about one torrent.
type AnnounceRequest struct {
	// InfoHash identifies the torrent.
	InfoHash metainfo.Hash
	// PeerID is this client's peer ID.
	PeerID [20]byte
	// Port is the port this client accepts peer connections on.
	Port uint16
	// Uploaded, Downloaded and Left are byte counts since the "started"
	// event, as BEP 3 defines them.
	Uploaded, Downloaded, Left int64
	// Event is why the client announces; the zero value is a regular announce.
	Event Event
	// NumWant is how many peers the client asks for; zero or less asks for
	// the tracker's default.
	NumWant int
	// NoPeers asks for no peers at all (numwant 0), overriding NumWant: an
	// announce only to be counted, as when the client is connected to every
	// peer the tracker holds. The WebSocket tracker client then sends no
	// offers.
	NoPeers bool
	// Key is a random number that lets a tracker recognise this client across
	// address changes; it should stay the same for the client's lifetime.
	// Zero means no key is sent to HTTP trackers.
	Key uint32
	// IP is the address to announce instead of the packet's source address;
	// the zero value lets the tracker use the source address. UDP trackers
	// only take an IPv4 address here (BEP 15).
	IP netip.Addr
	// NoCompact asks an HTTP tracker for the dictionary peer list of BEP 3
	// instead of the compact one of BEP 23. The zero value asks for compact,
	// which every current tracker supports.
	NoCompact bool
	// TrackerID is the "tracker id" from an earlier response, for HTTP
	// trackers that hand one out. HTTP clients remember it per torrent on
	// their own, so callers only need it to override what the client keeps.
	TrackerID string
}

// AnnounceResponse is a tracker's answer to an announce.
type AnnounceResponse struct {
	// Interval is how long the client should wait before the next regular announce.
	Interval time.Duration
	// MinInterval, when not zero, is the shortest wait the tracker allows.
	MinInterval time.Duration
	// Leechers and Seeders count the swarm's peers; -1 when the tracker did not say.
	Leechers, Seeders int
	// Peers are the addresses of other peers, IPv4 and IPv6 alike.
	Peers []netip.AddrPort
	// PeerIDs holds the peer IDs the tracker gave (dictionary peer lists
	// only), keyed by address. It is nil when there are none.
	PeerIDs map[netip.AddrPort][20]byte
	// TrackerID is the tracker's "tracker id", if it sent one.
	TrackerID string
	// Warning is the tracker's "warning message", if it sent one.
	Warning string
}

// ScrapeResult is a tracker's count of one torrent's swarm.
type ScrapeResult struct {
	// Complete is the number of seeders.
	Complete int
	// Incomplete is the number of leechers.
	Incomplete int
	// Downloaded is how many times the torrent has been downloaded completely.
	Downloaded int
}

// Client talks to one tracker, for any number of torrents. Its methods are
// safe for concurrent use, and every call is bounded by its context.
type Client interface {
	// Announce tells the tracker about one torrent and returns peers.
	// A tracker's refusal comes back as a *FailureError.
	Announce(ctx context.Context, req AnnounceRequest) (AnnounceResponse, error)
	// Scrape asks for the swarm counts of the given torrents. Torrents the
	// tracker does not know are missing from the map. It returns
	// ErrScrapeUnsupported when the tracker has no scrape endpoint.
	Scrape(ctx context.Context, infoHashes []metainfo.Hash) (map[metainfo.Hash]ScrapeResult, error)
	// Close cancels calls in flight and releases the client's resources.
	Close() error
}

// FailureError is a tracker's "failure reason" (or, over UDP, its error
// message): the tracker was reached and refused the request. Callers can
// tell it from a network error with errors.As.
type FailureError struct {
	// Reason is the tracker's text, as it sent it.
	Reason string
}

// Error returns the reason with a prefix saying it came from the tracker.
func (e *FailureError) Error() string {
	return "tracker: tracker refused the request: " + e.Reason
}

// NewFunc opens a Client for one announce URL. The implementations export a
// function that returns one (httptracker.Opener, udptracker.Opener).
type NewFunc func(announceURL string, cfg Config) (Client, error)

// Schemes maps a lowercase URL scheme ("http", "udp") to the NewFunc that
// opens trackers with that scheme.
type Schemes map[string]NewFunc

// Config configures New. The zero value opens nothing: a program lists the
// implementations it links in Schemes (see the package documentation).
type Config struct {
	// Schemes picks the implementation for an announce URL's scheme.
	Schemes Schemes
	// UserAgent is passed on to implementations that send one; they fall back
	// to DefaultUserAgent when it is empty.
	UserAgent string
	// Logger receives debug logs from implementations; nil means no logging.
	Logger *slog.Logger
}

// New opens a Client for announceURL with the implementation that
// cfg.Schemes gives for the URL's scheme.
func New(announceURL string, cfg Config) (Client, error) {
	u, err := url.Parse(announceURL)
	if err != nil {
		return nil, fmt.Errorf("tracker: announce URL: %w", err)
	}
	scheme := strings.ToLower(u.Scheme)
	if open, ok := cfg.Schemes[scheme]; ok && open != nil {
		return open(announceURL, cfg)
	}
	switch scheme {
	case "ws", "wss":
		return nil, fmt.Errorf("%w %q: WebSocket trackers are not supported yet; use an http, https or udp tracker", ErrUnsupportedScheme, scheme)
	case "":
		return nil, fmt.Errorf("%w: announce URL %q has no scheme", ErrUnsupportedScheme, announceURL)
	}
	return nil, fmt.Errorf("%w %q: no tracker client for it in Config.Schemes", ErrUnsupportedScheme, scheme)
}
