package dht

import (
	"errors"

	"github.com/anacrolix/dht/v2/krpc"
	abencode "github.com/anacrolix/torrent/bencode"

	"github.com/swarmcast/swarmcast/bencode"
)

// MaxPacket bounds the KRPC datagrams we read. BEP 5 messages fit one
// Ethernet frame (at most 1,472 bytes of UDP payload over IPv4): libtorrent
// caps a get_peers answer at 100 peers (~900 bytes) for that reason, and
// BEP 44 items carry at most 1,000 bytes of value. A bigger datagram is
// dropped unparsed, so a remote node cannot make us decode 64 KiB at a time.
const MaxPacket = 1500

// Errors of CheckMessage.
var (
	ErrOversize = errors.New("dht: datagram larger than MaxPacket")
	ErrNotKRPC  = errors.New("dht: not a KRPC message")
)

// Message is what CheckMessage reads of a KRPC datagram: enough to route it
// (query, response or error) and to rate-limit queries.
type Message struct {
	T string `bencode:"t"` // transaction id
	Y string `bencode:"y"` // "q", "r" or "e"
	Q string `bencode:"q"` // the method, for a query
}

// maxTransactionID bounds the "t" a node may send: ours are a few bytes and
// so are libtorrent's (2 bytes); a long one only costs us memory.
const maxTransactionID = 32

// CheckMessage parses the envelope of a KRPC datagram (BEP 5): a
// bencoded dictionary, nothing after it, with a transaction id and a type
// of q, r or e; a query names its method. Then it decodes the datagram as
// the DHT library will: a datagram the library refuses it logs to stderr
// (whatever its logger), so a hostile node could fill our output. Datagrams
// that fail are dropped before they reach the library.
func CheckMessage(b []byte) (Message, error) {
	var m Message
	if len(b) > MaxPacket {
		return m, ErrOversize
	}
	if len(b) < 2 || b[0] != 'd' || !bencode.Valid(b) {
		return m, ErrNotKRPC
	}
	if err := bencode.Unmarshal(b, &m); err != nil {
		return Message{}, ErrNotKRPC
	}
	switch {
	case m.T == "" || len(m.T) > maxTransactionID:
		return Message{}, ErrNotKRPC
	case m.Y == "q" && m.Q == "":
		return Message{}, ErrNotKRPC
	case m.Y != "q" && m.Y != "r" && m.Y != "e":
		return Message{}, ErrNotKRPC
	}
	var km krpc.Msg
	if err := abencode.Unmarshal(b, &km); err != nil {
		return Message{}, ErrNotKRPC
	}
	return m, nil
}
