// Package lsd is BEP 14 local service discovery: torrents are announced by
// UDP multicast on the local network, and peers that announce the same
// torrents are found without any tracker, so that peers on one network find
// each other and their traffic stays local.
//
// An announce is an HTTP-like datagram to 239.192.152.143:6771 (IPv4) or
// [ff15::efc0:988f]:6771 (IPv6):
//
//	BT-SEARCH * HTTP/1.1
//	Host: 239.192.152.143:6771
//	Port: 6881
//	Infohash: 0123456789abcdef0123456789abcdef01234567
//	cookie: 4a7b
//
// with one Infohash header per torrent. The cookie lets a client recognise
// and skip its own announces, which multicast loops back to it.
package lsd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/swarmcast/swarmcast/metainfo"
)

// MaxMessage is the largest datagram read or sent: BEP 14 announces must
// fit one unfragmented packet.
const MaxMessage = 1400

// maxHashesPerMessage keeps a message under MaxMessage (each Infohash
// header is 52 bytes).
const maxHashesPerMessage = 24

// Message is one announce.
type Message struct {
	Host       string // the Host header (the group address), as sent
	Port       uint16 // the sender's BitTorrent port
	InfoHashes []metainfo.Hash
	Cookie     string // identifies the sender, so it can skip its own announces
}

var (
	errNotLSD = errors.New("lsd: not a BT-SEARCH announce")
	startLine = []byte("BT-SEARCH * HTTP/1.1")
)

// Parse parses an announce. It is strict about the start line, the port and
// each info hash, and ignores headers it does not know, as BEP 14 asks.
func Parse(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxMessage {
		return m, fmt.Errorf("lsd: message of %d bytes, more than %d", len(b), MaxMessage)
	}
	line, rest, _ := bytes.Cut(b, []byte("\n"))
	if !bytes.Equal(bytes.TrimRight(line, "\r"), startLine) {
		return m, errNotLSD
	}
	sawPort := false
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue // the blank lines that end the message
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return m, fmt.Errorf("lsd: malformed header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch string(bytes.ToLower(bytes.TrimSpace(name))) {
		case "host":
			m.Host = string(value)
		case "port":
			p, err := strconv.ParseUint(string(value), 10, 16)
			if err != nil || p == 0 {
				return m, fmt.Errorf("lsd: bad port %q", value)
			}
			m.Port, sawPort = uint16(p), true
		case "infohash":
			var h metainfo.Hash
			if len(value) != 2*len(h) {
				return m, fmt.Errorf("lsd: bad info hash %q", value)
			}
			if _, err := hex.Decode(h[:], value); err != nil {
				return m, fmt.Errorf("lsd: bad info hash %q", value)
			}
			if len(m.InfoHashes) == maxHashesPerMessage {
				return m, fmt.Errorf("lsd: more than %d info hashes", maxHashesPerMessage)
			}
			m.InfoHashes = append(m.InfoHashes, h)
		case "cookie":
			m.Cookie = string(value)
		}
	}
	switch {
	case !sawPort:
		return m, errors.New("lsd: announce without a port")
	case len(m.InfoHashes) == 0:
		return m, errors.New("lsd: announce without an info hash")
	}
	return m, nil
}

// Append appends the wire form of m to b. At most maxHashesPerMessage info
// hashes fit one message; callers split longer lists.
func (m Message) Append(b []byte) []byte {
	b = append(b, startLine...)
	b = append(b, "\r\nHost: "...)
	b = append(b, m.Host...)
	b = append(b, "\r\nPort: "...)
	b = strconv.AppendUint(b, uint64(m.Port), 10)
	for _, h := range m.InfoHashes {
		b = append(b, "\r\nInfohash: "...)
		b = hex.AppendEncode(b, h[:])
	}
	if m.Cookie != "" {
		b = append(b, "\r\ncookie: "...)
		b = append(b, m.Cookie...)
	}
	return append(b, "\r\n\r\n\r\n"...)
}
