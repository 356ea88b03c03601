package trackerserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func wsSeeds(f *testing.F) {
	ih, id := hash20(1), hash20(2)
	f.Add(webTorrentAnnounce(f, ih, id, 0))
	f.Add(webTorrentAnnounce(f, ih, id, 2))
	f.Add([]byte(`{"action":"scrape","info_hash":["aaaaaaaaaaaaaaaaaaaa","bbbbbbbbbbbbbbbbbbbb"]}`))
	f.Add([]byte(`{"action":"announce","info_hash":"\u0000\u00ff\"\\aaaaaaaaaaaaaaaa","peer_id":"bbbbbbbbbbbbbbbbbbbb","answer":{"type":"answer","sdp":"v=0\r\n"},"to_peer_id":"cccccccccccccccccccc","offer_id":"\u00e9dddddddddddddddddd"}`))
	f.Add([]byte(`{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaa","peer_id":"bbbbbbbbbbbbbbbbbbbb","left":"0","event":null,"offers":null}`))
	f.Add([]byte(`{"a":[1,-2.5e+3,true,false,null,{"b":[]}],"action":"scrape","info_hash":"aaaaaaaaaaaaaaaaaaaa"}`))
	f.Add([]byte(`{"act\u0069on":"announce"}`))
	f.Add([]byte(`[[[[[[[[]]]]]]]]`))
}

// FuzzParseWSMessage checks the WebSocket parser against encoding/json:
// what it accepts is valid JSON, the ranges it relays are valid JSON
// values, and the IDs it decodes are the ones encoding/json decodes.
func FuzzParseWSMessage(f *testing.F) {
	wsSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m wsMessage
		err := parseWSMessage(data, &m, 3, 5)
		valid := json.Valid(data) && utf8.Valid(data)
		if err == errInvalidJSON {
			if valid && data[skipSpace(data, 0)] == '{' && bytes.Count(data, []byte("[")) < maxJSONDepth-2 && bytes.Count(data, []byte("{")) < maxJSONDepth-2 {
				t.Fatalf("valid JSON refused: %q", data)
			}
			return
		}
		if err != nil {
			return // refused, for a reason other than its syntax
		}
		if !valid {
			t.Fatalf("invalid JSON accepted: %q", data)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		str := func(k string) []byte {
			var s string
			if err := json.Unmarshal(raw[k], &s); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			return unbin(t, s)
		}
		switch m.action {
		case actionAnnounce:
			if !bytes.Equal(str("info_hash"), m.infoHash[:]) || !bytes.Equal(str("peer_id"), m.peerID[:]) {
				t.Fatalf("IDs decoded differently: %q", data)
			}
			if len(m.offers) > 3 {
				t.Fatalf("%d offers kept", len(m.offers))
			}
			for _, o := range m.offers {
				if !json.Valid(o.offer) || !json.Valid(o.offerID) || o.offerID[0] != '"' {
					t.Fatalf("offer ranges %q %q", o.offer, o.offerID)
				}
			}
			if m.answer != nil {
				if !json.Valid(m.answer) || !json.Valid(m.offerID) || !bytes.Equal(str("to_peer_id"), m.toPeerID[:]) {
					t.Fatalf("answer ranges %q %q", m.answer, m.offerID)
				}
			}
		case actionScrape:
			if len(m.scrape) == 0 || len(m.scrape) > 5 {
				t.Fatalf("%d hashes", len(m.scrape))
			}
		default:
			t.Fatalf("action %d", m.action)
		}
	})
}

// FuzzBinaryString: appendBinaryString writes what JSON.stringify would,
// which encoding/json and decodeLatin1 both read back.
func FuzzBinaryString(f *testing.F) {
	f.Add([]byte{0, '"', '\\', 0x7f, 0x80, 0xff, '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		enc := appendBinaryString(nil, b)
		var s string
		if err := json.Unmarshal(enc, &s); err != nil {
			t.Fatalf("%q: %v", enc, err)
		}
		if !bytes.Equal(unbin(t, s), b) {
			t.Fatalf("encoding/json reads %q back as %q", b, s)
		}
		dst := make([]byte, len(b))
		n, ok := decodeLatin1(enc, dst)
		if !ok || !bytes.Equal(dst[:n], b) {
			t.Fatalf("decodeLatin1 %q: %q %v", enc, dst[:n], ok)
		}
		if end, _, ok := scanString(enc, 0); !ok || end != len(enc) {
			t.Fatalf("scanString %q: %d %v", enc, end, ok)
		}
	})
}

