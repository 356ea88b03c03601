package httptracker

import (
	"errors"
	"testing"

	"github.com/swarmcast/swarmcast/tracker"
)

// FuzzParseAnnounce feeds arbitrary bodies to the announce parser: it must
// not panic, and what it returns must be sane.
func FuzzParseAnnounce(f *testing.F) {
	for _, s := range []string{
		"d8:intervali1800e12:min intervali60e8:completei3e10:incompletei7e5:peers6:\x7f\x00\x00\x01\x1a\xe1e",
		"d8:intervali60e5:peersld2:ip8:10.0.0.17:peer id20:-XX0001-0000000000014:porti6881eeee",
		"d5:peers0:6:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e",
		"d14:failure reason3:bade",
		"d15:warning message4:warn10:tracker id3:abc8:intervali-5ee",
		"d5:peersi3ee",
		"d5:peersd1:ai1eee",
		"le",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := parseAnnounce(body)
		if err != nil {
			var fe *tracker.FailureError
			if !errors.As(err, &fe) && !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v is neither a FailureError nor ErrMalformedResponse", err)
			}
			return
		}
		if resp.Interval < 0 || resp.MinInterval < 0 || resp.Leechers < -1 || resp.Seeders < -1 {
			t.Fatalf("out of range: %+v", resp)
		}
		for ap := range resp.PeerIDs {
			found := false
			for _, p := range resp.Peers {
				found = found || p == ap
			}
			if !found {
				t.Fatalf("peer ID for %v, which is not among the peers", ap)
			}
		}
		for _, p := range resp.Peers {
			if !p.Addr().IsValid() || p.Addr().Is4In6() {
				t.Fatalf("bad peer address %v", p)
			}
		}
	})
}

// FuzzParseScrape feeds arbitrary bodies to the scrape parser.
func FuzzParseScrape(f *testing.F) {
	for _, s := range []string{
		"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei5e10:downloadedi50e10:incompletei10eeee",
		"d5:filesd5:shortd8:completei1eeee",
		"d5:filesd20:aaaaaaaaaaaaaaaaaaaai3eee",
		"d14:failure reason3:bade",
		"d5:filesi3ee",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseScrape(body)
		if err != nil {
			var fe *tracker.FailureError
			if !errors.As(err, &fe) && !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v is neither a FailureError nor ErrMalformedResponse", err)
			}
			return
		}
		for h, r := range got {
			if r.Complete < 0 || r.Incomplete < 0 || r.Downloaded < 0 {
				t.Fatalf("negative counts for %v: %+v", h, r)
			}
		}
	})
}
