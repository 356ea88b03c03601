package httptracker

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
)

// maxIntervalSeconds caps the intervals a tracker sends so that converting
// them to a time.Duration cannot overflow; 2^31-1 s is 68 years, and the
// UDP protocol (BEP 15) cannot express more than 2^32-1 either.
const maxIntervalSeconds = math.MaxInt32

// announceBody is the bencoded dictionary of an announce response (BEP 3,
// BEP 7, BEP 23). Pointers tell a missing key from a zero.
type announceBody struct {
	FailureReason *string            `bencode:"failure reason"`
	Warning       string             `bencode:"warning message"`
	Interval      int64              `bencode:"interval"`
	MinInterval   int64              `bencode:"min interval"`
	TrackerID     string             `bencode:"tracker id"`
	Complete      *int64             `bencode:"complete"`
	Incomplete    *int64             `bencode:"incomplete"`
	Peers         bencode.RawMessage `bencode:"peers"`
	Peers6        bencode.RawMessage `bencode:"peers6"`
}

// dictPeer is one peer of the dictionary peer list of BEP 3.
type dictPeer struct {
	IP     string `bencode:"ip"`
	Port   int64  `bencode:"port"`
	PeerID string `bencode:"peer id"`
}

// failureOnly decodes just the failure reason, for error responses whose
// other keys may not fit announceBody.
type failureOnly struct {
	FailureReason *string `bencode:"failure reason"`
}

// failureReason reports the "failure reason" of a bencoded body, if it has one.
func failureReason(body []byte) (string, bool) {
	var f failureOnly
	// Type errors elsewhere in the dictionary do not matter here.
	_, _ = bencode.UnmarshalPrefix(body, &f)
	if f.FailureReason == nil {
		return "", false
	}
	return *f.FailureReason, true
}

// parseAnnounce decodes an announce response body. Bytes after the bencoded
// dictionary (some trackers add a newline) are ignored.
func parseAnnounce(body []byte) (tracker.AnnounceResponse, error) {
	if reason, ok := failureReason(body); ok {
		return tracker.AnnounceResponse{}, &tracker.FailureError{Reason: reason}
	}
	var b announceBody
	if _, err := bencode.UnmarshalPrefix(body, &b); err != nil {
		return tracker.AnnounceResponse{}, fmt.Errorf("%w: announce: %w", ErrMalformedResponse, err)
	}
	resp := tracker.AnnounceResponse{
		Interval:    seconds(b.Interval),
		MinInterval: seconds(b.MinInterval),
		Leechers:    count(b.Incomplete),
		Seeders:     count(b.Complete),
		TrackerID:   b.TrackerID,
		Warning:     b.Warning,
	}
	if len(b.Peers) > 0 {
		if err := parsePeers(b.Peers, &resp); err != nil {
			return tracker.AnnounceResponse{}, err
		}
	}
	if len(b.Peers6) > 0 {
		var s []byte
		if err := bencode.Unmarshal(b.Peers6, &s); err != nil {
			return tracker.AnnounceResponse{}, fmt.Errorf("%w: peers6 is not a string: %w", ErrMalformedResponse, err)
		}
		peers, err := tracker.ParseCompactIPv6(s)
		if err != nil {
			return tracker.AnnounceResponse{}, fmt.Errorf("%w: peers6: %w", ErrMalformedResponse, err)
		}
		resp.Peers = append(resp.Peers, peers...)
	}
	return resp, nil
}

// parsePeers adds the peers of a "peers" value, a compact string (BEP 23) or
// a list of dictionaries (BEP 3), to resp.
func parsePeers(raw bencode.RawMessage, resp *tracker.AnnounceResponse) error {
	switch c := raw[0]; {
	case '0' <= c && c <= '9':
		var s []byte
		if err := bencode.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("%w: peers: %w", ErrMalformedResponse, err)
		}
		peers, err := tracker.ParseCompactIPv4(s)
		if err != nil {
			return fmt.Errorf("%w: peers: %w", ErrMalformedResponse, err)
		}
		resp.Peers = append(resp.Peers, peers...)
		return nil
	case c == 'l':
		var list []bencode.RawMessage
		if err := bencode.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("%w: peers: %w", ErrMalformedResponse, err)
		}
		for _, item := range list {
			// One bad entry should not cost the others: skip it.
			var p dictPeer
			if err := bencode.Unmarshal(item, &p); err != nil {
				continue
			}
			addr, err := netip.ParseAddr(p.IP)
			if err != nil || p.Port < 0 || p.Port > math.MaxUint16 {
				// A DNS name is allowed by BEP 3 but would need a lookup;
				// no tracker in use sends one.
				continue
			}
			ap := netip.AddrPortFrom(addr.Unmap().WithZone(""), uint16(p.Port))
			resp.Peers = append(resp.Peers, ap)
			if len(p.PeerID) == 20 {
				if resp.PeerIDs == nil {
					resp.PeerIDs = make(map[netip.AddrPort][20]byte)
				}
				resp.PeerIDs[ap] = [20]byte([]byte(p.PeerID))
			}
		}
		return nil
	default:
		return fmt.Errorf("%w: peers is neither a string nor a list", ErrMalformedResponse)
	}
}

// scrapeBody is the bencoded dictionary of a scrape response (BEP 48).
type scrapeBody struct {
	Files map[string]bencode.RawMessage `bencode:"files"`
}

// scrapeFile is one torrent's entry in a scrape response.
type scrapeFile struct {
	Complete   int64 `bencode:"complete"`
	Incomplete int64 `bencode:"incomplete"`
	Downloaded int64 `bencode:"downloaded"`
}

// parseScrape decodes a scrape response body. Entries that are not keyed by
// a 20-byte info hash, or whose counts are not integers, are skipped.
func parseScrape(body []byte) (map[metainfo.Hash]tracker.ScrapeResult, error) {
	if reason, ok := failureReason(body); ok {
		return nil, &tracker.FailureError{Reason: reason}
	}
	var b scrapeBody
	if _, err := bencode.UnmarshalPrefix(body, &b); err != nil {
		return nil, fmt.Errorf("%w: scrape: %w", ErrMalformedResponse, err)
	}
	out := make(map[metainfo.Hash]tracker.ScrapeResult, len(b.Files))
	for k, raw := range b.Files {
		if len(k) != metainfo.HashSize {
			continue
		}
		var f scrapeFile
		if err := bencode.Unmarshal(raw, &f); err != nil {
			continue
		}
		out[metainfo.Hash([]byte(k))] = tracker.ScrapeResult{
			Complete:   clampCount(f.Complete),
			Incomplete: clampCount(f.Incomplete),
			Downloaded: clampCount(f.Downloaded),
		}
	}
	return out, nil
}

// seconds converts a tracker's interval to a Duration, clamped to
// [0, maxIntervalSeconds].
func seconds(s int64) time.Duration {
	return time.Duration(min(max(s, 0), maxIntervalSeconds)) * time.Second
}

// count converts an optional peer count, -1 when missing.
func count(n *int64) int {
	if n == nil {
		return -1
	}
	return clampCount(*n)
}

// clampCount keeps a tracker's count within [0, MaxInt32], so it fits an int
// on every platform.
func clampCount(n int64) int {
	return int(min(max(n, 0), math.MaxInt32))
}
