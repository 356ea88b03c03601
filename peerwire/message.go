package peerwire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// MessageType identifies a message: the id byte that follows the length
// prefix on the wire, or KeepAlive, which has no id.
type MessageType int16

// Message ids, from the BEPs cited.
const (
	// KeepAlive is the zero-length message (BEP 3). It has no id on the
	// wire; its value is outside the id range so that a switch on Type never
	// mistakes it for a real message.
	KeepAlive MessageType = -1

	// Choke tells the peer its requests will not be served (BEP 3).
	Choke MessageType = 0
	// Unchoke tells the peer its requests will be served (BEP 3).
	Unchoke MessageType = 1
	// Interested tells the peer we want pieces it has (BEP 3).
	Interested MessageType = 2
	// NotInterested tells the peer we want nothing it has (BEP 3).
	NotInterested MessageType = 3
	// Have announces a verified piece: Index (BEP 3).
	Have MessageType = 4
	// Bitfield announces all pieces the sender has, right after the
	// handshake: Bitfield, high bit of the first byte is piece 0 (BEP 3).
	Bitfield MessageType = 5
	// Request asks for a block: Index, Begin, Length (BEP 3).
	Request MessageType = 6
	// Piece carries a block: Index, Begin, Piece (BEP 3).
	Piece MessageType = 7
	// Cancel withdraws a request: Index, Begin, Length (BEP 3).
	Cancel MessageType = 8
	// Port announces the sender's DHT port: Port (BEP 5).
	Port MessageType = 9
	// Suggest recommends a piece to download: Index (BEP 6).
	Suggest MessageType = 13
	// HaveAll replaces a bitfield with every bit set (BEP 6).
	HaveAll MessageType = 14
	// HaveNone replaces a bitfield with no bit set (BEP 6).
	HaveNone MessageType = 15
	// RejectRequest refuses a request: Index, Begin, Length (BEP 6).
	RejectRequest MessageType = 16
	// AllowedFast lets the peer request a piece while choked: Index (BEP 6).
	AllowedFast MessageType = 17
	// Extended carries an extension message: ExtendedID, ExtendedPayload
	// (BEP 10). ExtendedID 0 is the extension handshake.
	Extended MessageType = 20
)

var typeNames = [...]string{
	Choke: "choke", Unchoke: "unchoke", Interested: "interested", NotInterested: "not interested",
	Have: "have", Bitfield: "bitfield", Request: "request", Piece: "piece", Cancel: "cancel",
	Port: "port", Suggest: "suggest", HaveAll: "have all", HaveNone: "have none",
	RejectRequest: "reject request", AllowedFast: "allowed fast", Extended: "extended",
}

// String returns the message's name as the BEPs spell it, or "message id N".
func (t MessageType) String() string {
	if t == KeepAlive {
		return "keep-alive"
	}
	if t.known() {
		return typeNames[t]
	}
	return "message id " + strconv.Itoa(int(t))
}

// known reports whether t is a message type this package decodes.
func (t MessageType) known() bool {
	return t >= 0 && int(t) < len(typeNames) && typeNames[t] != ""
}

// Wire sizes from BEP 3: every message but keep-alive is a 4-byte big-endian
// length prefix, an id byte, then the payload.
const (
	prefixLen       = 4
	headerLen       = prefixLen + 1
	pieceHeaderLen  = headerLen + 8 // index, begin
	maxMessageValue = math.MaxUint32
)

// fixedLen returns the length prefix that a message of type t must have, or
// -1 when its length varies (bitfield, piece, extended) or t is unknown.
func fixedLen(t MessageType) int {
	switch t {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return 1
	case Have, Suggest, AllowedFast:
		return 1 + 4
	case Request, Cancel, RejectRequest:
		return 1 + 12
	case Port:
		return 1 + 2
	}
	return -1
}

// Message is one peer wire message. Type says which fields are used; the
// others are zero.
//
// Messages returned by a Decoder may share memory with it: see Decoder.Decode.
type Message struct {
	Type MessageType

	// Index is the piece index of Have, Request, Piece, Cancel, Suggest,
	// RejectRequest and AllowedFast.
	Index uint32
	// Begin is the byte offset within the piece of Request, Piece, Cancel
	// and RejectRequest.
	Begin uint32
	// Length is the block length of Request, Cancel and RejectRequest.
	Length uint32

	// Piece is the block data of a Piece message.
	Piece []byte
	// Bitfield is the payload of a Bitfield message.
	Bitfield []byte

	// ExtendedID is the extension message id of an Extended message: 0 for
	// the extension handshake, otherwise an id from a handshake's "m" map.
	ExtendedID uint8
	// ExtendedPayload is the payload of an Extended message, after the id.
	ExtendedPayload []byte

	// Port is the DHT port of a Port message.
	Port uint16
}

