package wstracker

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"time"
	"unicode/utf8"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
)

// maxIntervalSeconds caps the intervals a tracker sends, as httptracker
// does, so that converting them to a Duration cannot overflow.
const maxIntervalSeconds = math.MaxInt32

// errMalformed is the reason a message was ignored; it never leaves the
// package.
var errMalformed = errors.New("wstracker: malformed message")

// id20 is a 20-byte value (info hash, peer id, offer id) as WebTorrent puts
// it in JSON: a "binary string" of 20 characters U+0000 to U+00FF, one per
// byte (latin1).
type id20 [20]byte

// MarshalJSON writes the binary string.
func (b id20) MarshalJSON() ([]byte, error) {
	var r [20 * 2]byte // each byte is one or two bytes of UTF-8
	s := r[:0]
	for _, c := range b {
		s = utf8.AppendRune(s, rune(c))
	}
	return json.Marshal(string(s))
}

// parseID20 decodes a binary string of exactly 20 characters, each at most
// U+00FF.
func parseID20(s string) (id20, bool) {
	var b id20
	i := 0
	for _, r := range s {
		if i == len(b) || r > 0xff || r == utf8.RuneError {
			return id20{}, false
		}
		b[i] = byte(r)
		i++
	}
	return b, i == len(b)
}

// sdpJSON is a session description as browsers serialize one.
type sdpJSON struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

// announceJSON is the announce a client sends.
type announceJSON struct {
	Action     string      `json:"action"`
	InfoHash   id20        `json:"info_hash"`
	PeerID     id20        `json:"peer_id"`
	NumWant    int         `json:"numwant"`
	Uploaded   int64       `json:"uploaded"`
	Downloaded int64       `json:"downloaded"`
	Left       *int64      `json:"left,omitempty"` // nil when unknown: bittorrent-tracker then counts a leecher
	Event      string      `json:"event,omitempty"`
	Offers     []offerJSON `json:"offers,omitempty"`
	TrackerID  string      `json:"trackerid,omitempty"`
}

type offerJSON struct {
	Offer   sdpJSON `json:"offer"`
	OfferID id20    `json:"offer_id"`
}

// answerJSON is the announce that carries an answer back to an offerer.
type answerJSON struct {
	Action    string  `json:"action"`
	InfoHash  id20    `json:"info_hash"`
	PeerID    id20    `json:"peer_id"`
	ToPeerID  id20    `json:"to_peer_id"`
	Answer    sdpJSON `json:"answer"`
	OfferID   id20    `json:"offer_id"`
	TrackerID string  `json:"trackerid,omitempty"`
}

// scrapeJSON asks for counts; InfoHash is one id20 or a list of them, as
// bittorrent-tracker sends it.
type scrapeJSON struct {
	Action   string `json:"action"`
	InfoHash any    `json:"info_hash"`
}

// marshal encodes v without HTML escaping, which only makes SDPs longer.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// message is what a tracker sent, checked and normalized.
type message struct {
	action   string // "announce", "scrape", or "" (bittorrent-tracker's reply to a request it could not parse)
	infoHash metainfo.Hash
	hasHash  bool
	peerID   [20]byte
	hasPeer  bool
	offerID  [20]byte
	hasOffer bool

	// offer and answer are SDP texts relayed from another peer; empty
	// when absent.
	offer, answer string

	interval, minInterval time.Duration
	complete, incomplete  int // -1 when absent

	failure, warning, trackerID string

	files map[metainfo.Hash]tracker.ScrapeResult // scrape responses only
}

// rawJSON is the shape of every tracker message. Fields stay raw so that a
// field of an unexpected type is ignored without losing the rest.
type rawJSON struct {
	Action      json.RawMessage            `json:"action"`
	InfoHash    json.RawMessage            `json:"info_hash"`
	PeerID      json.RawMessage            `json:"peer_id"`
	OfferID     json.RawMessage            `json:"offer_id"`
	Offer       json.RawMessage            `json:"offer"`
	Answer      json.RawMessage            `json:"answer"`
	Interval    json.RawMessage            `json:"interval"`
	MinInterval json.RawMessage            `json:"min interval"`
	Complete    json.RawMessage            `json:"complete"`
	Incomplete  json.RawMessage            `json:"incomplete"`
	Failure     json.RawMessage            `json:"failure reason"`
	Warning     json.RawMessage            `json:"warning message"`
	TrackerID   json.RawMessage            `json:"tracker id"`
	Files       map[string]json.RawMessage `json:"files"`
}

