package udptracker

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
)

// FuzzParseResponse feeds arbitrary packets to the response checks and
// parsers, as if they answered a connect, an announce and a scrape.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8}, false)
	f.Add(append([]byte{0, 0, 0, 1, 1, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2}, 127, 0, 0, 1, 0x1a, 0xe1), false)
	f.Add(append([]byte{0, 0, 0, 1, 1, 2, 3, 4, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2}, make([]byte, 18)...), true)
	f.Add(append([]byte{0, 0, 0, 2, 1, 2, 3, 4}, make([]byte, 24)...), false)
	f.Add(append([]byte{0, 0, 0, 3, 1, 2, 3, 4}, "banned"...), false)
	f.Add([]byte{0, 0, 0, 1}, false)
	hashes := make([]metainfo.Hash, MaxScrapeHashes)
	for i := range hashes {
		hashes[i][0] = byte(i)
	}
	f.Fuzz(func(t *testing.T, pkt []byte, ipv6 bool) {
		var txid uint32
		if len(pkt) >= headerSize {
			txid = binary.BigEndian.Uint32(pkt[4:])
		}
		for _, action := range []uint32{actionConnect, actionAnnounce, actionScrape} {
			err := checkResponse(pkt, action, txid)
			var fe *tracker.FailureError
			switch {
			case errors.As(err, &fe):
				if fe.Reason != string(pkt[headerSize:]) {
					t.Fatalf("reason %q from %x", fe.Reason, pkt)
				}
				continue
			case err != nil:
				if !errors.Is(err, ErrMalformedResponse) {
					t.Fatalf("checkResponse: %v", err)
				}
				continue
			}
			switch action {
			case actionConnect:
				if _, err := parseConnect(pkt); err != nil && !errors.Is(err, ErrMalformedResponse) {
					t.Fatalf("parseConnect: %v", err)
				}
			case actionAnnounce:
				resp, err := parseAnnounce(pkt, ipv6)
				if err != nil {
					if !errors.Is(err, ErrMalformedResponse) {
						t.Fatalf("parseAnnounce: %v", err)
					}
					continue
				}
				size := tracker.CompactIPv4Size
				if ipv6 {
					size = tracker.CompactIPv6Size
				}
				if len(resp.Peers) != (len(pkt)-announceRespSize)/size || resp.Leechers < 0 || resp.Seeders < 0 {
					t.Fatalf("parseAnnounce(%x) = %+v", pkt, resp)
				}
			case actionScrape:
				out := make(map[metainfo.Hash]tracker.ScrapeResult)
				if err := parseScrape(pkt, hashes, out); err != nil {
					if !errors.Is(err, ErrMalformedResponse) {
						t.Fatalf("parseScrape: %v", err)
					}
					continue
				}
				if want := min(len(hashes), (len(pkt)-headerSize)/scrapeEntrySize); len(out) != want {
					t.Fatalf("parseScrape: %d results, want %d", len(out), want)
				}
			}
		}
	})
}
