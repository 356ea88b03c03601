package wstracker

import (
	"errors"
	"math"
	"time"
	"unicode/utf8"

	"github.com/swarmcast/swarmcast/internal/minijson"
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

// appendTo appends the binary string, in quotes.
func (b id20) appendTo(dst []byte) []byte {
	var r [20 * 2]byte // each byte is one or two bytes of UTF-8
	s := r[:0]
	for _, c := range b {
		s = utf8.AppendRune(s, rune(c))
	}
	return minijson.AppendString(dst, string(s))
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
	Type string
	SDP  string
}

func (d sdpJSON) appendTo(b []byte) []byte {
	return minijson.NewObject(b).String("type", d.Type).String("sdp", d.SDP).Bytes()
}

// announceJSON is the announce a client sends.
type announceJSON struct {
	Action     string
	InfoHash   id20
	PeerID     id20
	NumWant    int
	Uploaded   int64
	Downloaded int64
	Left       *int64 // nil when unknown: bittorrent-tracker then counts a leecher
	Event      string
	Offers     []offerJSON
	TrackerID  string
}

type offerJSON struct {
	Offer   sdpJSON
	OfferID id20
}

func (a *announceJSON) appendTo(b []byte) []byte {
	o := minijson.NewObject(b).String("action", a.Action).
		Raw("info_hash", a.InfoHash.appendTo(nil)).Raw("peer_id", a.PeerID.appendTo(nil)).
		Int("numwant", int64(a.NumWant)).Int("uploaded", a.Uploaded).Int("downloaded", a.Downloaded)
	if a.Left != nil {
		o.Int("left", *a.Left)
	}
	if a.Event != "" {
		o.String("event", a.Event)
	}
	if len(a.Offers) > 0 {
		o.Raw("offers", minijson.AppendArray(nil, len(a.Offers), func(b []byte, i int) []byte {
			return minijson.NewObject(b).Raw("offer", a.Offers[i].Offer.appendTo(nil)).
				Raw("offer_id", a.Offers[i].OfferID.appendTo(nil)).Bytes()
		}))
	}
	if a.TrackerID != "" {
		o.String("trackerid", a.TrackerID)
	}
	return o.Bytes()
}

// answerJSON is the announce that carries an answer back to an offerer.
type answerJSON struct {
	Action    string
	InfoHash  id20
	PeerID    id20
	ToPeerID  id20
	Answer    sdpJSON
	OfferID   id20
	TrackerID string
}

func (a *answerJSON) appendTo(b []byte) []byte {
	o := minijson.NewObject(b).String("action", a.Action).
		Raw("info_hash", a.InfoHash.appendTo(nil)).Raw("peer_id", a.PeerID.appendTo(nil)).
		Raw("to_peer_id", a.ToPeerID.appendTo(nil)).Raw("answer", a.Answer.appendTo(nil)).
		Raw("offer_id", a.OfferID.appendTo(nil))
	if a.TrackerID != "" {
		o.String("trackerid", a.TrackerID)
	}
	return o.Bytes()
}

// scrapeJSON asks for counts; InfoHashes are sent as one binary string
// when there is one, else as a list, as bittorrent-tracker sends them.
type scrapeJSON struct {
	Action     string
	InfoHashes []id20
}

func (sc *scrapeJSON) appendTo(b []byte) []byte {
	var v []byte
	if len(sc.InfoHashes) == 1 {
		v = sc.InfoHashes[0].appendTo(nil)
	} else {
		v = minijson.AppendArray(nil, len(sc.InfoHashes), func(b []byte, i int) []byte { return sc.InfoHashes[i].appendTo(b) })
	}
	return minijson.NewObject(b).String("action", sc.Action).Raw("info_hash", v).Bytes()
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

// parseMessage decodes one message from a tracker. It fails only when the
// message is not a JSON object (null reads as an empty one); fields of the
// wrong type are treated as absent.
func parseMessage(data []byte) (*message, error) {
	v, err := minijson.Parse(data)
	if err != nil || (v.Kind != minijson.Object && v.Kind != minijson.Null) {
		return nil, errMalformed
	}
	m := &message{complete: -1, incomplete: -1}
	m.action, _ = v.String("action")
	var h id20
	h, m.hasHash = idOf(v, "info_hash")
	m.infoHash = metainfo.Hash(h)
	m.peerID, m.hasPeer = idOf(v, "peer_id")
	m.offerID, m.hasOffer = idOf(v, "offer_id")
	m.offer = sdpOf(v, "offer")
	m.answer = sdpOf(v, "answer")
	if n, ok := v.Number("interval"); ok {
		m.interval = seconds(n)
	}
	if n, ok := v.Number("min interval"); ok {
		m.minInterval = seconds(n)
	}
	m.complete = countOf(v, "complete", -1)
	m.incomplete = countOf(v, "incomplete", -1)
	m.failure, _ = v.String("failure reason")
	m.warning, _ = v.String("warning message")
	m.trackerID, _ = v.String("tracker id")
	if files, ok := v.Get("files"); ok && files.Kind == minijson.Object {
		m.files = make(map[metainfo.Hash]tracker.ScrapeResult, len(files.Keys))
		for i, k := range files.Keys {
			h, ok := parseID20(k)
			f := files.Vals[i]
			if !ok || (f.Kind != minijson.Object && f.Kind != minijson.Null) {
				continue
			}
			m.files[metainfo.Hash(h)] = tracker.ScrapeResult{Complete: countOf(f, "complete", 0),
				Incomplete: countOf(f, "incomplete", 0), Downloaded: countOf(f, "downloaded", 0)}
		}
	}
	return m, nil
}

// idOf reads member key, a binary string of 20 bytes.
func idOf(v minijson.Value, key string) (id20, bool) {
	s, ok := v.String(key)
	if !ok {
		return id20{}, false
	}
	return parseID20(s)
}

// countOf reads member key, a count, or returns absent.
func countOf(v minijson.Value, key string, absent int) int {
	n, ok := v.Number(key)
	if !ok {
		return absent
	}
	return count(n)
}

// sdpOf returns the sdp of the session description object in member key
// if its type is typ (an absent type is accepted), or "".
func sdpOf(v minijson.Value, key string) string {
	d, ok := v.Get(key)
	if !ok || d.Kind != minijson.Object {
		return ""
	}
	if t, ok := d.Get("type"); ok && (t.Kind != minijson.String || t.Str != key) {
		return ""
	}
	s, _ := d.String("sdp")
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
