package udptracker

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
)

// Wire constants of BEP 15 and BEP 41.
const (
	// protocolID is the magic number that opens a connect request (BEP 15).
	protocolID = 0x41727101980

	actionConnect  = 0
	actionAnnounce = 1
	actionScrape   = 2
	actionError    = 3

	// headerSize is action and transaction ID, which start every response.
	headerSize = 8
	// connectSize is the size of a connect request and of its response.
	connectSize = 16
	// announceSize is the size of an announce request without BEP 41 options.
	announceSize = 98
	// announceRespSize is the fixed part of an announce response, before the peers.
	announceRespSize = 20
	// scrapeEntrySize is seeders, completed and leechers of one torrent.
	scrapeEntrySize = 12

	// optionURLData carries the path and query of the announce URL (BEP 41).
	optionURLData = 2
	// maxOptionLen is the most one option can carry: its length is one byte.
	maxOptionLen = 255
)

// appendConnect appends a connect request.
func appendConnect(b []byte, txid uint32) []byte {
	b = binary.BigEndian.AppendUint64(b, protocolID)
	b = binary.BigEndian.AppendUint32(b, actionConnect)
	return binary.BigEndian.AppendUint32(b, txid)
}

// appendAnnounce appends an announce request with urlData as BEP 41 options.
func appendAnnounce(b []byte, connID uint64, txid uint32, req tracker.AnnounceRequest, urlData []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, connID)
	b = binary.BigEndian.AppendUint32(b, actionAnnounce)
	b = binary.BigEndian.AppendUint32(b, txid)
	b = append(b, req.InfoHash[:]...)
	b = append(b, req.PeerID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(req.Downloaded))
	b = binary.BigEndian.AppendUint64(b, uint64(req.Left))
	b = binary.BigEndian.AppendUint64(b, uint64(req.Uploaded))
	b = binary.BigEndian.AppendUint32(b, uint32(req.Event))
	// The IP field is 32 bits wide even over IPv6, so only an IPv4 address fits (BEP 15).
	var ip [4]byte
	if a := req.IP.Unmap(); a.Is4() {
		ip = a.As4()
	}
	b = append(b, ip[:]...)
	b = binary.BigEndian.AppendUint32(b, req.Key)
	numWant := int32(-1) // the tracker's default
	if req.NoPeers {
		numWant = 0
	} else if req.NumWant > 0 {
		numWant = int32(min(req.NumWant, math.MaxInt32))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(numWant))
	b = binary.BigEndian.AppendUint16(b, req.Port)
	for len(urlData) > 0 {
		n := min(len(urlData), maxOptionLen)
		b = append(b, optionURLData, byte(n))
		b = append(b, urlData[:n]...)
		urlData = urlData[n:]
	}
	return b
}

// appendScrape appends a scrape request for at most MaxScrapeHashes torrents.
func appendScrape(b []byte, connID uint64, txid uint32, infoHashes []metainfo.Hash) []byte {
	b = binary.BigEndian.AppendUint64(b, connID)
	b = binary.BigEndian.AppendUint32(b, actionScrape)
	b = binary.BigEndian.AppendUint32(b, txid)
	for _, h := range infoHashes {
		b = append(b, h[:]...)
	}
	return b
}

// checkResponse checks a response's header against the request it answers.
// An error response becomes a *tracker.FailureError.
func checkResponse(pkt []byte, action, txid uint32) error {
	if len(pkt) < headerSize {
		return fmt.Errorf("%w: %d-byte packet", ErrMalformedResponse, len(pkt))
	}
	if got := binary.BigEndian.Uint32(pkt[4:]); got != txid {
		return fmt.Errorf("%w: transaction ID %#x, want %#x", ErrMalformedResponse, got, txid)
	}
	switch got := binary.BigEndian.Uint32(pkt); got {
	case action:
		return nil
	case actionError:
		return &tracker.FailureError{Reason: string(pkt[headerSize:])}
	default:
		return fmt.Errorf("%w: action %d in answer to action %d", ErrMalformedResponse, got, action)
	}
}

// parseConnect returns the connection ID of a checked connect response.
func parseConnect(pkt []byte) (uint64, error) {
	if len(pkt) < connectSize {
		return 0, fmt.Errorf("%w: connect response of %d bytes, want %d", ErrMalformedResponse, len(pkt), connectSize)
	}
	return binary.BigEndian.Uint64(pkt[headerSize:]), nil
}

// parseAnnounce decodes a checked announce response. Peers are 6 bytes each
// over IPv4 and 18 bytes over IPv6: BEP 15 picks the format by the address
// family of the packet.
func parseAnnounce(pkt []byte, ipv6 bool) (tracker.AnnounceResponse, error) {
	if len(pkt) < announceRespSize {
		return tracker.AnnounceResponse{}, fmt.Errorf("%w: announce response of %d bytes, want at least %d", ErrMalformedResponse, len(pkt), announceRespSize)
	}
	resp := tracker.AnnounceResponse{
		Interval: time.Duration(binary.BigEndian.Uint32(pkt[8:])) * time.Second,
		Leechers: clampCount(binary.BigEndian.Uint32(pkt[12:])),
		Seeders:  clampCount(binary.BigEndian.Uint32(pkt[16:])),
	}
	var err error
	if ipv6 {
		resp.Peers, err = tracker.ParseCompactIPv6(pkt[announceRespSize:])
	} else {
		resp.Peers, err = tracker.ParseCompactIPv4(pkt[announceRespSize:])
	}
	if err != nil {
		return tracker.AnnounceResponse{}, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	return resp, nil
}

// parseScrape decodes a checked scrape response for infoHashes, whose
// entries come in the order of the request. A tracker that sends fewer
// entries leaves the rest out of out; extra entries are ignored.
func parseScrape(pkt []byte, infoHashes []metainfo.Hash, out map[metainfo.Hash]tracker.ScrapeResult) error {
	body := pkt[min(len(pkt), headerSize):]
	if len(pkt) < headerSize || len(body)%scrapeEntrySize != 0 {
		return fmt.Errorf("%w: scrape response of %d bytes is not %d plus %d per torrent", ErrMalformedResponse, len(pkt), headerSize, scrapeEntrySize)
	}
	for i := 0; i < len(infoHashes) && len(body) > 0; i++ {
		out[infoHashes[i]] = tracker.ScrapeResult{
			Complete:   clampCount(binary.BigEndian.Uint32(body)),
			Downloaded: clampCount(binary.BigEndian.Uint32(body[4:])),
			Incomplete: clampCount(binary.BigEndian.Uint32(body[8:])),
		}
		body = body[scrapeEntrySize:]
	}
	return nil
}

// clampCount keeps a tracker's count within [0, MaxInt32], so it fits an int
// on every platform.
func clampCount(n uint32) int {
	return int(min(n, math.MaxInt32))
}

// addrIsIPv6 reports whether packets to a travel over IPv6.
func addrIsIPv6(a netip.AddrPort) bool {
	return !a.Addr().Unmap().Is4()
}