// wireLen returns the length prefix of m's encoding, or an error when m
// cannot be encoded.
func (m *Message) wireLen() (int, error) {
	if n := fixedLen(m.Type); n > 0 {
		return n, nil
	}
	var n int
	switch m.Type {
	case KeepAlive:
		return 0, nil
	case Bitfield:
		n = 1 + len(m.Bitfield)
	case Piece:
		n = 1 + 8 + len(m.Piece)
	case Extended:
		n = 1 + 1 + len(m.ExtendedPayload)
	default:
		return 0, fmt.Errorf("%w: type %v", ErrBadMessage, m.Type)
	}
	if uint64(n) > maxMessageValue {
		return 0, fmt.Errorf("%w: %v message of %d bytes does not fit a 32-bit length prefix", ErrBadMessage, m.Type, n)
	}
	return n, nil
}

// AppendBinary appends the wire form of m, length prefix included, to b. It
// implements encoding.BinaryAppender; it fails only for an unknown Type or a
// payload longer than a length prefix can say.
func (m Message) AppendBinary(b []byte) ([]byte, error) {
	n, err := m.wireLen()
	if err != nil {
		return b, err
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	if m.Type == KeepAlive {
		return b, nil
	}
	b = append(b, byte(m.Type))
	switch m.Type {
	case Have, Suggest, AllowedFast:
		b = binary.BigEndian.AppendUint32(b, m.Index)
	case Request, Cancel, RejectRequest:
		b = binary.BigEndian.AppendUint32(b, m.Index)
		b = binary.BigEndian.AppendUint32(b, m.Begin)
		b = binary.BigEndian.AppendUint32(b, m.Length)
	case Piece:
		b = binary.BigEndian.AppendUint32(b, m.Index)
		b = binary.BigEndian.AppendUint32(b, m.Begin)
		b = append(b, m.Piece...)
	case Bitfield:
		b = append(b, m.Bitfield...)
	case Extended:
		b = append(b, m.ExtendedID)
		b = append(b, m.ExtendedPayload...)
	case Port:
		b = binary.BigEndian.AppendUint16(b, m.Port)
	}
	return b, nil
}

// MarshalBinary returns the wire form of m, length prefix included.
func (m Message) MarshalBinary() ([]byte, error) {
	n, err := m.wireLen()
	if err != nil {
		return nil, err
	}
	return m.AppendBinary(make([]byte, 0, prefixLen+n))
}

// String describes m for logs, such as "request(3, 16384, 16384)" or
// "piece(3, 16384, 16384 bytes)".
func (m Message) String() string {
	switch m.Type {
	case Have, Suggest, AllowedFast:
		return fmt.Sprintf("%v(%d)", m.Type, m.Index)
	case Request, Cancel, RejectRequest:
		return fmt.Sprintf("%v(%d, %d, %d)", m.Type, m.Index, m.Begin, m.Length)
	case Piece:
		return fmt.Sprintf("%v(%d, %d, %d bytes)", m.Type, m.Index, m.Begin, len(m.Piece))
	case Bitfield:
		return fmt.Sprintf("%v(%d bytes)", m.Type, len(m.Bitfield))
	case Extended:
		return fmt.Sprintf("%v(%d, %d bytes)", m.Type, m.ExtendedID, len(m.ExtendedPayload))
	case Port:
		return fmt.Sprintf("%v(%d)", m.Type, m.Port)
	}
	return m.Type.String()
}

// parse fills m from payload p (everything after the id byte) of a message
// of type t whose length was already checked by checkLen.
func (m *Message) parse(t MessageType, p []byte) {
	*m = Message{Type: t}
	switch t {
	case Have, Suggest, AllowedFast:
		m.Index = binary.BigEndian.Uint32(p)
	case Request, Cancel, RejectRequest:
		m.Index = binary.BigEndian.Uint32(p)
		m.Begin = binary.BigEndian.Uint32(p[4:])
		m.Length = binary.BigEndian.Uint32(p[8:])
	case Piece:
		m.Index = binary.BigEndian.Uint32(p)
		m.Begin = binary.BigEndian.Uint32(p[4:])
		m.Piece = p[8:]
	case Bitfield:
		m.Bitfield = p
	case Extended:
		m.ExtendedID = p[0]
		m.ExtendedPayload = p[1:]
	case Port:
		m.Port = binary.BigEndian.Uint16(p)
	}
}