// FuzzAnnounceQuery checks the HTTP query parsers against net/url.
func FuzzAnnounceQuery(f *testing.F) {
	f.Add("info_hash=%01%02%03%04%05%06%07%08%09%10%11%12%13%14%15%16%17%18%19%20&peer_id=-SC0001-abcdefghijkl&port=6881&left=0&event=started&numwant=5&key=ABCD1234&compact=1")
	f.Add("info_hash=aaaaaaaaaaaaaaaaaaaa&info_hash=bbbbbbbbbbbbbbbbbbbb")
	f.Add("peer_id=%zz&port=-1&ip=::1")
	f.Add("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1&left=18446744073709551615&key=" + strings.Repeat("k", 80) + "&ip=" + strings.Repeat("1", 80))
	f.Add("info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1&left=18446744073709551616")
	f.Fuzz(func(t *testing.T, q string) {
		var a httpAnnounce
		err := parseAnnounceQuery(q, &a)
		hashes, serr := parseScrapeQuery(q, nil, 10)
		vals, uerr := url.ParseQuery(q)
		if uerr != nil {
			return
		}
		if err == nil {
			ih := vals["info_hash"]
			if len(ih) == 0 || ih[len(ih)-1] != string(a.infoHash[:]) {
				t.Fatalf("info_hash %q, net/url %q", a.infoHash, ih)
			}
			if a.port <= 0 || a.port > 65535 {
				t.Fatalf("port %d", a.port)
			}
			// "left" is any uint64 (or negative, meaning unknown), as strconv reads it.
			if l := vals["left"]; len(l) > 0 {
				v := l[len(l)-1]
				n, perr := strconv.ParseUint(v, 10, 64)
				switch {
				case perr == nil && (n == 0) != (a.left == leftZero):
					t.Fatalf("left %q read as %v", v, a.left)
				case perr != nil && !strings.HasPrefix(v, "-") && !strings.HasPrefix(v, "+"):
					t.Fatalf("left %q accepted as %v, strconv: %v", v, a.left, perr)
				}
			}
		}
		if serr == nil {
			ih := vals["info_hash"]
			if len(ih) != len(hashes) {
				t.Fatalf("%d hashes, net/url %d", len(hashes), len(ih))
			}
			for i := range ih {
				if ih[i] != string(hashes[i][:]) {
					t.Fatalf("hash %d: %q vs %q", i, hashes[i], ih[i])
				}
			}
		}
	})
}

// FuzzUDPPacket feeds packets, with a valid connection ID or not, to the
// UDP handler: it never panics, and what it sends is well-formed.
func FuzzUDPPacket(f *testing.F) {
	f.Add(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(nil, udpProtocolID), 0), 7), false)
	announce := make([]byte, 98)
	binary.BigEndian.PutUint32(announce[8:], udpActionAnnounce)
	f.Add(announce, true)
	scrape := make([]byte, 16+40)
	binary.BigEndian.PutUint32(scrape[8:], udpActionScrape)
	f.Add(scrape, true)
	s := New(Config{})
	defer s.Close()
	u := s.newUDPHandler()
	from := netip.MustParseAddrPort("192.0.2.9:4000")
	f.Fuzz(func(t *testing.T, pkt []byte, validID bool) {
		pkt = bytes.Clone(pkt) // the fuzzer's own copy stays as it made it
		if validID && len(pkt) >= 8 {
			binary.BigEndian.PutUint64(pkt, u.connectionID(from, u.epoch()))
		}
		if len(pkt) >= 8 {
			id, e := binary.BigEndian.Uint64(pkt), u.epoch()
			validID = id == u.connectionID(from, e) || id == u.connectionID(from, e-1)
		}
		out := u.handle(pkt, from)
		if out == nil {
			return
		}
		// Until a valid connection ID proves the source, no answer is
		// bigger than its request.
		if !validID && len(out) > len(pkt) {
			t.Fatalf("a %d-byte packet without a valid ID got %d bytes: %x", len(pkt), len(out), out)
		}
		if len(pkt) < 16 || len(out) < 8 || binary.BigEndian.Uint32(out[4:]) != binary.BigEndian.Uint32(pkt[12:]) {
			t.Fatalf("answer %x to %x", out, pkt)
		}
		switch binary.BigEndian.Uint32(out) {
		case udpActionConnect:
			if len(out) != 16 {
				t.Fatalf("connect answer %x", out)
			}
		case udpActionAnnounce:
			if len(out) < 20 || (len(out)-20)%6 != 0 {
				t.Fatalf("announce answer %x", out)
			}
		case udpActionScrape:
			if (len(out)-8)%12 != 0 || len(out) > 8+12*UDPMaxScrapeHashes {
				t.Fatalf("scrape answer %x", out)
			}
		case udpActionError:
		default:
			t.Fatalf("answer %x", out)
		}
	})
}
