package trackerserver

import (
	"encoding/binary"
	"unicode/utf8"
)

// The WebSocket protocol is JSON, and a WebTorrent announce is mostly SDP
// that the tracker relays without looking at it. encoding/json would decode
// every offer into a Go value only for us to encode it again; this scanner
// instead validates the message in one pass, keeps the byte ranges of the
// values the tracker relays, and decodes only the few short strings it needs
// (info_hash, peer_id, to_peer_id, action, event). It allocates nothing.
//
// Validation is complete (RFC 8259: string escapes, UTF-8, numbers, nesting),
// because a relayed range is spliced verbatim into messages for other peers:
// an invalid range would break their JSON.parse.

// maxJSONDepth bounds nesting, so that a hostile message of 64 KiB of '['
// costs a loop, not a deep stack. The deepest value in a real message is an
// offer object inside the offers array: 3 levels.
const maxJSONDepth = 64

// Limits on the strings the tracker decodes.
const (
	// maxOfferIDLen is the most bytes an offer_id may hold once decoded.
	// WebTorrent sends 20 bytes as a 20-character binary string (40 bytes of
	// UTF-8 when every byte is ≥ 0x80).
	maxOfferIDLen = 128
)

// errMsg is a protocol error whose text is sent back as the "failure reason".
type errMsg string

func (e errMsg) Error() string { return string(e) }

// Failure reasons. The first five are bittorrent-tracker's own words, so
// clients written against it see what they know.
const (
	errInvalidJSON     = errMsg("invalid JSON")
	errInvalidAction   = errMsg("invalid action in WS request")
	errInvalidInfoHash = errMsg("invalid info_hash")
	errInvalidPeerID   = errMsg("invalid peer_id")
	errInvalidToPeerID = errMsg("invalid `to_peer_id` (required with `answer`)")
	errInvalidEvent    = errMsg("invalid event")
	errInvalidOffers   = errMsg("invalid offers: want [{offer, offer_id}, ...]")
	errInvalidOfferID  = errMsg("invalid offer_id")
	errNoInfoHash      = errMsg("info_hash is required")
	errTooManyHashes   = errMsg("too many info_hash values in one scrape")
)

// Message actions.
const (
	actionAnnounce = 1
	actionScrape   = 2
)

// event is an announce event as the store sees it.
type event uint8

const (
	eventUpdate event = iota // regular announce, "update", "paused", empty
	eventStarted
	eventCompleted
	eventStopped
	eventInvalid
)

// leftState is what the store needs of "left": is the peer a seeder?
type leftState uint8

const (
	leftUnknown leftState = iota // absent or null: keep what we know
	leftZero                     // a seeder
	leftSome                     // a leecher
)

// wsOffer is one offer of an announce, as byte ranges of the message.
type wsOffer struct {
	offer   []byte // any JSON value, relayed verbatim
	offerID []byte // a JSON string, quotes included, relayed verbatim
}

// wsMessage is a parsed WebSocket request. Its byte slices point into the
// message buffer, so it is only valid until that buffer is reused.
type wsMessage struct {
	action   int
	infoHash [20]byte
	peerID   [20]byte
	event    event
	left     leftState
	offers   []wsOffer // at most maxOffers; extra offers are validated and dropped

	answer   []byte // raw JSON, nil when the message carries no answer
	toPeerID [20]byte
	offerID  []byte // raw JSON string of an answer's offer_id

	scrape [][20]byte // scrape info hashes

	// Raw ranges found by the first pass, interpreted once the action is known.
	rawAction, rawInfoHash, rawPeerID, rawEvent, rawLeft, rawAnswer, rawToPeerID, rawOfferID []byte
}