// parseMessage decodes one message from a tracker. It fails only when the
// message is not a JSON object; fields of the wrong type are treated as
// absent.
func parseMessage(data []byte) (*message, error) {
	var raw rawJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		// A "files" of the wrong shape fails the whole decode; try again
		// without it, as bittorrent-tracker clients would.
		var noFiles struct {
			rawJSON
			Files json.RawMessage `json:"files"`
		}
		if json.Unmarshal(data, &noFiles) != nil {
			return nil, errMalformed
		}
		raw = noFiles.rawJSON
		raw.Files = nil
	}
	m := &message{complete: -1, incomplete: -1}
	m.action, _ = jsonString(raw.Action)
	if s, ok := jsonString(raw.InfoHash); ok {
		var h id20
		h, m.hasHash = parseID20(s)
		m.infoHash = metainfo.Hash(h)
	}
	if s, ok := jsonString(raw.PeerID); ok {
		var id id20
		id, m.hasPeer = parseID20(s)
		m.peerID = id
	}
	if s, ok := jsonString(raw.OfferID); ok {
		var id id20
		id, m.hasOffer = parseID20(s)
		m.offerID = id
	}
	m.offer = jsonSDP(raw.Offer, "offer")
	m.answer = jsonSDP(raw.Answer, "answer")
	if v, ok := jsonNumber(raw.Interval); ok {
		m.interval = seconds(v)
	}
	if v, ok := jsonNumber(raw.MinInterval); ok {
		m.minInterval = seconds(v)
	}
	if v, ok := jsonNumber(raw.Complete); ok {
		m.complete = count(v)
	}
	if v, ok := jsonNumber(raw.Incomplete); ok {
		m.incomplete = count(v)
	}
	m.failure, _ = jsonString(raw.Failure)
	m.warning, _ = jsonString(raw.Warning)
	m.trackerID, _ = jsonString(raw.TrackerID)
	if raw.Files != nil {
		m.files = make(map[metainfo.Hash]tracker.ScrapeResult, len(raw.Files))
		for k, v := range raw.Files {
			h, ok := parseID20(k)
			if !ok {
				continue
			}
			var f struct {
				Complete, Incomplete, Downloaded json.RawMessage
			}
			if json.Unmarshal(v, &f) != nil {
				continue
			}
			var r tracker.ScrapeResult
			if n, ok := jsonNumber(f.Complete); ok {
				r.Complete = count(n)
			}
			if n, ok := jsonNumber(f.Incomplete); ok {
				r.Incomplete = count(n)
			}
			if n, ok := jsonNumber(f.Downloaded); ok {
				r.Downloaded = count(n)
			}
			m.files[metainfo.Hash(h)] = r
		}
	}
	return m, nil
}

func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func jsonNumber(raw json.RawMessage) (float64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	return f, true
}

// jsonSDP returns the sdp of a session description object of the given
// type (an absent type is accepted), or "".
func jsonSDP(raw json.RawMessage, typ string) string {
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	var d struct {
		Type json.RawMessage `json:"type"`
		SDP  json.RawMessage `json:"sdp"`
	}
	if json.Unmarshal(raw, &d) != nil {
		return ""
	}
	if t, ok := jsonString(d.Type); len(d.Type) > 0 && (!ok || t != typ) {
		return ""
	}
	s, _ := jsonString(d.SDP)
	return s
}

// seconds converts a tracker's interval to a Duration, clamped to
// [0, maxIntervalSeconds].
func seconds(s float64) time.Duration {
	return time.Duration(min(max(s, 0), maxIntervalSeconds)) * time.Second
}

// count keeps a tracker's count within [0, MaxInt32].
func count(n float64) int {
	return int(min(max(n, 0), math.MaxInt32))
}
