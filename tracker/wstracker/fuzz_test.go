package wstracker

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/swarmcast/swarmcast/metainfo"
)

// FuzzParseMessage feeds arbitrary frames to the parser, as a hostile
// tracker could: it must not panic, what it returns must be in range, and
// dispatching it to a client must not panic either.
func FuzzParseMessage(f *testing.F) {
	ih := latin1(hashA[:])
	for _, s := range []string{
		`{"complete":0,"incomplete":1,"action":"announce","interval":120,"info_hash":"` + ih + `"}`,
		`{"action":"announce","offer":{"type":"offer","sdp":"v=0\r\n"},"offer_id":"` + ih + `","peer_id":"` + ih + `","info_hash":"` + ih + `"}`,
		`{"action":"announce","answer":{"type":"answer","sdp":"v=0\r\n"},"offer_id":"` + ih + `","peer_id":"` + ih + `","info_hash":"` + ih + `"}`,
		`{"action":"scrape","files":{"` + ih + `":{"complete":1,"incomplete":2,"downloaded":3}},"flags":{"min_request_interval":600}}`,
		`{"failure reason":"invalid info_hash"}`,
		`{"action":"announce","failure reason":"x","info_hash":"` + ih + `","warning message":"w","tracker id":"t","min interval":-5}`,
		`{"action":"announce","interval":1e300,"complete":-1e300,"incomplete":"7"}`,
		`{"action":"scrape","files":[]}`,
		`{"action":"announce","info_hash":"\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100\u0100"}`,
		`[1,2]`, `null`, ``, `{`, `"\ud800"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMessage(data)
		if err != nil {
			if m != nil {
				t.Fatal("message and error")
			}
			return
		}
		if m.interval < 0 || m.minInterval < 0 || m.complete < -1 || m.incomplete < -1 {
			t.Fatalf("out of range: %+v", m)
		}
		for _, r := range m.files {
			if r.Complete < 0 || r.Incomplete < 0 || r.Downloaded < 0 {
				t.Fatalf("scrape counts out of range: %+v", r)
			}
		}
		c := &Client{
			log:      slog.New(slog.DiscardHandler),
			torrents: map[metainfo.Hash]*torrentState{},
			offers:   map[[20]byte]*pendingOffer{},
			waiters: []*waiter{
				{infoHash: m.infoHash, ch: make(chan result, 1)},
				{scrape: true, ch: make(chan result, 1)},
			},
		}
		c.ctx, c.cancel = context.WithCancel(context.Background())
		defer c.cancel()
		c.dispatch(m)
		c.wg.Wait()
	})
}

// FuzzID20 checks that any 20 bytes survive the trip through a JSON binary
// string, and that parsing a binary string accepts exactly 20 characters of
// at most U+00FF.
func FuzzID20(f *testing.F) {
	f.Add([]byte("-SC0001-aaaaaaaaaaaa"), "abc")
	f.Add(make([]byte, 20), "\u00ff\u0100")
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		if len(b) >= 20 {
			id := id20(b[:20])
			enc := id.appendTo(nil)
			var str string
			if err := json.Unmarshal(enc, &str); err != nil {
				t.Fatal(err)
			}
			got, ok := parseID20(str)
			if !ok || got != id {
				t.Fatalf("%x: round trip gave %x, %v", id, got, ok)
			}
		}
		if got, ok := parseID20(s); ok {
			if latin1(got[:]) != s {
				t.Fatalf("parseID20(%q) = %x, which encodes differently", s, got)
			}
		}
	})
}