// parseWSMessage parses b into m, reusing m's slices. maxOffers caps the
// offers kept; maxScrape caps the info hashes of a scrape.
func parseWSMessage(b []byte, m *wsMessage, maxOffers, maxScrape int) error {
	offers, scrape := m.offers[:0], m.scrape[:0]
	*m = wsMessage{offers: offers, scrape: scrape}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errInvalidJSON
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return errInvalidJSON
			}
			ks := i
			end, esc, ok := scanString(b, i)
			if !ok {
				return errInvalidJSON
			}
			var kbuf [16]byte
			key := b[ks+1 : end-1]
			if esc {
				n, ok := decodeLatin1(b[ks:end], kbuf[:])
				if !ok {
					n = 0 // not a key we know
				}
				key = kbuf[:n]
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return errInvalidJSON
			}
			i = skipSpace(b, i+1)
			vs := i
			if string(key) == "offers" {
				i, ok = parseOffers(b, i, m, maxOffers)
				if !ok {
					if i < 0 {
						return errInvalidJSON
					}
					return errInvalidOffers
				}
			} else {
				i, ok = scanValue(b, i)
				if !ok {
					return errInvalidJSON
				}
				v := b[vs:i]
				switch string(key) {
				case "action":
					m.rawAction = v
				case "info_hash":
					m.rawInfoHash = v
				case "peer_id":
					m.rawPeerID = v
				case "event":
					m.rawEvent = v
				case "left":
					m.rawLeft = v
				case "answer":
					m.rawAnswer = v
				case "to_peer_id":
					m.rawToPeerID = v
				case "offer_id":
					m.rawOfferID = v
				}
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return errInvalidJSON
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return errInvalidJSON
			}
			i = skipSpace(b, i+1)
		}
	}
	if skipSpace(b, i) != len(b) {
		return errInvalidJSON
	}
	return m.interpret(maxScrape)
}

// interpret checks the raw values against the action, as bittorrent-tracker's
// parse-websocket.js does, in the same order, so the same message fails with
// the same reason.
func (m *wsMessage) interpret(maxScrape int) error {
	var abuf [8]byte
	n, ok := decodeLatin1(m.rawAction, abuf[:])
	switch {
	case ok && string(abuf[:n]) == "announce":
		m.action = actionAnnounce
	case ok && string(abuf[:n]) == "scrape":
		m.action = actionScrape
		return m.interpretScrape(maxScrape)
	default:
		return errInvalidAction
	}
	if !decodeHash(m.rawInfoHash, &m.infoHash) {
		return errInvalidInfoHash
	}
	if !decodeHash(m.rawPeerID, &m.peerID) {
		return errInvalidPeerID
	}
	if truthy(m.rawAnswer) {
		if !decodeHash(m.rawToPeerID, &m.toPeerID) {
			return errInvalidToPeerID
		}
		// bittorrent-tracker relays any offer_id; we need a string to match
		// the answer with the offer it answers.
		if len(m.rawOfferID) == 0 || m.rawOfferID[0] != '"' {
			return errInvalidOfferID
		}
		m.answer, m.offerID = m.rawAnswer, m.rawOfferID
	}
	m.event = parseEvent(m.rawEvent)
	m.left = parseLeft(m.rawLeft)
	return nil
}

