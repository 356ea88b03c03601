package peerwire

import (
	"fmt"
	"strconv"

	"github.com/swarmcast/swarmcast/bencode"
)

// Metadata exchange sizes.
const (
	// MetadataPieceSize is the size of every metadata piece but the last
	// (BEP 9).
	MetadataPieceSize = 16 << 10
	// MaxMetadataSize is the largest total_size (info dictionary size)
	// accepted by default: 16 MiB. The info dictionaries of the largest
	// public torrents are a few MiB (20 bytes per piece); anything larger
	// is a peer trying to make us allocate.
	MaxMetadataSize = 16 << 20
)

// MetadataMessageType is the msg_type of a ut_metadata message (BEP 9).
type MetadataMessageType int

// ut_metadata message types (BEP 9).
const (
	// MetadataRequest asks for one piece of the info dictionary.
	MetadataRequest MetadataMessageType = 0
	// MetadataData carries one piece of the info dictionary.
	MetadataData MetadataMessageType = 1
	// MetadataReject refuses a request.
	MetadataReject MetadataMessageType = 2
)

// String returns "request", "data", "reject" or "msg_type N".
func (t MetadataMessageType) String() string {
	switch t {
	case MetadataRequest:
		return "request"
	case MetadataData:
		return "data"
	case MetadataReject:
		return "reject"
	}
	return "msg_type " + strconv.Itoa(int(t))
}

// MetadataMessage is the payload of a ut_metadata message (BEP 9): a
// bencoded dictionary followed, in a data message, by the piece's bytes.
type MetadataMessage struct {
	Type MetadataMessageType
	// Piece is the index of the metadata piece.
	Piece int
	// TotalSize is the size of the whole info dictionary, in data messages.
	TotalSize int
	// Data is the piece's bytes, in data messages. A decoded Data aliases
	// the decoded payload.
	Data []byte
}

type metadataWire struct {
	MsgType   int64 `bencode:"msg_type"`
	Piece     int64 `bencode:"piece"`
	TotalSize int64 `bencode:"total_size,omitempty"`
}

// MetadataPieceCount returns how many pieces an info dictionary of
// totalSize bytes is sent in.
func MetadataPieceCount(totalSize int) int {
	return (totalSize + MetadataPieceSize - 1) / MetadataPieceSize
}

// MetadataPieceLen returns the length of piece i of an info dictionary of
// totalSize bytes, or 0 if there is no such piece.
func MetadataPieceLen(i, totalSize int) int {
	if i < 0 || totalSize <= 0 || i >= MetadataPieceCount(totalSize) {
		return 0
	}
	return min(MetadataPieceSize, totalSize-i*MetadataPieceSize)
}

// AppendBinary appends the payload of m to b. A data message must carry
// exactly the bytes of piece Piece of an info dictionary of TotalSize bytes.
func (m MetadataMessage) AppendBinary(b []byte) ([]byte, error) {
	if err := m.check(MaxMetadataSize); err != nil {
		return b, err
	}
	w := metadataWire{MsgType: int64(m.Type), Piece: int64(m.Piece)}
	if m.Type == MetadataData {
		w.TotalSize = int64(m.TotalSize)
	}
	b, err := bencode.AppendMarshal(b, &w)
	if err != nil {
		return b, fmt.Errorf("%w: %w", ErrBadExtension, err)
	}
	if m.Type == MetadataData {
		b = append(b, m.Data...)
	}
	return b, nil
}

// MarshalBinary returns the payload of m, as AppendBinary does.
func (m MetadataMessage) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, 64+len(m.Data)))
}

// UnmarshalBinary decodes a ut_metadata payload into m, with a limit of
// MaxMetadataSize on total_size; see ParseMetadataMessage.
func (m *MetadataMessage) UnmarshalBinary(b []byte) error {
	v, err := ParseMetadataMessage(b, MaxMetadataSize)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMetadataMessage decodes a ut_metadata payload. A data message must
// have 0 < total_size <= maxTotalSize (0 means MaxMetadataSize), a piece
// index within total_size, and exactly that piece's length of data; a
// request or reject a piece index below what maxTotalSize allows. A
// msg_type other than the three of BEP 9 is returned as it is, without
// data, for the caller to ignore as BEP 9 asks. The caller must still check
// TotalSize against the metadata_size of the peer's extension handshake.
func ParseMetadataMessage(b []byte, maxTotalSize int) (MetadataMessage, error) {
	if maxTotalSize <= 0 {
		maxTotalSize = MaxMetadataSize
	}
	if len(b) == 0 || b[0] != 'd' {
		return MetadataMessage{}, fmt.Errorf("%w: ut_metadata message does not start with a bencoded dictionary", ErrBadExtension)
	}
	w := metadataWire{MsgType: -1, Piece: -1, TotalSize: -1}
	rest, err := bencode.UnmarshalPrefix(b, &w)
	if err != nil {
		return MetadataMessage{}, fmt.Errorf("%w: ut_metadata: %w", ErrBadExtension, err)
	}
	if w.MsgType < 0 || w.MsgType > 1<<31-1 {
		return MetadataMessage{}, fmt.Errorf("%w: ut_metadata message without a valid msg_type", ErrBadExtension)
	}
	if w.Piece < 0 || w.Piece > 1<<31-1 {
		return MetadataMessage{}, fmt.Errorf("%w: ut_metadata message without a valid piece", ErrBadExtension)
	}
	m := MetadataMessage{Type: MetadataMessageType(w.MsgType), Piece: int(w.Piece)}
	switch m.Type {
	case MetadataData:
		if w.TotalSize <= 0 || w.TotalSize > int64(maxTotalSize) {
			return MetadataMessage{}, fmt.Errorf("%w: ut_metadata data message with total_size %d, want 1 to %d", ErrBadExtension, w.TotalSize, maxTotalSize)
		}
		m.TotalSize = int(w.TotalSize)
		m.Data = rest
	case MetadataRequest, MetadataReject:
	default:
		return m, nil
	}
	if err := m.check(maxTotalSize); err != nil {
		return MetadataMessage{}, err
	}
	return m, nil
}

// check validates m for encoding and after decoding.
func (m *MetadataMessage) check(maxTotalSize int) error {
	if m.Piece < 0 {
		return fmt.Errorf("%w: ut_metadata %v for piece %d", ErrBadExtension, m.Type, m.Piece)
	}
	switch m.Type {
	case MetadataData:
		if m.TotalSize <= 0 || m.TotalSize > maxTotalSize {
			return fmt.Errorf("%w: ut_metadata data with total_size %d, want 1 to %d", ErrBadExtension, m.TotalSize, maxTotalSize)
		}
		if n := MetadataPieceCount(m.TotalSize); m.Piece >= n {
			return fmt.Errorf("%w: ut_metadata data for piece %d of %d (total_size %d)", ErrBadExtension, m.Piece, n, m.TotalSize)
		}
		if want := MetadataPieceLen(m.Piece, m.TotalSize); len(m.Data) != want {
			return fmt.Errorf("%w: ut_metadata data for piece %d has %d bytes, want %d", ErrBadExtension, m.Piece, len(m.Data), want)
		}
	case MetadataRequest, MetadataReject:
		if n := MetadataPieceCount(maxTotalSize); m.Piece >= n {
			return fmt.Errorf("%w: ut_metadata %v for piece %d, more than a %d-byte info dictionary has", ErrBadExtension, m.Type, m.Piece, maxTotalSize)
		}
	}
	return nil
}