func (m *wsMessage) interpretScrape(maxScrape int) error {
	v := m.rawInfoHash
	switch {
	case len(v) == 0 || string(v) == "null":
		// bittorrent-tracker answers for every torrent it knows; we do not
		// hand out the whole tracker to one request.
		return errNoInfoHash
	case v[0] == '"':
		var h [20]byte
		if !decodeHash(v, &h) {
			return errInvalidInfoHash
		}
		m.scrape = append(m.scrape, h)
		return nil
	case v[0] != '[':
		return errNoInfoHash
	}
	// An array of strings, already validated as JSON.
	i := skipSpace(v, 1)
	for v[i] != ']' {
		if v[i] != '"' {
			return errInvalidInfoHash
		}
		end, _, _ := scanString(v, i)
		var h [20]byte
		if !decodeHash(v[i:end], &h) {
			return errInvalidInfoHash
		}
		if len(m.scrape) == maxScrape {
			return errTooManyHashes
		}
		m.scrape = append(m.scrape, h)
		i = skipSpace(v, end)
		if v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	if len(m.scrape) == 0 {
		return errNoInfoHash // an empty list asks for nothing
	}
	return nil
}

// parseOffers parses the value of "offers" at b[i]. Anything but an array is
// ignored, as bittorrent-tracker ignores it. It returns the index after the
// value; on failure ok is false and the index is -1 for invalid JSON.
func parseOffers(b []byte, i int, m *wsMessage, maxOffers int) (int, bool) {
	m.offers = m.offers[:0] // a repeated key replaces the earlier one
	if i >= len(b) || b[i] != '[' {
		end, ok := scanValue(b, i)
		if !ok {
			return -1, false
		}
		return end, true
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		if i >= len(b) {
			return -1, false
		}
		if b[i] != '{' {
			return 0, false
		}
		var o wsOffer
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return 0, false // no offer, no offer_id
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return -1, false
			}
			ks := i
			end, esc, ok := scanString(b, i)
			if !ok {
				return -1, false
			}
			key := b[ks+1 : end-1]
			var kbuf [16]byte
			if esc {
				n, ok := decodeLatin1(b[ks:end], kbuf[:])
				if !ok {
					n = 0
				}
				key = kbuf[:n]
			}
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return -1, false
			}
			i = skipSpace(b, i+1)
			vs := i
			i, ok = scanValue(b, i)
			if !ok {
				return -1, false
			}
			switch string(key) {
			case "offer":
				o.offer = b[vs:i]
			case "offer_id":
				o.offerID = b[vs:i]
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return -1, false
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return -1, false
			}
			i = skipSpace(b, i+1)
		}
		if len(o.offer) == 0 || len(o.offerID) == 0 || o.offerID[0] != '"' || !validOfferID(o.offerID) {
			return 0, false
		}
		if len(m.offers) < maxOffers {
			m.offers = append(m.offers, o)
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return -1, false
		}
		if b[i] == ']' {
			return i + 1, true
		}
		if b[i] != ',' {
			return -1, false
		}
		i = skipSpace(b, i+1)
	}
}

func validOfferID(raw []byte) bool {
	var buf [maxOfferIDLen]byte
	_, ok := decodeString(raw, buf[:])
	return ok
}

// truthy reports whether a raw JSON value is truthy in JavaScript, which is
// how bittorrent-tracker decides whether a message carries an answer.
func truthy(v []byte) bool {
	switch string(v) {
	case "", "null", "false", `""`, "0", "-0":
		return false
	}
	if v[0] == '-' || v[0] >= '0' && v[0] <= '9' {
		return !numberIsZero(v)
	}
	return true
}

// parseEvent maps "event" as bittorrent-tracker does: missing, falsy or
// "empty" is an update.
func parseEvent(v []byte) event {
	if !truthy(v) {
		return eventUpdate
	}
	var buf [16]byte
	n, ok := decodeLatin1(v, buf[:])
	if !ok || v[0] != '"' {
		return eventInvalid
	}
	switch string(buf[:n]) {
	case "update", "empty", "paused":
		return eventUpdate
	case "started":
		return eventStarted
	case "completed":
		return eventCompleted
	case "stopped":
		return eventStopped
	}
	return eventInvalid
}

// parseLeft decides whether "left" makes the peer a seeder. JavaScript's
// Number() is the model: a number or numeric string that is zero means
// seeder; anything else that is not a number (Number gives NaN) counts as
// Infinity, a leecher. null is the exception: Number(null) is 0, but
// WebTorrent sends null for a torrent whose metadata it does not have yet
// (Math.max(NaN, 0) is NaN, which JSON.stringify writes as null), so we
// treat null as unknown instead of as a seeder.
func parseLeft(v []byte) leftState {
	switch {
	case len(v) == 0 || string(v) == "null":
		return leftUnknown
	case v[0] == '-' || v[0] >= '0' && v[0] <= '9':
		if numberIsZero(v) {
			return leftZero
		}
		return leftSome
	case v[0] == '"':
		var buf [32]byte
		n, ok := decodeLatin1(v, buf[:])
		s := trimJSSpace(buf[:n])
		if ok && len(s) == 0 {
			return leftZero // Number("") is 0
		}
		if ok {
			if end, okn := scanNumber(s, 0); okn && end == len(s) && numberIsZero(s) {
				return leftZero
			}
		}
		return leftSome
	case string(v) == "false":
		return leftZero
	}
	return leftSome
}

func trimJSSpace(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// numberIsZero reports whether a valid JSON number is zero: every digit of
// its mantissa is 0.
func numberIsZero(v []byte) bool {
	for _, c := range v {
		switch {
		case c == 'e' || c == 'E':
			return true
		case c >= '1' && c <= '9':
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// SWAR constants: one bit pattern per byte of a 64-bit word.
const (
	swarLo = 0x0101010101010101
	swarHi = 0x8080808080808080
)

// swarSpecial is non-zero when a word of string content holds a byte that
// ends the fast path: '"', '\\', a control character or a non-ASCII byte.
// (It may flag more bytes than those; the slow path sorts them out.)
func swarSpecial(w uint64) uint64 {
	quote := w ^ (swarLo * '"')
	bslash := w ^ (swarLo * '\\')
	return ((quote-swarLo) & ^quote | (bslash-swarLo)&^bslash | (w - swarLo*0x20) | w) & swarHi
}

// scanString validates the JSON string that starts at b[i] (a '"') and
// returns the index after its closing quote and whether it holds escapes.
// SDP is long ASCII text with a "\r\n" escape every line, so the fast path
// skips eight plain bytes at a time.
func scanString(b []byte, i int) (end int, esc, ok bool) {
	i++
	start := i
	nonASCII := false
	for {
		for i+8 <= len(b) && swarSpecial(binary.LittleEndian.Uint64(b[i:])) == 0 {
			i += 8
		}
		if i >= len(b) {
			return 0, false, false
		}
		switch c := b[i]; {
		case c == '"':
			if nonASCII && !utf8.Valid(b[start:i]) {
				return 0, false, false
			}
			return i + 1, esc, true
		case c == '\\':
			esc = true
			// SDP has a "\r\n" every line: the short escapes inline.
			if i+1 < len(b) {
				switch b[i+1] {
				case 'r', 'n', 't', '"', '\\', '/', 'b', 'f':
					i += 2
					continue
				}
			}
			_, size := unescape(b[i:])
			if size == 0 {
				return 0, false, false
			}
			i += size
		case c < 0x20:
			return 0, false, false
		case c >= 0x80:
			nonASCII = true
			i++
		default:
			i++
		}
	}
}

// scanNumber validates the JSON number at b[i] and returns the index after it.
func scanNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return 0, false
		}
	}
	return i, true
}

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// scanValue validates the JSON value at b[i] (after white space) and returns
// the index after it. It is iterative: a bit per level records whether that
// level is an object (1) or an array (0).
func scanValue(b []byte, i int) (int, bool) {
	var stack uint64
	depth := 0
	ok := false
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		// A value.
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth == maxJSONDepth {
				return 0, false
			}
			depth++
			stack <<= 1
			i = skipSpace(b, i+1)
			if c == '{' {
				stack |= 1
				if i < len(b) && b[i] == '}' {
					i++
					stack >>= 1
					depth--
					break
				}
				if i, ok = scanKey(b, i); !ok {
					return 0, false
				}
				continue
			}
			if i < len(b) && b[i] == ']' {
				i++
				stack >>= 1
				depth--
				break
			}
			continue
		case c == '"':
			if i, _, ok = scanString(b, i); !ok {
				return 0, false
			}
		case c == 't':
			if i, ok = scanLiteral(b, i, "true"); !ok {
				return 0, false
			}
		case c == 'f':
			if i, ok = scanLiteral(b, i, "false"); !ok {
				return 0, false
			}
		case c == 'n':
			if i, ok = scanLiteral(b, i, "null"); !ok {
				return 0, false
			}
		case c == '-' || c >= '0' && c <= '9':
			if i, ok = scanNumber(b, i); !ok {
				return 0, false
			}
		default:
			return 0, false
		}
		// After a value: close containers until one continues with ','.
		for {
			if depth == 0 {
				return i, true
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, false
			}
			inObject := stack&1 == 1
			if b[i] == ',' {
				i++
				if inObject {
					if i, ok = scanKey(b, skipSpace(b, i)); !ok {
						return 0, false
					}
				}
				break
			}
			if inObject && b[i] != '}' || !inObject && b[i] != ']' {
				return 0, false
			}
			i++
			stack >>= 1
			depth--
		}
	}
}

// scanKey validates an object key and its colon at b[i].
func scanKey(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	i, _, ok := scanString(b, i)
	if !ok {
		return 0, false
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return 0, false
	}
	return i + 1, true
}
